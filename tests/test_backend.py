"""The Sphinx backend against the Whoosh engine: one corpus slice indexed
into both (the demo archive, MDS articles and a few written to show the
analyzer's cases), a 2 x 2 cluster plus an aggregator on loopback started
and stopped by its PIDs (`vnsearch cluster up`, tests/cluster_helpers.py).

Reading these tests is reading what "the same on both backends" means:
the same matches and totals for every kind of query, the same facets, the
same scores (up to the order of equal scores, which is the index's order
on Whoosh and Sphinx's on the cluster), the same snippets and marks, and
did-you-mean, related articles, the JSON API, the HTML page and the CLI
working alike. Then what only a cluster can do: lose a shard, and say so
(``partial``), never a 500; and a cluster that does not answer at all is a
503 with a JSON error code.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from indexer.ingest import ingest
from indexer.signatures import signature
from indexer.textnorm import fold
from search import events, grouping
from search.backend import BackendUnavailable
from search.backends import open_backend
from search.cluster import Layout
from search.cluster_writes import ClusterWriter
from search.engine import Engine
from search.request import SearchRequest
from search.result import SearchResult
from search.sphinx_backend import SphinxBackend
from search.sphinx_documents import placement
from tests.cluster_helpers import cli, indexed, kill, restart
from tests.helpers import DEMO, shared_path, write_jsonl
from tests.web_helpers import TOKEN, assert_error, auth, check_response, make_app

MDS_ARTICLES = 250

# Each shows one thing the analyzer does, so that both backends must agree on it.
CRAFTED = [
    {"id": "c-city-dot", "title": "Giá nhà ở TP.HCM tăng mạnh", "body": "Thị trường nhà ở TP.HCM sôi động.",
     "published": "2023-03-01T08:00:00+07:00", "category": "Kinh tế", "author": "Tú Viên", "source": "demo"},
    {"id": "c-city-joined", "title": "TPHCM mở rộng đường vành đai", "body": "Dự án đường vành đai ở TPHCM.",
     "published": "2023-03-02T08:00:00+07:00", "category": "Kinh tế", "author": "tú viên", "source": "demo"},
    {"id": "c-city-space", "title": "TP HCM có thêm công viên", "body": "Công viên mới ở TP HCM mở cửa.",
     "published": "2023-03-03T08:00:00+07:00", "category": "Đô thị", "source": "demo"},
    {"id": "c-nfd", "title": unicodedata.normalize("NFD", "Hoà bình và thuỷ lợi ở Đồng Tháp"),
     "body": unicodedata.normalize("NFD", "Kĩ sư thuỷ lợi bàn về hoà bình."),
     "published": "2022-01-18T09:00:00+07:00", "category": "Nông nghiệp"},
    {"id": "c-date", "title": "Hội nghị ngày 18/1/2022", "body": "Hội nghị khai mạc ngày 18-01-2022 tại Đà Nẵng.",
     "published": "2022-01-19T09:00:00+07:00", "category": "Thời sự"},
    {"id": "c-road", "title": "Đường về quê", "body": "Con đường làng. Dương liễu bên đường.",
     "lead": "Một bài tản văn về đường làng.", "captions": ["Đường làng mùa lúa chín"]},
    {"id": "c-sea", "title": "Dương cầm trên biển", "body": "Tiếng dương cầm vang trên biển.",
     "published": "2021-06-01T09:00:00+07:00", "category": "Văn hóa", "author": "Lê Hoàng"},
]

# Queries of every kind the query language has, with filters, sorts and pages.
CASES: list[dict] = [
    {"q": "can bo tre"}, {"q": "cán bộ trẻ"}, {"q": '"cán bộ trẻ"'}, {"q": "bieu tinh campuchia"},
    {"q": "biểu tình -campuchia"}, {"q": "bong da OR bóng chuyền"}, {"q": "(hà nội OR đà nẵng) AND kinh tế"},
    {"q": "NOT campuchia"}, {"q": "title:dương"}, {"q": 'title:"vành đai"'}, {"q": "author:vien"},
    {"q": 'category:"kinh tế" nhà'}, {"q": "source:vov"}, {"q": "TP.HCM"}, {"q": "tphcm"}, {"q": "tp hcm"},
    {"q": '"ở tp hcm"'}, {"q": "hòa bình"}, {"q": "hoà bình"}, {"q": unicodedata.normalize("NFD", "thủy lợi")},
    {"q": "kỹ sư"}, {"q": "đường"}, {"q": "duong"}, {"q": "18/1/2022"},
    {"q": "người ủng hộ đảng đối lập biểu tình ở thủ đô"},  # long: relaxed when nothing has every word
    {"q": "phe doi lap campuchia bieu tinh ha noi bong da"},
    {"q": "Hủy thêm hàng loạt chuyến bay do siêu bão Hải Yến"},  # a headline: most words blend with all
    {"q": "huy them hang loat chuyen bay do sieu bao", "sort": "newest"},
    {"q": "mau thuan gia tang giua my va cac dong minh"},  # planned with the headline's accents
    {"q": "người dân mua thực phẩm dự trữ", "category": "XaHoi"},  # the phrase tier, after a filter
    {"q": "chính phủ", "sort": "newest"}, {"q": "chính phủ", "sort": "oldest"},
    {"q": "chính phủ", "page": "2", "size": "5"}, {"q": "", "sort": "relevance"}, {"q": "", "sort": "oldest"},
    {"q": "chính phủ", "category": "TheGioi"}, {"q": "", "category": ["Kinh tế", "Đô thị"]},
    {"q": "viên", "author": "Tú Viên"}, {"q": "thành phố", "from": "2013-01-01", "to": "31/12/2014"},
    {"q": "", "source": "vov.vn", "sort": "newest"},
]


def request(params: dict) -> SearchRequest:
    lists = {k: (v if isinstance(v, list) else [v]) for k, v in params.items()}
    return SearchRequest.from_params(params.get, lambda k: lists.get(k, []))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    mds = shared_path("corpus/mds.jsonl").read_text(encoding="utf-8").splitlines()[:MDS_ARTICLES]
    records = [json.loads(line) for line in [*DEMO.read_text(encoding="utf-8").splitlines(), *mds]] + CRAFTED
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "slice.jsonl", records)


@pytest.fixture(scope="module")
def whoosh(corpus, tmp_path_factory) -> Engine:
    index = tmp_path_factory.mktemp("whoosh")
    assert ingest([corpus], index, procs=1, show_progress=False).rejected == 0
    return Engine(index, refresh_interval=0)


@pytest.fixture(scope="module")
def cluster(corpus, tmp_path_factory):
    """2 shards x 2 mirrors and the aggregator, the slice indexed by `vnsearch index --backend`."""
    with indexed(tmp_path_factory.mktemp("cluster"), corpus, 2, 2) as (layout, out):
        assert out.startswith(f"added {48 + MDS_ARTICLES + len(CRAFTED)}, replaced 0, rejected 0")
        yield layout


@pytest.fixture(scope="module")
def sphinx(cluster) -> SphinxBackend:
    backend = open_backend(cluster.url, cluster_dir=cluster.directory, refresh_interval=0)
    assert isinstance(backend, SphinxBackend)
    return backend


def ranked(result: SearchResult, full_page: bool) -> list[tuple[float | None, frozenset[str]]]:
    """The hits as groups of equal score, best first: backends may order equal
    scores differently. On a full page the last group may be cut anywhere."""
    groups: list[tuple[float | None, set[str]]] = []
    for hit in result.hits:
        if groups and groups[-1][0] == hit.score:
            groups[-1][1].add(hit.id)
        else:
            groups.append((hit.score, {hit.id}))
    if full_page and groups:
        groups.pop()
    return [(score, frozenset(ids)) for score, ids in groups]


def dated(result: SearchResult) -> list[tuple[str | None, frozenset[str]]]:
    """The hits as groups of equal publication time, in order."""
    groups: list[tuple[str | None, set[str]]] = []
    for hit in result.hits:
        if groups and groups[-1][0] == hit.published:
            groups[-1][1].add(hit.id)
        else:
            groups.append((hit.published, {hit.id}))
    return [(published, frozenset(ids)) for published, ids in groups]


# -- the same answers ---------------------------------------------------------
@pytest.mark.parametrize("params", CASES, ids=lambda p: json.dumps(p, ensure_ascii=False))
def test_both_backends_find_rank_and_count_the_same(whoosh, sphinx, params):
    # ungrouped: grouping follows each backend's order of equal scores (test_both_backends_group_alike)
    wanted = request({"size": "100", "group": "off", **params})
    expected, got = whoosh.search(wanted), sphinx.search(wanted)
    assert (got.total, got.relaxed, got.partial) == (expected.total, expected.relaxed, False)
    assert got.facets == expected.facets
    assert got.notes == expected.notes and got.filters == expected.filters
    full = len(expected.hits) == wanted.size
    if wanted.sort == "relevance" and params.get("q"):
        assert ranked(got, full) == ranked(expected, full)
    else:
        assert dated(got)[:-1] == dated(expected)[:-1]
        assert [h.published for h in got.hits] == [h.published for h in expected.hits]
    if not full:
        assert {h.id for h in got.hits} == {h.id for h in expected.hits}
    by_id = {hit.id: hit for hit in expected.hits}
    for hit in got.hits:  # the same <mark>s at the same offsets, from the same stored article
        if hit.id in by_id:
            assert (hit.snippet, hit.title_html) == (by_id[hit.id].snippet, by_id[hit.id].title_html)


def test_an_unaccented_headline_takes_its_accents_on_both(whoosh, sphinx):
    typed = request({"q": "mau thuan gia tang giua my va cac dong minh", "group": "off"})
    for backend in (whoosh, sphinx):
        notes = backend.search(typed).notes
        assert any("Mâu thuẫn gia tăng giữa Mỹ và các đồng minh" in note for note in notes), notes


def grouped_as_ranked(backend, params: dict) -> list[list[str]]:
    """The backend's grouped page 1 as [leader, *members], checked against
    grouping its own ungrouped ranking with the articles' own signatures."""
    grouped = backend.search(request({**params, "size": "10"}))
    ranking = backend.search(request({**params, "page": "1", "size": str(grouping.GROUP_WINDOW),
                                      "group": "off"})).hits
    window = [backend.get(hit.id) for hit in ranking]
    skip = 10 * (int(params.get("page", "1")) - 1)
    expected = events.group(window, [signature(doc) for doc in window])[skip:skip + 10]
    assert len(expected) == 10
    shown = [[hit.id, *(member.id for member in hit.members)] for hit in grouped.hits]
    assert shown == expected
    assert grouped.grouped == len(window) - len(events.group(window))
    assert all(m.group == hit.id == hit.group and hit.group_size == 1 + len(hit.members)
               for hit in grouped.hits for m in hit.members)
    return shown


@pytest.mark.parametrize("params", [{"q": "bão"}, {"q": "giá vàng"}, {"q": "việt nam", "page": "2"},
                                    {"q": "", "sort": "newest", "to": "2013-12-31"}, {"q": "bão", "sort": "oldest"}],
                         ids=lambda p: json.dumps(p, ensure_ascii=False))
def test_both_backends_group_alike(whoosh, sphinx, params):
    """Each backend groups its own ranking by event; with no ties in it, the groups are the same."""
    mine, theirs = grouped_as_ranked(whoosh, params), grouped_as_ranked(sphinx, params)
    assert any(len(group) > 1 for group in mine)  # MDS has events reported several times
    if params.get("sort") in ("newest", "oldest"):
        assert mine == theirs


def test_pages_follow_each_other(whoosh, sphinx):
    pages = [sphinx.search(request({"q": "chính phủ", "page": str(n), "size": "7"})) for n in (1, 2, 3)]
    whole = sphinx.search(request({"q": "chính phủ", "size": "21"}))
    assert [h.id for page in pages for h in page.hits] == [h.id for h in whole.hits]
    assert pages[1].total == whoosh.search(request({"q": "chính phủ"})).total


def test_marks_and_did_you_mean_are_the_same(whoosh, sphinx):
    for q in ["can bo tre", "bieu tinh", "bieu tinhh", "duong", "cán bộ trẽ"]:
        assert sphinx.search(request({"q": q})).suggestion == whoosh.search(request({"q": q})).suggestion, q
    # The same correction; its accents are read from the corrected query's best
    # matches on the cluster, from its first ones in index order on Whoosh.
    corrected = [backend.search(request({"q": "chinh phuu viet nam"})).suggestion for backend in (whoosh, sphinx)]
    assert corrected[1] == "chính phủ việt nam" and fold(corrected[0] or "") == "chinh phu viet nam"
    hit = sphinx.search(request({"q": "duong"})).hits[0]
    assert "<mark>" in hit.snippet and hit.snippet == whoosh.search(request({"q": "duong"})).hits[0].snippet
    nfd = sphinx.search(request({"q": "thuy loi"})).hits[0]
    assert nfd.id == "c-nfd" and "<mark>" in nfd.title_html  # offsets into the NFD original


def test_articles_related_and_stats_are_the_same(whoosh, sphinx):
    for article_id in ["demo-0001", "mds-1-1", "c-city-dot"]:
        assert sphinx.get(article_id) == whoosh.get(article_id)
        expected = whoosh.related(article_id, limit=5)
        got = sphinx.related(article_id, limit=5)
        assert expected is not None and got is not None
        assert [(h.id, h.score) for h in got] == [(h.id, h.score) for h in expected], article_id
    assert sphinx.get("no-such-article") is None and sphinx.related("no-such-article") is None
    expected_stats, got_stats = whoosh.stats(), sphinx.stats()
    assert got_stats["documents"] == expected_stats["documents"] and got_stats["facets"] == expected_stats["facets"]
    assert (got_stats["shards"], got_stats["mirrors"], got_stats["partial"]) == (2, 2, False)


# -- the web app and the CLI on the cluster --------------------------------------
@pytest.fixture(scope="module")
def web(cluster, whoosh):
    """A client of the app on the cluster (VNSEARCH_BACKEND), writes enabled."""
    app = make_app(whoosh.index_dir, BACKEND=cluster.url, CLUSTER_DIR=str(cluster.directory), API_TOKEN=TOKEN)
    return app.test_client()


@pytest.fixture(scope="module")
def spec(whoosh) -> dict:
    return make_app(whoosh.index_dir).test_client().get("/api/openapi.json").get_json()


def test_the_api_answers_as_on_whoosh(web, whoosh, spec):
    response = web.get("/api/search", query_string={"q": "can bo tre", "category": "Thời sự"})
    body = response.get_json()
    expected = whoosh.search(request({"q": "can bo tre", "category": "Thời sự"})).to_json()
    assert {k: v for k, v in body.items() if k != "took_ms"} == {k: v for k, v in expected.items() if k != "took_ms"}
    assert body["partial"] is False and body["missing_shards"] == []
    check_response(spec, "/api/search", "GET", response)
    health = web.get("/healthz")
    assert health.get_json()["status"] == "ok" and health.get_json()["backend"] == "sphinx"
    check_response(spec, "/healthz", "GET", health)
    check_response(spec, "/api/stats", "GET", web.get("/api/stats"))
    assert web.get("/api/articles/demo-0001").get_json() == whoosh.get("demo-0001")
    assert "cán bộ" in web.get("/?q=can+bo+tre").get_data(as_text=True)


def test_the_cli_searches_the_cluster(cluster, whoosh):
    code, out, _ = cli("search", "can bo tre", "--backend", cluster.url, "--json")
    assert code == 0 and json.loads(out)["hits"][0]["id"] == whoosh.search(request({"q": "can bo tre"})).hits[0].id
    code, out, _ = cli("stats", "--backend", cluster.url)
    assert code == 0 and "2 shard(s) x 2 mirror(s)" in out
    code, _, err = cli("search", "x", "--backend", "sphinx://127.0.0.1")  # no port
    assert code == 2 and "expected sphinx://HOST:PORT" in err
    code, _, err = cli("delete", "demo-0001", "--backend", cluster.url)  # writes need the cluster's directory
    assert code == 1 and "VNSEARCH_CLUSTER_DIR" in err


# -- losing parts of the cluster --------------------------------------------------
@pytest.fixture
def healthy(cluster):
    """The cluster, every node running again (and caught up) after the test."""
    yield cluster
    restart(cluster, *(node.name for node in cluster.nodes))
    assert ClusterWriter(cluster).catch_up() == {}


def test_a_shard_without_live_mirror_is_partial_never_a_500(healthy, web, whoosh, spec):
    complete = web.get("/api/search?q=chinh+phu").get_json()
    kill(healthy, "shard1-mirror0")
    again = web.get("/api/search?q=chinh+phu").get_json()  # one mirror left: still complete
    assert again["partial"] is False and again["total"] == complete["total"]
    kill(healthy, "shard1-mirror1")

    response = web.get("/api/search?q=chinh+phu")
    body = response.get_json()
    assert response.status_code == 200 and body["partial"] is True and body["missing_shards"] == [1]
    assert 0 < body["total"] < complete["total"]
    assert all(placement(hit["id"], 2).shard == 0 for hit in body["hits"])
    check_response(spec, "/api/search", "GET", response)
    page = web.get("/?q=chinh+phu").get_data(as_text=True)
    assert 'class="note partial"' in page and "phân mảnh 1" in page
    health = web.get("/healthz").get_json()
    assert health["status"] == "degraded" and health["missing_shards"] == [1]
    lost = next(h.id for h in whoosh.search(request({"q": "chinh phu", "size": "100"})).hits
                if placement(h.id, 2).shard == 1)
    assert_error(web.get(f"/api/articles/{lost}"), 503, "cluster_partial")
    code, out, _ = cli("search", "chinh phu", "--backend", healthy.url)
    assert code == 0 and "phân mảnh 1" in out


def test_a_cluster_that_does_not_answer_is_a_503(healthy, web):
    kill(healthy, "aggregator")
    for path in ("/api/search?q=x", "/api/stats", "/healthz", "/api/articles/demo-0001"):
        assert_error(web.get(path), 503, "cluster_unavailable")
    page = web.get("/?q=x")
    assert page.status_code == 503 and "Traceback" not in page.get_data(as_text=True)
    code, _, err = cli("search", "x", "--backend", healthy.url)
    assert code == 1 and "does not answer" in err
    with pytest.raises(BackendUnavailable):
        SphinxBackend(healthy.url).search(request({"q": "x"}))


# -- writes ---------------------------------------------------------------------
def test_writes_through_the_api_reach_the_cluster(healthy, web):
    article = {"id": "w-1", "title": "Bài viết qua API", "body": "Nội dung có từ hiếm zyxwv.",
               "category": "Thử nghiệm"}
    assert web.post("/api/articles", json=article).status_code == 401  # no token, no write
    created = web.post("/api/articles", json=article, headers=auth())
    assert created.status_code == 201 and created.get_json()["added"] == 1
    found = web.get("/api/search?q=zyxwv").get_json()
    assert [hit["id"] for hit in found["hits"]] == ["w-1"] and found["facets"]["category"][0]["value"] == "Thử nghiệm"
    again = web.post("/api/articles", json={**article, "title": "Bài viết đã sửa"}, headers=auth())
    assert again.status_code == 200 and again.get_json()["replaced"] == 1
    assert web.get("/api/articles/w-1").get_json()["title"] == "Bài viết đã sửa"

    shard = placement("w-1", 2).shard
    kill(healthy, f"shard{shard}-mirror1")  # a write that misses a mirror says which
    missed = web.post("/api/articles", json={**article, "title": "Lần ba"}, headers=auth()).get_json()
    assert missed["replaced"] == 1 and f"shard{shard}-mirror1" in missed["problems"][0]
    assert web.delete("/api/articles/w-1", headers=auth()).get_json() == {"deleted": ["w-1"]}
    assert web.get("/api/search?q=zyxwv").get_json()["total"] == 0
    assert_error(web.delete("/api/articles/w-1", headers=auth()), 404, "not_found")

    web.post("/api/articles", json={**article, "id": "w-2"}, headers=auth())  # and `vnsearch delete`
    code, out, _ = cli("delete", "w-2", "nothing-here", "--backend", healthy.url, "--cluster-dir",
                       str(healthy.directory))
    assert code == 1 and out.strip() == "deleted 1, not found 1"
    assert web.get("/api/search?q=zyxwv").get_json()["total"] == 0


def test_writes_need_the_cluster_directory(cluster, whoosh):
    app = make_app(whoosh.index_dir, BACKEND=cluster.url, API_TOKEN=TOKEN)  # no VNSEARCH_CLUSTER_DIR
    client = app.test_client()
    assert client.get("/api/search?q=can+bo").get_json()["total"] > 0  # reads need no directory
    assert_error(client.post("/api/articles", json={"title": "x"}, headers=auth()), 503, "writes_unconfigured")


def test_a_layout_from_another_cluster_is_refused(cluster, tmp_path):
    other = Layout(tmp_path, 1, 1, cluster.base_port + 1000)
    other.save()
    with pytest.raises(BackendUnavailable, match="cluster_misconfigured|holds the cluster"):
        SphinxBackend(cluster.url, tmp_path).health()
