"""The Sphinx cluster layer on loopback, with real searchd processes (Debian's
sphinxsearch, which `make test` installs): 2 shards x 2 mirrors plus an
aggregator, started by `vnsearch cluster up` and stopped by their PIDs.

They check that an article lands on exactly the mirrors of its shard, that
Sphinx matches what our analyzer emits (unaccented queries, exact spellings,
compounds, TP.HCM, dates, phrases of adjacent words only), that a killed
mirror leaves results complete, that a shard without a live mirror gives a
partial result naming it (never an exception), and that a mirror that was
down catches up on the writes it missed."""

from __future__ import annotations

import json
import socket
import unicodedata

import pytest

from indexer.analysis import EXACT
from indexer.records import Article, article_from_dict
from search import cluster_nodes
from search.cluster import LAYOUT_FILE, ClusterError, Layout
from search.cluster_search import ClusterSearch, layout_from_url
from search.cluster_writes import ClusterWriter
from search.sphinx_documents import (
    GAP,
    article_row,
    decode_exact,
    encode_exact,
    label_token,
    placement,
    query_words,
)
from search.sphinxql import Connection, quote
from tests.cluster_helpers import cli, free_base_port, kill, restart, stop_all, up
from tests.helpers import DEMO, DEMO_ARTICLES

SHARDS, MIRRORS = 2, 2


def article(article_id: str, title: str, body: str, **extra: str) -> Article:
    return article_from_dict({"id": article_id, "title": title, "body": body, **extra})


# Articles written for the matching tests; each shows one thing the analyzer does.
CRAFTED = [
    article("t-adjacent", "Cán bộ trẻ về cơ sở", "Thành phố bố trí cán bộ trẻ về phường.",
            published="2022-01-18T08:00:00+07:00", category="Tin thử", author="Người Thử", source="demo"),
    article("t-apart", "Người trẻ và cán bộ", "Một người trẻ tuổi gặp cán bộ phường ở Hà Nội.",
            category="Tin thử"),
    article("t-city", "Giá nhà ở TP.HCM tăng", "Hội nghị ngày 18/1/2022 bàn về hoà bình.", category="Kinh tế"),
    article("t-joined", "TPHCM mở rộng đường", "Tin vắn.", category="Kinh tế"),
    article("t-gap", "Xin ǃ chào", "Một lời chào lạ.", category="Văn hóa"),
]


@pytest.fixture(scope="module")
def demo_articles() -> dict[str, Article]:
    articles = [article_from_dict(json.loads(line)) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    return {a.id: a for a in articles}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, demo_articles):
    """2 shards x 2 mirrors plus the aggregator, with the demo archive and CRAFTED."""
    layout = up(tmp_path_factory.mktemp("sphinx"), SHARDS, MIRRORS)
    try:
        report = ClusterWriter(layout).replace([*demo_articles.values(), *CRAFTED])
        assert report.complete, report.outcomes
        yield layout
    finally:
        stop_all(layout)


@pytest.fixture
def healthy(cluster):
    """The cluster, every node running again after the test."""
    yield cluster
    restart(cluster, *(node.name for node in cluster.nodes))
    assert ClusterWriter(cluster).catch_up() == {}


def fold_match(text: str, field: str = "content_fold", phrase: bool = False) -> str:
    words = " ".join(query_words(text))
    return f'@{field} "{words}"' if phrase else f"@{field} {words}"


def found_ids(layout: Layout, match: str) -> set[str]:
    result = ClusterSearch(layout).select(match, limit=200)
    assert not result.partial, result.warnings
    return {row["article_id"] for row in result.rows}


def mirror_ids(layout: Layout, name: str) -> set[str]:
    node = layout.node(name)
    with Connection(node.host, node.sql_port) as conn:
        rows = conn.select(f"SELECT article_id FROM {node.index} LIMIT 1000 OPTION max_matches=1000").rows
    return {row["article_id"] for row in rows}


ALL = DEMO_ARTICLES + len(CRAFTED)


# -- documents (no searchd) ------------------------------------------------------
def test_exact_spellings_become_one_ascii_word_and_back():
    assert encode_exact("đường") == "d9u7o72ng"
    assert encode_exact("nghiêng") == "nghie6ng"
    for word in ["đường", "hòa", "ủy", "100đ", "đ1", "ǃ", "straße", "москва", "北京", "ç"]:
        encoded = encode_exact(word)
        assert encoded.isascii() and all(c.isalnum() or c == "_" for c in encoded), encoded
        assert decode_exact(encoded) == word


def test_row_ids_and_shards_are_stable_63_bit_hashes():
    here = placement("demo-0001", 2)
    assert here == placement("demo-0001", 2)  # no per-process salt (Python's hash() has one)
    assert here.row_id == 6186182738638653796 and here.shard == 0  # pinned: moving it re-shards every archive
    assert 0 < here.row_id < 2 ** 63
    shards = [placement(f"a-{i}", 3).shard for i in range(300)]
    assert all(shards.count(s) > 60 for s in range(3))


def test_a_row_holds_our_tokens_in_one_field_per_kind():
    row = article_row(CRAFTED[2])
    assert row["title_fold"] == "gia nha o tp hcm tang"
    assert "tphcm" in row["title_special"].split()
    assert "18_01_2022" in row["content_special"].split()
    assert "ho2a" in row["content_exact"].split()  # hoà is written with the old tone placement, hòa
    assert row["article_id"] == "t-city" and row["category"] == "Kinh tế" and row["published"] == 0
    # author:/category:/source: inside OR and NOT match these words; every article holds _all_
    assert row["labels"].split() == ["_all_", label_token("category", "Kinh tế")]
    assert label_token("author", "Tú Viên") != label_token("author", "tú viên")  # exact, as in Whoosh
    # Whoosh's field lengths: 11 terms (6 folded, 4 exact spellings, tphcm), kept in one byte as 12
    assert row["len_title"] == 12 and row["len_lead"] == 0
    assert json.loads(row["doc"])["title"] == "Giá nhà ở TP.HCM tăng"
    dated = article_row(CRAFTED[0])
    assert (dated["year"], dated["month"]) == (2022, 202201) and dated["published"] == 1642467600
    assert "can_bo" in dated["content_compound"].split()
    gap = article_row(CRAFTED[4])
    assert gap["title_fold"] == f"xin {GAP} chao"  # ǃ has no folded form: its position stays empty


# -- the CLI -------------------------------------------------------------------
def test_cluster_up_status_down_through_the_cli(tmp_path):
    layout = up(tmp_path / "c", 1, 2)
    try:
        pids = {n.name: cluster_nodes.running_pid(layout, n) for n in layout.nodes}
        assert all(pids.values()) and len(set(pids.values())) == 3
        assert all(int(layout.path(n, ".pid").read_text()) == pids[n.name] for n in layout.nodes)
        layout_file = json.loads((tmp_path / "c" / "cluster.json").read_text())
        assert (layout_file["shards"], layout_file["mirrors"], layout_file["url"]) == (1, 2, layout.url)
        assert layout_from_url(layout.url, tmp_path / "c") == layout

        code, out, _ = cli("cluster", "status", "--dir", str(tmp_path / "c"))
        assert code == 0 and out.count(" up ") == 3, out
        code, again, _ = cli("cluster", "up", "--dir", str(tmp_path / "c"))  # idempotent: nothing restarted
        assert code == 0 and again.strip() == layout.url
        assert {n.name: cluster_nodes.running_pid(layout, n) for n in layout.nodes} == pids

        code, _, err = cli("cluster", "up", "--dir", str(tmp_path / "c"), "--shards", "3")
        assert code == 1 and "shards 1, not 3" in err

        kill(layout, "shard0-mirror0")
        code, out, _ = cli("cluster", "status", "--dir", str(tmp_path / "c"), "--json")
        status = json.loads(out)
        assert code == 0 and status["healthy"] and [n["up"] for n in status["nodes"]] == [False, True, True]
        kill(layout, "shard0-mirror1")
        code, out, _ = cli("cluster", "status", "--dir", str(tmp_path / "c"))
        assert code == 1 and "shard 0 has no live mirror" in out
    finally:
        code, out, _ = cli("cluster", "down", "--dir", str(tmp_path / "c"))
    assert code == 0 and "aggregator" in out
    assert not list((tmp_path / "c").glob("*.pid"))
    assert all(cluster_nodes.running_pid(layout, n) is None for n in layout.nodes)


def test_clear_errors_for_a_taken_port_and_a_missing_searchd(tmp_path, monkeypatch):
    base = free_base_port(4)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 2))
        taken.listen()
        code, _, err = cli("cluster", "up", "--dir", str(tmp_path / "p"), "--shards", "1", "--mirrors", "1",
                           "--port", str(base))
    assert code == 1 and f"port 127.0.0.1:{base + 2} for shard0-mirror0 is taken" in err
    assert not (tmp_path / "p").exists()  # nothing written, nothing started
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = cli("cluster", "up", "--dir", str(tmp_path / "p"), "--port", str(base))
    assert code == 1 and err.strip() == "vnsearch: searchd is not installed: run `make sphinx` " \
                                       "(or `apt-get install sphinxsearch`)"


# -- writes --------------------------------------------------------------------
def test_an_article_lands_on_exactly_the_mirrors_of_its_shard(cluster):
    held = {n.name: mirror_ids(cluster, n.name) for n in cluster.mirror_nodes}
    expected = {shard: {a for a in held["shard0-mirror0"] | held["shard1-mirror0"]
                        if placement(a, SHARDS).shard == shard} for shard in range(SHARDS)}
    assert sum(len(ids) for ids in expected.values()) == ALL
    for node in cluster.mirror_nodes:
        assert held[node.name] == expected[node.shard], node.name
    assert all(expected.values())  # both shards hold articles
    outcome = ClusterWriter(cluster).replace([CRAFTED[0]]).outcomes[0]
    shard = placement("t-adjacent", SHARDS).shard
    assert outcome.written == [f"shard{shard}-mirror0", f"shard{shard}-mirror1"] and outcome.complete


def test_a_row_id_collision_is_refused_not_overwritten(cluster):
    victim = article("t-victim", "Bài gốc", "Nội dung.")
    here = placement(victim.id, SHARDS)
    impostor = {**article_row(article("t-impostor", "Bài khác", "Nội dung khác.")), "id": here.row_id}
    for node in cluster.shard_mirrors(here.shard):
        with Connection(node.host, node.sql_port) as conn:
            conn.replace(node.index, [impostor])
    writer = ClusterWriter(cluster)
    outcome = writer.replace([victim]).outcomes[0]
    assert outcome.refused and "t-impostor" in outcome.refused and not outcome.written
    assert writer.delete(["t-victim"]).outcomes[0].found is False  # not deleted: the row is another article's
    assert "t-impostor" in mirror_ids(cluster, f"shard{here.shard}-mirror1")
    for node in cluster.shard_mirrors(here.shard):
        with Connection(node.host, node.sql_port) as conn:
            conn.delete(node.index, [here.row_id])


# -- matching ------------------------------------------------------------------
def test_unaccented_and_accented_queries_find_accented_text(cluster):
    assert "t-adjacent" in found_ids(cluster, fold_match("can bo tre"))
    assert found_ids(cluster, fold_match("can bo tre")) == found_ids(cluster, fold_match("cán bộ trẻ"))
    exact = " ".join(query_words("cán bộ trẻ", EXACT))
    assert exact == "ca1n bo65 tre3" and "t-adjacent" in found_ids(cluster, f"@content_exact {exact}")
    assert "t-adjacent" not in found_ids(cluster, f"@content_exact {' '.join(query_words('căn bố trễ', EXACT))}")
    spellings = [found_ids(cluster, f"@content_exact {query_words(spelling, EXACT)[0]}")
                 for spelling in ["hoà", "hòa", unicodedata.normalize("NFD", "hoà")]]  # tone placement, NFD
    assert "t-city" in spellings[0] and spellings[0] == spellings[1] == spellings[2]
    assert "demo-0001" in found_ids(cluster, "@content_compound can_bo")
    assert {"t-city", "demo-0001"} <= found_ids(cluster, "@content_special 18_01_2022")


def test_a_phrase_matches_only_adjacent_words(cluster):
    both = found_ids(cluster, fold_match("can bo tre"))
    assert {"t-adjacent", "t-apart"} <= both
    phrase = found_ids(cluster, fold_match("can bo tre", phrase=True))
    assert "t-adjacent" in phrase and "t-apart" not in phrase
    assert "t-gap" in found_ids(cluster, fold_match("xin chao"))
    assert "t-gap" not in found_ids(cluster, fold_match("xin chao", phrase=True))  # ǃ stands between them


def test_tp_hcm_spellings_meet(cluster):
    city = found_ids(cluster, "@(content_fold,content_special) tphcm")
    assert {"t-city", "t-joined", "demo-0001"} <= city
    assert {"t-city", "demo-0001"} <= found_ids(cluster, fold_match("tp hcm", phrase=True))


def test_filters_and_groups_on_attributes(cluster):
    search = ClusterSearch(cluster)
    result = search.select(fold_match("can bo"), where=[f"category = {quote('Tin thử')}"], limit=50)
    assert {row["article_id"] for row in result.rows} == {"t-adjacent", "t-apart"}
    years = search.select(None, columns="year, COUNT(*) AS n", group_by="year", order_by="year ASC", limit=50)
    assert not years.partial and sum(int(row["n"]) for row in years.rows) == ALL
    assert [row["year"] for row in years.rows] == sorted(row["year"] for row in years.rows)
    by_author = search.select(fold_match("can bo tre"), columns="author, COUNT(*) AS n", group_by="author")
    assert {"author": "Người Thử", "n": 1} in by_author.rows


# -- failures --------------------------------------------------------------------
def test_a_killed_mirror_leaves_results_complete(healthy):
    queries = [fold_match(q) for q in ["ha noi", "can bo", "thanh pho", "da nang", "kinh te"]]
    search = ClusterSearch(healthy)
    expected = {q: found_ids(healthy, q) for q in queries}
    kill(healthy, "shard0-mirror0")
    for _ in range(3):  # the aggregator learns which mirror is dead; each answer is complete before it has
        for q in queries:
            result = search.select(q, limit=200)
            assert not result.partial, result.warnings
            assert {row["article_id"] for row in result.rows} == expected[q]


def test_a_shard_without_live_mirror_gives_a_partial_result_naming_it(healthy):
    search = ClusterSearch(healthy)
    complete = search.select("@content_fold thanh pho", limit=200)
    kill(healthy, "shard1-mirror0")
    kill(healthy, "shard1-mirror1")
    result = search.select("@content_fold thanh pho", limit=200)
    assert result.partial and result.missing_shards == [1]
    assert result.rows and {placement(r["article_id"], SHARDS).shard for r in result.rows} == {0}
    assert result.total_found < complete.total_found
    assert any("agent" in w for w in result.warnings)
    kill(healthy, "shard0-mirror1")
    kill(healthy, "shard0-mirror0")
    nothing = search.select("@content_fold thanh pho", limit=200)  # searchd's error becomes a result
    assert nothing.partial and nothing.missing_shards == [0, 1] and nothing.rows == []


def id_in(shard: int, prefix: str) -> str:
    """The first ``prefix-N`` that the cluster routes to ``shard``."""
    return next(f"{prefix}-{i}" for i in range(100) if placement(f"{prefix}-{i}", SHARDS).shard == shard)


def title_on(layout: Layout, name: str, article_id: str) -> str | None:
    node = layout.node(name)
    with Connection(node.host, node.sql_port) as conn:
        rows = conn.select(f"SELECT title FROM {node.index} WHERE id = {placement(article_id, 1).row_id}").rows
    return rows[0]["title"] if rows else None


def test_a_restarted_mirror_catches_up_on_what_it_missed(healthy, demo_articles):
    shard, name, sibling = 0, "shard0-mirror1", "shard0-mirror0"
    writer = ClusterWriter(healthy)
    kept = article(id_in(shard, "t-kept"), "Trước sự cố", "Ghi trước khi máy chết.")
    assert writer.replace([kept]).complete
    kill(healthy, name)  # a crash: what it took before comes back from its binlog

    late = article(id_in(shard, "t-late"), "Bài viết muộn", "Viết khi một bản sao đang chết.")
    changed = article(kept.id, "Tiêu đề mới", "Nội dung mới.")
    report = writer.replace([late, changed])
    assert [(o.written, o.missed) for o in report.outcomes] == [([sibling], [name])] * 2
    gone = min(a for a in mirror_ids(healthy, sibling) if a.startswith("demo-"))
    deleted = writer.delete([gone]).outcomes[0]
    assert (deleted.found, deleted.written, deleted.missed) == (True, [sibling], [name])
    assert writer.pending() == {name: 2}  # one REPLACE and one DELETE, in order

    restart(healthy, name)
    assert title_on(healthy, name, kept.id) == "Trước sự cố"  # replayed by searchd from its binlog
    assert late.id not in mirror_ids(healthy, name)  # the journal is ours to replay
    code, out, _ = cli("cluster", "status", "--dir", str(healthy.directory))
    assert code == 0, out
    assert writer.pending() == {}
    assert mirror_ids(healthy, name) == mirror_ids(healthy, sibling)
    assert late.id in mirror_ids(healthy, name) and gone not in mirror_ids(healthy, name)
    assert title_on(healthy, name, kept.id) == "Tiêu đề mới"
    assert writer.replace([demo_articles[gone]]).complete and writer.delete([kept.id, late.id]).complete


def test_writes_to_a_shard_with_no_live_mirror_wait_in_the_journals(healthy):
    writer = ClusterWriter(healthy)
    queued = article(id_in(1, "t-queued"), "Xếp hàng", "Chờ bản sao.")
    mirrors = ["shard1-mirror0", "shard1-mirror1"]
    for name in mirrors:
        kill(healthy, name)
    outcome = writer.replace([queued]).outcomes[0]
    assert (outcome.written, outcome.missed, outcome.complete) == ([], mirrors, False)
    assert writer.catch_up() == {name: 1 for name in mirrors}  # still down: kept
    restart(healthy, *mirrors)
    following = article(id_in(1, "t-following"), "Bài sau", "Đến sau khi bản sao sống lại.")
    assert writer.replace([following]).complete  # the next write replays the journals first
    assert writer.pending() == {}
    assert all({queued.id, following.id} <= mirror_ids(healthy, name) for name in mirrors)
    assert writer.delete([queued.id, following.id]).complete


def test_a_cluster_of_another_layout_version_is_refused_with_what_to_do(tmp_path):
    """Version 1 clusters' RT indexes lack the event attribute; Sphinx cannot add one."""
    layout = Layout(tmp_path, 2, 1, free_base_port(7), "127.0.0.1")
    layout.save()
    assert Layout.load(tmp_path).shards == 2
    saved = json.loads((tmp_path / LAYOUT_FILE).read_text(encoding="utf-8"))
    (tmp_path / LAYOUT_FILE).write_text(json.dumps({**saved, "version": 1}), encoding="utf-8")
    with pytest.raises(ClusterError, match="layout version 1.*vnsearch cluster up --dir NEW"):
        Layout.load(tmp_path)
