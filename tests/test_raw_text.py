import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.sources.raw_text import parse_raw_article

SAMPLE = Path(__file__).resolve().parents[2] / "shared/samples/raw-article-000.txt"

TITLE = "Bí thư Nguyễn Văn Nên: Bố trí cán bộ trẻ về cơ sở để chuẩn bị nguồn cán bộ kế cận"
LEAD = (
    "Bí thư Thành ủy TP.HCM cho rằng, từng cấp ủy động viên kịp thời, khích lệ cán bộ "
    "dám nghĩ, dám làm, dám đột phá và tiếp tục quan tâm tạo nguồn cán bộ trẻ, cán bộ nữ."
)
CAPTION = "Bí thư Thành ủy TP.HCM Nguyễn Văn Nên phát biểu tại hội nghị-Ảnh: Việt Dũng"
KEYS = {"title", "lead", "author", "published", "body", "figures", "warnings"}


@pytest.fixture(scope="module")
def sample_text():
    if not SAMPLE.is_file():
        pytest.skip(f"sample not found: {SAMPLE}")
    return SAMPLE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sample(sample_text):
    return parse_raw_article(sample_text)


def test_sample_keys(sample):
    assert set(sample) == KEYS
    assert sample["warnings"] == []


def test_sample_title(sample):
    assert sample["title"] == TITLE


def test_sample_lead(sample):
    assert sample["lead"] == LEAD


def test_sample_author(sample):
    assert sample["author"] == "Tú Viên"


def test_sample_published(sample):
    assert sample["published"] == "2022-01-18T22:55:00+07:00"


def test_sample_body_bounds(sample):
    assert sample["body"].startswith("Ngày 18.1, Ban Tổ chức Thành ủy TP.HCM")
    assert sample["body"].endswith("“Danh dự là điều thiêng liêng, cao quý”, ông Nên nói.")
    # Lines 9-30 of the file hold 10 one-line paragraphs besides image + caption.
    assert len(sample["body"].split("\n\n")) == 10


@pytest.mark.parametrize(
    "unwanted",
    ["Bài liên quan", "Bình luận", "Đừng bỏ lỡ", "Mới nhất", "POWERED BY",
     "nen.jpeg", CAPTION, LEAD, TITLE, "Tú Viên", "Nổi bật"],
)
def test_sample_body_excludes(sample, unwanted):
    assert unwanted not in sample["body"]


def test_sample_captions_stay_with_their_images(sample):
    assert sample["figures"] == [{"image": "nen.jpeg", "caption": CAPTION}]


def test_an_image_without_a_caption_keeps_its_place():
    text = "Tiêu đề\n\nĐoạn một.\nmot.jpg\nhai.jpg\nChú thích ảnh hai\n\nĐoạn hai.\nba.png\n"
    assert parse_raw_article(text)["figures"] == [
        {"image": "mot.jpg", "caption": None}, {"image": "hai.jpg", "caption": "Chú thích ảnh hai"},
        {"image": "ba.png", "caption": None}]


def test_crlf_and_nfd_give_same_result(sample_text, sample):
    mangled = unicodedata.normalize("NFD", sample_text).replace("\n", "\r\n")
    assert mangled != sample_text
    assert parse_raw_article(mangled) == sample


def test_no_teaser_no_author():
    text = "Tiêu đề bài viết\n\nĐoạn một.\n\nĐoạn hai.\nanh.png\nChú thích ảnh\n"
    r = parse_raw_article(text)
    assert r["title"] == "Tiêu đề bài viết"
    assert r["lead"] is None and r["author"] is None and r["published"] is None
    assert r["body"] == "Đoạn một.\n\nĐoạn hai."
    assert r["figures"] == [{"image": "anh.png", "caption": "Chú thích ảnh"}]
    assert r["warnings"] == []


def test_teaser_without_author_line():
    # Same layout as the sample minus the byline: the repeated lead is clear.
    r = parse_raw_article("Sapo.\n\nTiêu đề\n\nSapo.\n\nThân bài.\n")
    assert (r["title"], r["lead"], r["body"]) == ("Tiêu đề", "Sapo.", "Thân bài.")


def test_author_line_without_teaser():
    r = parse_raw_article("Tiêu đề\nTú Viên | 18/01/2022, 22:55\nSapo.\nThân bài.\n")
    assert (r["title"], r["author"], r["lead"], r["body"]) == (
        "Tiêu đề", "Tú Viên", "Sapo.", "Thân bài.")


@pytest.mark.parametrize(
    "line, author, published",
    [
        ("Tú Viên | 18/01/2022, 22:55", "Tú Viên", "2022-01-18T22:55:00+07:00"),
        ("Tú Viên | 18/01/2022 22:55", "Tú Viên", "2022-01-18T22:55:00+07:00"),
        ("Tú Viên | 18-01-2022", "Tú Viên", "2022-01-18T00:00:00+07:00"),
        ("Tú Viên | 8/1/2022, 7:05", "Tú Viên", "2022-01-08T07:05:00+07:00"),
        ("18/01/2022, 22:55", None, "2022-01-18T22:55:00+07:00"),
        ("18-01-2022", None, "2022-01-18T00:00:00+07:00"),
    ],
)
def test_date_formats(line, author, published):
    r = parse_raw_article(f"Tiêu đề\n{line}\nSapo.\nThân bài.\n")
    assert (r["author"], r["published"], r["warnings"]) == (author, published, [])
    assert r["title"] == "Tiêu đề"
    assert line not in r["body"] and line != r["lead"]


def test_invalid_date_warns():
    r = parse_raw_article("Tiêu đề\n\nTú Viên | 32/13/2022, 22:55\n\nSapo.\n\nThân bài.\n")
    assert r["published"] is None
    assert r["author"] == "Tú Viên"
    assert len(r["warnings"]) == 1 and "32/13/2022" in r["warnings"][0]
    assert "32/13/2022" not in r["body"]
    assert r["body"] == "Thân bài."


def test_empty_string():
    r = parse_raw_article("")
    assert r == {"title": "", "lead": None, "author": None, "published": None,
                 "body": "", "figures": [], "warnings": []}


def test_only_title():
    r = parse_raw_article("  Chỉ có tiêu đề \r\n\r\n")
    assert (r["title"], r["lead"], r["body"]) == ("Chỉ có tiêu đề", None, "")


def test_chrome_without_body_and_title_echo_without_chrome():
    r = parse_raw_article("Tiêu đề\n\nThân bài.\n\n(12) Bình luận\nMới nhất\nTiêu đề")
    assert (r["title"], r["body"]) == ("Tiêu đề", "Thân bài.")
    r = parse_raw_article("Tiêu đề\n\nĐoạn 1.\n\nĐoạn 2.\n\nTiêu đề\n")
    assert (r["title"], r["body"]) == ("Tiêu đề", "Đoạn 1.\n\nĐoạn 2.")


# Lines shaped like the real thing, so the property test reaches every branch
# (bylines, images, captions, chrome) and not only random noise.
_LINES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "Bài liên quan", "(3) Bình luận", "nen.jpeg", "a/b.PNG?x=1",
                     "Tú Viên | 18/01/2022, 22:55", "X | 32/13/2022", "31-02-2022",
                     "|", "Tiêu đề", "Sapo.", "POWERED BY X", "\ufeff", "\u00a0"]),
)


def _check(r):
    assert set(r) == KEYS
    assert isinstance(r["title"], str) and isinstance(r["body"], str)
    assert all(isinstance(x, str) for x in r["warnings"])
    assert all(isinstance(f["image"], str) and (f["caption"] is None or isinstance(f["caption"], str))
               for f in r["figures"])
    assert not any(w.startswith("internal parser error") for w in r["warnings"])


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_arbitrary_text(text):
    _check(parse_raw_article(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINES, max_size=12), st.sampled_from(["\n", "\r\n", "\r"]))
def test_never_raises_on_article_like_text(lines, newline):
    _check(parse_raw_article(newline.join(lines)))
