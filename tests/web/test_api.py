"""``/api/v1``: dossier tokens for one-stop software, API keys, limits and the OpenAPI document."""

from __future__ import annotations

import io
import json
import threading
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec
from sqlalchemy import select

from survey import create_app
from survey.extensions import db
from survey.models import ApiKey, CampaignUnit, EntryPoint, ProcedureField, Unit
from survey.services.api_keys import create_key, revoke_key
from tests.factories import make_campaign
from tests.services.test_printing import require
from tests.web.browser_support import live_server

DOSSIER = "000.00.12.H20-261122-0001"


@pytest.fixture
def api(app):
    """A unit in an open campaign, a procedure field and an API key; returns the key."""
    with app.app_context():
        entry = make_campaign()
        db.session.add(CampaignUnit(campaign_id=entry.campaign_id, unit_id=entry.unit_id))
        db.session.add(ProcedureField(code="ho_tich", name="Hộ tịch", procedure_code="1.001193"))
        _key, raw = create_key(db.session.get(Unit, entry.unit_id), "iGate test")
        db.session.commit()
    return raw


def auth(raw: str) -> dict:
    """Headers carrying the key."""
    return {"Authorization": f"Bearer {raw}"}


# --- the document, and a check of every response against it -------------------------------------

def _resolve(node, doc):
    """``node`` with every ``$ref`` into ``doc`` replaced by its target."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _resolve(target, doc)
        return {k: _resolve(v, doc) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, doc) for v in node]
    return node


def conforms(client, response, path: str, method: str = "post") -> dict:
    """Assert that ``response`` matches the OpenAPI document for (path, method, status)."""
    doc = client.get("/api/v1/openapi.json").get_json()
    operation = _resolve(doc["paths"][path][method], doc)
    declared = operation["responses"][str(response.status_code)]
    content = declared["content"]
    assert response.mimetype in content, (response.mimetype, list(content))
    if response.mimetype == "application/json":
        body = response.get_json()
        OAS30Validator(content["application/json"]["schema"]).validate(body)
        return body
    return {}


def test_openapi_document_validates(client):
    """The served document is valid OpenAPI 3 and names every API route the app has."""
    doc = client.get("/api/v1/openapi.json").get_json()
    validate_spec(doc)
    served = {r.rule.removeprefix("/api/v1").replace("<code>", "{code}")
              for r in client.application.url_map.iter_rules() if r.rule.startswith("/api/v1")}
    assert served == set(doc["paths"])


# --- tokens ---------------------------------------------------------------------------------------

def test_same_dossier_gets_the_same_code_and_the_code_opens_the_form(app, client, api):
    """201 then 200 with the same code; another dossier gets another code; the URL works."""
    first = client.post("/api/v1/tokens", json={"dossier_code": DOSSIER, "field": "ho_tich"},
                        headers=auth(api))
    assert first.status_code == 201
    body = conforms(client, first, "/tokens")
    assert body["url"] == f"http://127.0.0.1/s/{body['code']}" and body["state"] == "open"
    again = client.post("/api/v1/tokens", json={"dossier_code": f" {DOSSIER} "}, headers=auth(api))
    assert again.status_code == 200 and conforms(client, again, "/tokens")["code"] == body["code"]
    other = client.post("/api/v1/tokens", json={"dossier_code": DOSSIER + "X"}, headers=auth(api))
    assert other.status_code == 201 and other.get_json()["code"] != body["code"]
    assert client.get(urlsplit(body["url"]).path).status_code == 200
    status = client.get(f"/api/v1/tokens/{body['code']}", headers=auth(api))
    assert conforms(client, status, "/tokens/{code}", "get")["state"] == "open"
    with app.app_context():
        entry = db.session.scalar(select(EntryPoint).filter_by(code=body["code"]))
        assert entry.kind == "single_use" and entry.field.code == "ho_tich"
        assert entry.dossier_hash and DOSSIER not in entry.dossier_hash
        # the raw dossier number is nowhere in the database
        dump = "\n".join(db.session.connection().connection.driver_connection.iterdump()) \
            if app.config["BACKEND"] == "sqlite" else ""
        assert DOSSIER not in dump


def test_procedure_code_maps_to_its_field_and_unknown_ones_are_ignored(app, client, api):
    """A known national procedure code sets the field; an unknown one does not block the slip."""
    known = client.post("/api/v1/tokens", json={"dossier_code": "A-1", "procedure_code": "1.001193"},
                        headers=auth(api)).get_json()
    unknown = client.post("/api/v1/tokens", json={"dossier_code": "A-2", "procedure_code": "9.999"},
                          headers=auth(api))
    assert unknown.status_code == 201
    with app.app_context():
        assert db.session.scalar(select(EntryPoint).filter_by(code=known["code"])).field.code == "ho_tich"


def test_qr_images_decode_to_the_token_url(client, api):
    """PNG and SVG of a code; the PNG decodes (ZXing) to the code's URL."""
    zxingcpp = require("zxingcpp")
    from PIL import Image
    token = client.post("/api/v1/tokens", json={"dossier_code": DOSSIER}, headers=auth(api)).get_json()
    png = client.get(f"/api/v1/tokens/{token['code']}.png", headers=auth(api))
    assert png.status_code == 200 and png.mimetype == "image/png"
    conforms(client, png, "/tokens/{code}.png", "get")
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert [d.text for d in decoded] == [token["url"]]
    svg = client.get(f"/api/v1/tokens/{token['code']}.svg", headers=auth(api))
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    missing = client.get("/api/v1/tokens/ZZZZZZZZ.png", headers=auth(api))
    assert missing.status_code == 404 and conforms(client, missing, "/tokens/{code}.png", "get")


def test_codes_of_another_unit_are_not_visible(app, client, api):
    """A key sees only its own unit's codes (404, not 403: existence is not revealed)."""
    token = client.post("/api/v1/tokens", json={"dossier_code": DOSSIER}, headers=auth(api)).get_json()
    with app.app_context():
        other = Unit(code="T2", name="Xã Khác", level="commune")
        db.session.add(other)
        db.session.flush()
        _key, raw = create_key(other, "other")
        db.session.commit()
    assert client.get(f"/api/v1/tokens/{token['code']}", headers=auth(raw)).status_code == 404
    assert client.get(f"/api/v1/tokens/{token['code']}.svg", headers=auth(raw)).status_code == 404


# --- refusals ---------------------------------------------------------------------------------------

def test_missing_unknown_or_revoked_key_is_401(app, client, api):
    """No key, a made-up key and a revoked key all get 401 with a JSON error; nothing is issued."""
    body = {"dossier_code": DOSSIER}
    for headers in ({}, auth("sipas_abcdefgh_not-a-real-key"), {"X-API-Key": "nonsense"}):
        resp = client.post("/api/v1/tokens", json=body, headers=headers)
        assert resp.status_code == 401 and "Bearer" in resp.headers["WWW-Authenticate"]
        assert conforms(client, resp, "/tokens")["error"] == "unauthorized"
    assert client.post("/api/v1/tokens", json=body, headers={"X-API-Key": api}).status_code == 201
    with app.app_context():
        revoke_key(db.session.scalar(select(ApiKey)))
        db.session.commit()
    resp = client.post("/api/v1/tokens", json={"dossier_code": "other"}, headers=auth(api))
    assert resp.status_code == 401
    assert client.get("/api/v1/tokens/ABCDEFGH.png", headers=auth(api)).status_code == 401
    with app.app_context():
        assert db.session.query(EntryPoint).filter(EntryPoint.dossier_hash.isnot(None)).count() == 1


@pytest.mark.parametrize(("payload", "fields"), [
    ({}, {"dossier_code"}),
    ({"dossier_code": ""}, {"dossier_code"}),
    ({"dossier_code": 12345}, {"dossier_code"}),
    ({"dossier_code": "x" * 101}, {"dossier_code"}),
    ({"dossier_code": "A", "field": ["ho_tich"], "colour": "red"}, {"field", "colour"}),
    ({"dossier_code": "A", "field": "khong_co"}, {"field"}),
    ({"dossier_code": "A", "counter": "Q99"}, {"counter"}),
    ([{"dossier_code": "A"}], {"body"}),
])
def test_malformed_body_is_400_with_field_errors(app, client, api, payload, fields):
    """Each wrong field is named; nothing is stored."""
    resp = client.post("/api/v1/tokens", json=payload, headers=auth(api))
    assert resp.status_code == 400
    body = conforms(client, resp, "/tokens")
    assert body["error"] == "invalid_request" and set(body["fields"]) == fields
    with app.app_context():
        assert db.session.query(EntryPoint).filter(EntryPoint.dossier_hash.isnot(None)).count() == 0


def test_body_that_is_not_json_is_400(client, api):
    """A form post or broken JSON is refused the same way."""
    for kwargs in ({"data": "dossier_code=A"}, {"data": "{broken", "content_type": "application/json"}):
        resp = client.post("/api/v1/tokens", headers=auth(api), **kwargs)
        assert resp.status_code == 400 and conforms(client, resp, "/tokens")["fields"] == {
            "body": "Expected a JSON object."}


def test_oversized_body_is_a_json_413(client, api):
    """A body over MAX_CONTENT_LENGTH is refused in JSON, as documented."""
    huge = '{"dossier_code": "' + "x" * (300 * 1024) + '"}'
    resp = client.post("/api/v1/tokens", data=huge, content_type="application/json", headers=auth(api))
    assert resp.status_code == 413 and conforms(client, resp, "/tokens")["error"] == "too_large"


def test_unit_without_open_campaign_is_409(app, client):
    """A key whose unit is in no running campaign gets a clear 409."""
    with app.app_context():
        unit = Unit(code="T9", name="Xã Chưa Khảo Sát", level="commune")
        db.session.add(unit)
        db.session.flush()
        _key, raw = create_key(unit, "no campaign")
        db.session.commit()
    resp = client.post("/api/v1/tokens", json={"dossier_code": DOSSIER}, headers=auth(raw))
    assert resp.status_code == 409 and conforms(client, resp, "/tokens")["error"] == "no_open_campaign"


def test_over_limit_is_429_per_key(app, api):
    """With the limiter on (tests switch it off by default), the 4th request in a minute is 429;
    another key still gets through."""
    limited = create_app({"TESTING": True, "SECRET_KEY": app.config["SECRET_KEY"],
                          "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                          "PUBLIC_BASE_URL": "http://127.0.0.1", "RATELIMIT_ENABLED": True,
                          "RATELIMIT_STORAGE_URI": "memory://", "API_RATE_LIMIT": "3/minute"})
    try:
        client = limited.test_client()
        codes = [client.post("/api/v1/tokens", json={"dossier_code": f"D{i}"}, headers=auth(api))
                 .status_code for i in range(4)]
        assert codes == [201, 201, 201, 429]
        over = client.post("/api/v1/tokens", json={"dossier_code": "D9"}, headers=auth(api))
        assert conforms(client, over, "/tokens")["error"] == "rate_limited"
        with limited.app_context():
            unit = db.session.scalar(select(Unit).filter_by(code="T1"))
            _key, other = create_key(unit, "second system")
            db.session.commit()
        assert client.post("/api/v1/tokens", json={"dossier_code": "D9"},
                           headers=auth(other)).status_code == 201
    finally:
        with limited.app_context():
            db.engine.dispose()


def test_concurrent_identical_requests_get_one_code(app, api):
    """12 simultaneous requests for the same dossier against a live server: one code, one row."""
    def post(base, results):
        req = Request(f"{base}/api/v1/tokens", data=json.dumps({"dossier_code": DOSSIER}).encode(),
                      headers={**auth(api), "Content-Type": "application/json"}, method="POST")
        with urlopen(req, timeout=30) as resp:
            results.append((resp.status, json.loads(resp.read())["code"]))

    results: list = []
    with live_server(app) as base:
        threads = [threading.Thread(target=post, args=(base, results)) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert len(results) == 12
    assert len({code for _status, code in results}) == 1
    assert sorted(status for status, _code in results) == [200] * 11 + [201]
    with app.app_context():
        assert db.session.query(EntryPoint).filter(EntryPoint.dossier_hash.isnot(None)).count() == 1
