"""search/masked.py: the branch-free forms give exactly what the plain numpy
expressions they replace give."""

import numpy as np
import pytest

from search.masked import masked_max, masked_min, select


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1001, 50_000])
def test_masked_reductions_and_select_match_numpy(size):
    rng = np.random.default_rng(size)
    values = (rng.random(size, dtype=np.float32) * 1000).astype(np.float32)
    values[::5] = 0.0  # scores of 0 (a match with nothing scored) are values too
    other = rng.random(size, dtype=np.float32)
    for density in (0.01, 0.5, 0.99, 1.0):
        mask = rng.random(size) < density
        mask[rng.integers(size)] = True
        assert masked_max(values, mask) == float(values[mask].max())
        assert masked_min(values, mask) == float(values[mask].min())
        chosen = select(mask, values, other)
        assert chosen.dtype == np.float32
        assert np.array_equal(chosen.view(np.uint32), np.where(mask, values, other).view(np.uint32))


def test_select_leaves_its_inputs_alone():
    mask = np.array([True, False, True])
    chosen = np.array([1.5, 2.5, 3.5], dtype=np.float32)
    other = np.array([9.0, 8.0, 7.0], dtype=np.float32)
    assert select(mask, chosen, other).tolist() == [1.5, 8.0, 3.5]
    assert chosen.tolist() == [1.5, 2.5, 3.5] and other.tolist() == [9.0, 8.0, 7.0]
