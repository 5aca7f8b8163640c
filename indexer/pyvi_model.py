"""pyvi's word segmenter, loaded without leaving its model in the temp folder.

pyvi unpickles its CRF model (sklearn-crfsuite) when ``pyvi.ViTokenizer`` is
imported. sklearn-crfsuite's unpickling writes the ~640 KB model to a
``model*.crfsuite`` temp file for pycrfsuite to open, and deletes it only
when the Python object is garbage-collected at a clean exit. Whoosh's
indexing workers end with ``os._exit`` and a killed run never cleans up, so
every process that segmented text left one behind.

Here the model bytes are caught during that unpickling and handed to
pycrfsuite's ``Tagger.open_inmemory``: no file is ever written. If pyvi was
imported before (by other code, so the temp file exists), the tagger is
opened from the file and the file deleted at once; that is safe because
crfsuite reads the whole model into memory on open (it keeps no descriptor
or mapping of the file).
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_tokenizer: Any = None
# crfsuite may tag straight from the buffer given to open_inmemory, so the
# bytes must live as long as the tagger, i.e. as long as the process.
_model_bytes: list[bytes] = []


def tokenizer() -> Any:
    """pyvi's ``ViTokenizer`` class, with its CRF tagger already open."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                _tokenizer = _load()
    return _tokenizer


def _load() -> Any:
    from sklearn_crfsuite._fileresource import FileResource

    captured: list[bytes] = []
    original = FileResource.__setstate__

    def keep_in_memory(self: Any, state: dict[str, Any]) -> None:
        state = dict(state)
        data = state.pop("__FILE_RESOURCE_DATA__", None)
        self.__dict__.update(state)  # name stays None: no file behind it
        if data is not None:
            captured.append(data)

    FileResource.__setstate__ = keep_in_memory
    try:
        from pyvi import ViTokenizer
    finally:
        FileResource.__setstate__ = original
    model = ViTokenizer.ViTokenizer.model
    if captured:
        import pycrfsuite

        tagger = pycrfsuite.Tagger()
        tagger.open_inmemory(captured[0])
        _model_bytes.append(captured[0])
        model._tagger = tagger  # what sklearn-crfsuite's ``tagger_`` property returns
    else:  # pyvi was already imported: its model file exists
        if model.tagger_ is None:
            raise RuntimeError("pyvi's CRF model has no data")
        model.modelfile.cleanup()  # closes and deletes the temp file
    return ViTokenizer.ViTokenizer
