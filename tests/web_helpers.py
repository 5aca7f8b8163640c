"""Helpers for the web tests: the app with test settings, a bearer token and
an article full of script payloads, the API's one error shape, and a small
JSON Schema check of responses against the served OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from webui.app import create_app

TOKEN = "t0k3n-Vx9_qL2"  # HTTP headers are ASCII in practice, so tokens are too

XSS_TITLE = "<script>alert(1)</script> Tin giả mạo"
XSS_BODY = "Nội dung <img src=x onerror=alert(1)> và <script>alert(1)</script> kết thúc."
XSS_ARTICLE = {
    "id": "xss-1", "title": XSS_TITLE, "body": XSS_BODY,
    "lead": "<b onmouseover=alert(1)>dẫn</b>", "author": "<script>alert(1)</script>",
    "category": "<img src=x onerror=alert(1)>", "source": "Nguồn <i>thử</i>",
    "url": "javascript:alert(1)", "published": "2023-06-01T08:00:00+07:00",
    "captions": ["<img src=x onerror=alert(1)> chú thích"], "tags": ["<script>alert(1)</script>"],
}


# -- the web app ------------------------------------------------------------------
def make_app(index: Path | str, **config) -> Flask:
    """The app on ``index`` with test settings: writes off, every request sees the last commit."""
    settings = {"INDEX_DIR": str(index), "TESTING": True, "API_TOKEN": None,
                "REFRESH_INTERVAL": 0.0}
    settings.update(config)
    return create_app(settings)


def auth(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The one error shape: {"error": {"code": str, "message": str}}, nothing else."""
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    assert "Traceback" not in response.get_data(as_text=True)
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


# -- a small JSON Schema check for the OpenAPI document -----------------------
# The subset our document uses: type (one or a list), properties, required,
# additionalProperties, items, enum, minimum/maximum, minItems, oneOf, $ref.
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is_type(value, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def check_schema(value, schema: dict, document: dict, where: str = "$") -> None:
    """Raise AssertionError naming the first place where value breaks schema."""
    if "$ref" in schema:
        node = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return check_schema(value, node, document, where)
    if "oneOf" in schema:
        passed = 0
        for option in schema["oneOf"]:
            try:
                check_schema(value, option, document, where)
                passed += 1
            except AssertionError:
                pass
        assert passed == 1, f"{where}: matches {passed} of the oneOf options"
        return None
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        assert any(_is_type(value, n) for n in names), f"{where}: {value!r:.80} is not {names}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        assert value >= schema.get("minimum", value), f"{where}: {value} < minimum"
        assert value <= schema.get("maximum", value), f"{where}: {value} > maximum"
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            assert name in value, f"{where}: missing {name!r}"
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                check_schema(item, properties[name], document, f"{where}.{name}")
            elif extra is False:
                raise AssertionError(f"{where}: undocumented property {name!r}")
            elif isinstance(extra, dict):
                check_schema(item, extra, document, f"{where}.{name}")
    if isinstance(value, list):
        assert len(value) >= schema.get("minItems", 0), f"{where}: too few items"
        for number, item in enumerate(value):
            check_schema(item, schema.get("items", {}), document, f"{where}[{number}]")
    return None


def check_response(document: dict, path: str, method: str, response) -> None:
    """The response matches what the document promises for this path, method and status."""
    operation = document["paths"][path][method.lower()]
    promised = operation["responses"].get(str(response.status_code))
    assert promised is not None, f"{method} {path}: status {response.status_code} is undocumented"
    if "$ref" in promised:
        promised = document["components"]["responses"][promised["$ref"].rsplit("/", 1)[1]]
    content = promised.get("content", {})
    assert response.mimetype in content, f"{method} {path}: {response.mimetype} undocumented"
    if response.mimetype == "application/json":
        check_schema(response.get_json(), content["application/json"]["schema"], document)
