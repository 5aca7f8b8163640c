"""Schema-driven API fuzzing, the small run: Schemathesis against `vnsearch
serve` on a copy of the demo index, over loopback, every operation of
/api/openapi.json, writes included (bench/api_fuzz.py; its full run sends
10,000 requests and more). Then what the fuzzing found, pinned as plain
requests."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import ROOT
from web_helpers import assert_error, auth, check_response

# Overflows once moved to Vietnam time (UTC+7): year 1 with a larger offset,
# year 9999 with a negative one.
TOO_EARLY = "0001-01-01T00:00:00+14:00"
TOO_LATE = "9999-12-31T23:59:59-12:00"


def test_every_operation_answers_as_documented_under_fuzzing(demo_index, spec, tmp_path):
    figures_path = tmp_path / "fuzz.json"
    # A sample of the coverage phase (at most 40 cases per operation) and one
    # round of the fuzzing phase: about 350 requests.
    command = [sys.executable, "bench/api_fuzz.py", "--index", str(demo_index), "--requests", "300",
               "--coverage-cap", "40", "--per-pass", "20", "--quiet", "--json", str(figures_path)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-12_000:] + run.stderr[-4_000:]
    figures = json.loads(figures_path.read_text())
    documented = {f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item}
    fuzzed = {label for label, op in figures["operations"].items() if op["requests"]}
    assert documented <= fuzzed, documented - fuzzed
    assert figures["total"] >= 300
    assert figures["server_errors"] == 0 and figures["failures"] == {}, run.stdout[-12_000:]
    assert figures["max_ms"] <= 2000


# -- what the fuzzing found ------------------------------------------------------
def test_dates_out_of_range_in_vietnam_time_are_bad_dates(client, spec):
    for query in ({"from": TOO_EARLY}, {"to": TOO_LATE}, {"to": "9999-12-31T23:59:59Z"}):
        response = client.get("/api/search", query_string=query)
        assert_error(response, 400, "bad_date")
        check_response(spec, "/api/search", "GET", response)
    # The HTML page reads the same parameters.
    page = client.get("/", query_string={"from": TOO_EARLY})
    assert page.status_code == 400 and "Ngày không hợp lệ" in page.get_data(as_text=True)
    # The extremes themselves are dates.
    assert client.get("/api/search", query_string={"from": "0001-01-01", "to": "9999-12-31"}).status_code == 200


def test_a_published_date_out_of_range_is_rejected_like_any_bad_record(writer, spec):
    alone = writer.post("/api/articles", json={"id": "late-0", "title": "x", "published": TOO_LATE}, headers=auth())
    assert "published" in assert_error(alone, 400, "bad_article")["message"]
    check_response(spec, "/api/articles", "POST", alone)
    records = [{"id": "ok-1", "title": "Một bài hợp lệ"}, {"id": "late-1", "title": "x", "published": TOO_EARLY}]
    response = writer.post("/api/articles", json=records, headers=auth())
    assert response.status_code == 201, response.data
    check_response(spec, "/api/articles", "POST", response)
    body = response.get_json()
    assert (body["added"], body["rejected"]) == (1, 1) and "published" in body["problems"][0]
    assert writer.get("/api/articles/ok-1").status_code == 200
    assert_error(writer.get("/api/articles/late-1"), 404)


def test_a_symbol_pyvi_joins_to_a_first_word_is_indexed(writer):
    # pyvi joins "•" and "w" ("•_w"): that made "w" look joined to a word before it
    for title in ("• w\nV", "☃w\nV", "\U0001F600w\nV", "a • w"):
        response = writer.post("/api/articles", json={"id": f"sym-{ord(title[0])}", "title": title}, headers=auth())
        assert response.status_code == 201, response.data


def test_a_format_with_spaces_is_read_like_other_parameters(client):
    response = client.get("/api/search", query_string={"format": " csv ", "sort": " newest "})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert client.get("/api/search?format=").mimetype == "application/json"


def test_the_document_states_the_headers_errors_carry(spec):
    responses = spec["components"]["responses"]
    assert responses["E401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert "Retry-After" in responses["E503"]["headers"]
    assert set(responses["E413"]["content"]) == {"application/json", "text/plain"}
