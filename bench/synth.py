"""A deterministic synthetic news archive built from real VNTC text.

    .venv/bin/python bench/synth.py OUT.jsonl --n 40000 [--seed 1]

Every article is made of real material, so the word statistics stay
Vietnamese and Zipfian at any size: a real headline (sampled from the VNTC
titles; from the second use of a headline on it gets a " (kỳ 2)"-style
suffix so headlines stay distinct), 8-30 real sentences sampled from the VNTC
bodies, a date uniform over 2000-2026 (ISO 8601, +07:00), one of ~300
generated Vietnamese author names, the VNTC category of the headline's
article and one of a dozen news sites. Ids are unique (``synth-s1-0000042``).

The articles are written one at a time (only the sentence pool, about
0.1 GB, is held in memory). ``ensure_archive`` reuses a finished file of the
same N and seed: the file is written under a temporary name and renamed
when complete, so a file with the final name is always whole.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CORPUS_FILES = (CORPUS / "vntc-train.jsonl.gz", CORPUS / "vntc-test-6k.jsonl.gz")
VERSION = 1  # bump when the output for a given (N, seed) changes

SENTENCES_PER_ARTICLE = (8, 30)
VIETNAM = timezone(timedelta(hours=7))
FIRST_DAY = datetime(2000, 1, 1, tzinfo=VIETNAM)
LAST_DAY = datetime(2027, 1, 1, tzinfo=VIETNAM)  # exclusive: dates fall in 2000-2026
AUTHOR_COUNT = 300

SOURCES = ("VnExpress", "Tuổi Trẻ", "Thanh Niên", "Người Lao Động", "Dân Trí", "VietNamNet",
           "Lao Động", "Tiền Phong", "Sài Gòn Giải Phóng", "Nhân Dân", "Pháp Luật TP.HCM",
           "Znews")
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
            "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trương", "Lâm", "Mai")
MIDDLE_NAMES = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quốc", "Thu", "Hoàng",
                "Kim", "Xuân", "Anh", "Bảo", "Đình", "Thúy")
GIVEN_NAMES = ("An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hòa",
               "Hùng", "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Nhung",
               "Phong", "Phúc", "Phương", "Quân", "Quỳnh", "Sơn", "Tâm", "Thảo", "Thủy",
               "Trang", "Trung", "Tuấn", "Tú", "Uyên", "Việt", "Vy", "Yến", "Khoa", "Đạt", "Ngân")

# A sentence ends at . ! or ? followed by whitespace (VNTC bodies also glue
# sentences together as "...AIDS.Dự án"; those stay one sentence).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_MIN_SENTENCE_CHARS = 20
_MAX_SENTENCE_CHARS = 1000


def author_names(seed: int, count: int = AUTHOR_COUNT) -> list[str]:
    """``count`` distinct, plausible Vietnamese names, the same for a seed."""
    rng = random.Random(f"authors-{seed}")
    names: dict[str, None] = {}
    while len(names) < count:
        names[f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE_NAMES)} {rng.choice(GIVEN_NAMES)}"] = None
    return list(names)


def _records(paths=CORPUS_FILES):
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text or "")
            if _MIN_SENTENCE_CHARS <= len(s.strip()) <= _MAX_SENTENCE_CHARS]


@dataclass
class Material:
    """What articles are sampled from. Sentences are kept as UTF-8 bytes
    (half the memory of Vietnamese ``str``)."""
    sentences: list[bytes]
    titles: list[tuple[str, str]]  # (title, category), distinct titles
    categories: list[str]


def load_material(paths=CORPUS_FILES) -> Material:
    sentences: list[bytes] = []
    titles: dict[str, str] = {}
    categories: set[str] = set()
    for record in _records(paths):
        category = record.get("category") or ""
        if category:
            categories.add(category)
        title = " ".join((record.get("title") or "").split())
        if title and category:
            titles.setdefault(title, category)
        sentences.extend(s.encode() for s in split_sentences(record.get("body")))
    return Material(sentences, sorted(titles.items()), sorted(categories))


def articles(n: int, seed: int, material: Material):
    """Yield ``n`` article dicts, deterministically for (n, seed)."""
    rng = random.Random(seed)
    authors = author_names(seed)
    span = int((LAST_DAY - FIRST_DAY).total_seconds())
    order = list(range(len(material.titles)))
    rng.shuffle(order)
    pool = material.sentences
    for i in range(n):
        round_, slot = divmod(i, len(order))
        title, category = material.titles[order[slot]]
        if round_:
            title = f"{title} (kỳ {round_ + 1})"
        count = rng.randint(*SENTENCES_PER_ARTICLE)
        body = b" ".join(pool[rng.randrange(len(pool))] for _ in range(count)).decode()
        published = FIRST_DAY + timedelta(seconds=rng.randrange(span))
        source = rng.choice(SOURCES)
        article_id = f"synth-s{seed}-{i:07d}"
        yield {"id": article_id, "title": title, "lead": None, "body": body,
               "author": rng.choice(authors), "category": category, "source": source,
               "published": published.isoformat(),
               "url": f"https://example.vn/{article_id}.html"}


def archive_path(directory: Path, n: int, seed: int) -> Path:
    return Path(directory) / f"synth-v{VERSION}-n{n}-s{seed}.jsonl"


def write_archive(path: Path, n: int, seed: int, material: Material | None = None) -> None:
    material = material or load_material()
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "w", encoding="utf-8") as out:
            for article in articles(n, seed, material):
                out.write(json.dumps(article, ensure_ascii=False) + "\n")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def ensure_archive(directory: Path, n: int, seed: int) -> tuple[Path, bool]:
    """The archive of (n, seed) in ``directory``: (path, True if written now)."""
    path = archive_path(directory, n, seed)
    if path.exists():
        return path, False
    write_archive(path, n, seed)
    return path, True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--n", type=int, default=40000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    write_archive(Path(args.out), args.n, args.seed)


if __name__ == "__main__":
    main()
