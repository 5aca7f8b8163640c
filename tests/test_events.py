"""Same-event grouping (search/events.py): spelling does not matter, topic
words alone do not group, dates split, groups follow the rank, and a slice
of the VietnameseMDS clusters is grouped with high precision."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from indexer import signatures, store
from indexer.documents import document_fields
from indexer.ingest import ingest, optimize
from indexer.records import article_from_dict
from indexer.schema import build_schema
from indexer.textnorm import fold
from search import events
from search.engine import Engine
from tests.helpers import ROOT, shared_path, write_jsonl

# One fire reported by two outlets, and a follow-up the same afternoon...
FIRE = {
    "id": "fire", "published": "2013-03-12T06:30:00+07:00",
    "title": "Cháy lớn tại chợ trung tâm Quảng Ngãi, hàng trăm ki-ốt bị thiêu rụi",
    "lead": "Rạng sáng 12/3, một vụ hỏa hoạn lớn bùng phát tại chợ trung tâm thành phố Quảng Ngãi khiến hàng "
            "trăm ki-ốt bị thiêu rụi, thiệt hại ước tính hàng chục tỷ đồng.",
    "body": "Theo thông tin ban đầu, ngọn lửa bốc lên từ khu vực bán quần áo ở tầng một của chợ vào khoảng 3 giờ "
            "sáng. Lực lượng cảnh sát phòng cháy chữa cháy tỉnh Quảng Ngãi đã điều động 15 xe chữa cháy cùng hơn "
            "100 cán bộ, chiến sĩ đến hiện trường. Đến 7 giờ sáng cùng ngày, đám cháy cơ bản được khống chế. Vụ "
            "cháy không gây thiệt hại về người. Ông Nguyễn Văn Thủy, Phó chủ tịch UBND thành phố, cho biết chính "
            "quyền sẽ hỗ trợ các tiểu thương ổn định việc kinh doanh. Nguyên nhân vụ cháy đang được cơ quan chức "
            "năng điều tra làm rõ.",
}
FIRE_REWRITE = {
    "id": "fire-rewrite", "published": "2013-03-12T09:10:00+07:00",
    "title": "Quảng Ngãi: Cháy chợ trung tâm, hàng trăm ki-ốt bị thiêu rụi",
    "lead": "Khoảng 3 giờ sáng 12/3, chợ trung tâm thành phố Quảng Ngãi bất ngờ bốc cháy dữ dội, hàng trăm ki-ốt "
            "của tiểu thương bị thiêu rụi.",
    "body": "Ngọn lửa xuất phát từ khu vực bán quần áo rồi nhanh chóng lan ra toàn bộ tầng một của chợ. Cảnh sát "
            "phòng cháy chữa cháy tỉnh Quảng Ngãi đã huy động 15 xe chữa cháy đến hiện trường dập lửa. Đến sáng "
            "cùng ngày, đám cháy mới được khống chế, không có thiệt hại về người. Nhiều tiểu thương không kịp di "
            "chuyển hàng hóa.",
}
FIRE_FOLLOW_UP = {
    "id": "fire-follow-up", "published": "2013-03-12T15:00:00+07:00",
    "title": "Cháy chợ trung tâm Quảng Ngãi: hàng trăm tiểu thương trắng tay",
    "lead": "Sau vụ cháy lớn rạng sáng 12/3 tại chợ trung tâm thành phố Quảng Ngãi, hàng trăm tiểu thương mất toàn "
            "bộ hàng hóa.",
    "body": "Nhiều tiểu thương ngồi khóc bên những ki-ốt đã bị thiêu rụi. Bà Lê Thị Hoa, bán quần áo ở tầng một, "
            "cho biết toàn bộ số hàng trị giá hơn 500 triệu đồng chuẩn bị cho dịp cuối năm đã bị lửa thiêu rụi. "
            "UBND tỉnh Quảng Ngãi đã chỉ đạo các sở ngành khẩn trương thống kê thiệt hại và bố trí khu vực kinh "
            "doanh tạm cho tiểu thương.",
}
# ...and another event of the same city and day, told with many of the same words
# (chợ, thành phố Quảng Ngãi, 12/3, UBND, tiểu thương, hàng, giờ).
NIGHT_MARKET = {
    "id": "night-market", "published": "2013-03-12T10:00:00+07:00",
    "title": "Khai trương chợ đêm đầu tiên của thành phố Quảng Ngãi",
    "lead": "Tối 12/3, UBND thành phố Quảng Ngãi tổ chức lễ khai trương chợ đêm trên đường Phan Đình Phùng với "
            "hơn 200 gian hàng lưu niệm và ẩm thực.",
    "body": "Theo ban quản lý, chợ đêm mở cửa từ 18 giờ đến 23 giờ hằng ngày, dành cho người dân và du khách. Các "
            "gian hàng được miễn phí thuê trong sáu tháng đầu để thu hút tiểu thương. Bà Trần Thị Lan, một người "
            "bán hàng, cho biết bà kỳ vọng chợ đêm sẽ giúp tăng thu nhập cho gia đình. Thành phố cũng bố trí lực "
            "lượng bảo vệ và bãi giữ xe miễn phí cho khách tham quan.",
}
TEXT_FIELDS = ("title", "lead", "body")
MDS_CLUSTERS = range(1, 31)  # the first 30 clusters: 91 articles


def rewritten(article: dict, how, **changes) -> dict:
    """A copy of ``article`` with ``how`` applied to its text fields."""
    return {**article, **{name: how(article[name]) for name in TEXT_FIELDS}, **changes}


def new_tone_style(text: str) -> str:
    return text.replace("hỏa", "hoả").replace("Thủy", "Thuỷ").replace("hóa", "hoá")


def unaccented(text: str) -> str:
    return re.sub(r"[^\W_]+", lambda m: fold(m.group()), text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def similarity(a: dict, b: dict) -> float:
    return float(events.similarities(events.stack([signatures.signature(a), signatures.signature(b)]))[0, 1])


def on_day(article: dict, published: str | None) -> dict:
    return {**article, "published": published}


# -- spelling -------------------------------------------------------------------------
@pytest.mark.parametrize("how", [nfd, new_tone_style, unaccented, lambda t: nfd(new_tone_style(t))],
                         ids=["NFD", "new tone placement", "no accents", "NFD and new tone placement"])
def test_spelling_does_not_change_the_signature(how):
    variant = rewritten(FIRE, how, id="variant")
    assert any(variant[name] != FIRE[name] for name in TEXT_FIELDS)
    assert signatures.signature(variant) == signatures.signature(FIRE)
    assert events.group([FIRE, NIGHT_MARKET, variant]) == [["fire", "variant"], ["night-market"]]


def test_the_signature_is_the_same_in_another_process():
    """Signatures are stored: Python's per-process string hash must not leak into them."""
    code = ("import json, sys; from indexer import signatures; "
            "print(signatures.signature(json.loads(sys.stdin.read())).hex())")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(FIRE), capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert out.stdout.strip() == signatures.signature(FIRE).hex()


def test_a_signature_is_256_bytes_of_minhash():
    signature = signatures.signature(FIRE)
    assert len(signature) == signatures.SIGNATURE_BINS == 256
    assert 0 < signature.count(0) < 128  # a few empty bins (0), most filled


# -- what groups ---------------------------------------------------------------------
def test_reports_of_one_event_group_and_an_event_with_the_same_words_does_not():
    assert similarity(FIRE, FIRE_REWRITE) > 2 * events.THRESHOLD
    assert similarity(FIRE, NIGHT_MARKET) < 0.7 * events.THRESHOLD
    assert similarity(FIRE_FOLLOW_UP, NIGHT_MARKET) < 0.7 * events.THRESHOLD
    groups = events.group([FIRE, NIGHT_MARKET, FIRE_REWRITE, FIRE_FOLLOW_UP])
    assert groups == [["fire", "fire-rewrite", "fire-follow-up"], ["night-market"]]


def test_groups_follow_the_rank_order():
    other = {"id": "other", "published": FIRE["published"], "title": "Giá vàng tăng mạnh trở lại",
             "lead": "", "body": "Tại New York sáng nay, các hợp đồng giao vàng đã được ký với mức 422,5 USD/ounce."}
    ranked = [NIGHT_MARKET, FIRE_REWRITE, other, FIRE, FIRE_FOLLOW_UP]
    assert events.group(ranked) == [["night-market"], ["fire-rewrite", "fire", "fire-follow-up"], ["other"]]
    assert events.group(ranked[::-1]) == [["fire-follow-up", "fire", "fire-rewrite"], ["other"], ["night-market"]]


def test_dates_further_apart_than_the_window_split_even_copies():
    """DATE_WINDOW_DAYS is 3: same-event reports come within days (95% of
    the MDS clusters span at most 2); a story much like an earlier one
    weeks later is another event (the next storm, the next price rise)."""
    assert events.DATE_WINDOW_DAYS == 3
    copy = {**FIRE, "id": "copy"}
    for published, together in (("2013-03-14T06:00:00+07:00", True), ("2013-03-15T08:00:00+07:00", False),
                                ("2013-04-12", False), ("2013-03-09T06:00:00+07:00", False)):
        groups = events.group([FIRE, on_day(copy, published)])
        assert (groups == [["fire", "copy"]]) is together, published


def test_dates_are_read_as_the_indexer_reads_them():
    """Stored ISO strings or datetimes; without an offset, Vietnam time;
    missing or unreadable: no date."""
    days = events.day_numbers(["2013-03-12T07:00:00+07:00", datetime(2013, 3, 12, 7),
                               datetime(2013, 3, 12, 0, tzinfo=UTC), "2013-03-12", None, "12/3/2013"])
    assert days[0] == days[1] == days[2] == pytest.approx(days[3] + 7 / 24)
    assert np.isnan(days[4]) and np.isnan(days[5])


def test_a_group_never_spans_more_than_the_window():
    """Each day is within the window of the previous one, not of the first:
    the average would allow a chain, the window does not."""
    days = ["2013-03-12", "2013-03-14", "2013-03-16", "2013-03-18"]
    chain = [on_day({**FIRE, "id": day}, day) for day in days]
    assert events.group(chain) == [["2013-03-12", "2013-03-14"], ["2013-03-16", "2013-03-18"]]


def test_without_a_date_only_rewrites_of_one_text_group():
    """No date, no date bonus: a follow-up that groups on the same day does
    not group when either date is missing; a copy still does."""
    assert events.THRESHOLD <= similarity(FIRE, FIRE_FOLLOW_UP) < events.UNDATED_THRESHOLD
    assert events.group([FIRE, FIRE_FOLLOW_UP]) == [["fire", "fire-follow-up"]]
    assert events.group([on_day(FIRE, None), FIRE_FOLLOW_UP]) == [["fire"], ["fire-follow-up"]]
    copy = rewritten(FIRE, unaccented, id="copy", published=None)
    assert events.group([FIRE, copy]) == [["fire", "copy"]]


def test_an_article_joins_the_group_it_resembles_on_average():
    """A~B and B~C at 0.2 but A, C unrelated: C's mean to {A, B} is 0.1, so
    no chain puts A and C together; D resembles both A and B, and joins."""
    score = np.array([[0.0, 0.2, 0.0, 0.3],
                      [0.2, 0.0, 0.2, 0.2],
                      [0.0, 0.2, 0.0, 0.0],
                      [0.3, 0.2, 0.0, 0.0]])
    assert events.link(score, 0.14) == [[0, 1, 3], [2]]


def test_too_little_text_or_no_signature_is_never_grouped():
    headline = {"id": "a", "published": FIRE["published"], "title": "Video", "lead": None, "body": ""}
    assert events.group([headline, {**headline, "id": "b"}]) == [["a"], ["b"]]
    assert events.group([{**headline, "title": ""}, {**headline, "id": "b", "title": ""}]) == [["a"], ["b"]]
    stored = [signatures.signature(FIRE), None, signatures.signature(FIRE), b"short"]
    ids = [{"id": name, "published": FIRE["published"]} for name in "wxyz"]
    assert events.group(ids, stored) == [["w", "y"], ["x"], ["z"]]
    assert events.group([]) == []


# -- the estimate ----------------------------------------------------------------
@pytest.mark.parametrize("shared, each", [(150, 75), (40, 180), (0, 250)])
def test_similarity_estimates_the_jaccard_similarity(shared, each):
    """Sets of 64-bit hashes with a known overlap: the estimate is within
    three standard deviations of MinHash over the bins filled in either
    (about 0.04 at J 0.5), plus the chance agreements of one-byte values."""
    rng = np.random.default_rng(shared)
    hashes = rng.integers(0, 2**63, shared + 2 * each, dtype=np.uint64)
    first, second = hashes[:shared + each], np.concatenate([hashes[:shared], hashes[shared + each:]])
    jaccard = shared / (shared + 2 * each)
    pair = np.stack([signatures.signature_of_features(first), signatures.signature_of_features(second)])
    estimate = events.similarities(pair)
    assert estimate[0, 1] == estimate[1, 0] and estimate[0, 0] == 0
    filled = signatures.SIGNATURE_BINS * (1 - np.exp(-(shared + 2 * each) / signatures.SIGNATURE_BINS))
    assert abs(estimate[0, 1] - jaccard) < 3 * np.sqrt(jaccard * (1 - jaccard) / filled) + 0.02


# -- MDS -------------------------------------------------------------------------------
def test_a_slice_of_mds_is_grouped_with_high_precision():
    """30 hand-made clusters (91 dated articles) in one candidate set: B-cubed
    precision at least 0.9, and recall well above leaving every article alone
    (0.33)."""
    clusters = json.loads(shared_path("corpus/mds-clusters.json").read_text(encoding="utf-8"))
    cluster_of = {doc: number for number in map(str, MDS_CLUSTERS) for doc in clusters[number]["doc_ids"]}
    lines = shared_path("corpus/mds.jsonl").read_text(encoding="utf-8").splitlines()
    articles = [record for record in map(json.loads, lines) if record["id"] in cluster_of]
    groups = events.group(articles)
    precision = recall = 0.0
    for members in groups:
        for doc in members:
            right = sum(cluster_of[other] == cluster_of[doc] for other in members)
            precision += right / len(members)
            recall += right / len(clusters[cluster_of[doc]]["doc_ids"])
    assert len(articles) == 91
    assert precision / len(articles) >= 0.9
    assert recall / len(articles) >= 0.6


# -- signatures kept by the index ------------------------------------------------------
def _mds(count: int) -> list[dict]:
    lines = shared_path("corpus/mds.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:count]]


def _stored_signatures_match(index: Path) -> int:
    """Every live article's stored signature is the one its text gives; how many were checked."""
    engine = Engine(index)
    view = engine._state().view
    docs = np.flatnonzero(view.live).tolist()
    stored = view.event_signatures(docs)
    for row, docnum in zip(stored, docs, strict=True):
        assert row.tobytes() == signatures.signature(view.stored(docnum))
    return len(docs)


def test_signatures_are_stored_at_index_time_and_survive_merges(tmp_path):
    records = _mds(260)  # past PARALLEL_MIN_DOCS: written by Whoosh's worker processes, in two segments
    index = tmp_path / "ix"
    ingest([write_jsonl(tmp_path / "a.jsonl", records)], index, procs=2, show_progress=False)
    assert len(store.open_index(index)._segments()) == 2
    assert _stored_signatures_match(index) == 260
    assert not list(index.rglob("event.bin"))  # kept once, in Whoosh's column: no copy beside the arrays
    # the parallel write's own main segment stayed empty: its arrays went with the commit
    live = {segment.segment_id() for segment in store.open_index(index)._segments()}
    assert {p.name for p in (index / "arrays").iterdir()} == live
    optimize(index)  # one segment: the signatures come through Whoosh's merge
    assert len(store.open_index(index)._segments()) == 1
    assert _stored_signatures_match(index) == 260


def test_an_index_made_before_signatures_gets_them_for_new_articles(tmp_path):
    index = tmp_path / "old"
    index.mkdir()
    schema = build_schema()
    schema.remove("event")
    ix = store._storage(index).create().create_index(schema)  # as an earlier version made it
    old, new = _mds(12), _mds(24)[12:]
    with store.writing(ix, index) as writer:
        for record in old:
            fields = document_fields(article_from_dict(record))
            del fields["event"]
            writer.add_document(**fields)
    ingest([write_jsonl(tmp_path / "new.jsonl", new)], index, show_progress=False)
    assert "event" in store.open_index(index).schema
    engine = Engine(index)  # holds the searcher the view reads through
    view = engine._state().view
    by_id = {view.stored(d)["id"]: d for d in np.flatnonzero(view.live).tolist()}
    stored = view.event_signatures([by_id[r["id"]] for r in old + new])
    assert not stored[:12].any()  # no signature: never grouped, until indexed again
    assert [row.tobytes() for row in stored[12:]] == [signatures.signature(r) for r in new]
