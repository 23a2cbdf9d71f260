"""The role × URL × unit matrix: every rule under /admin and /staff, found in ``app.url_map``.

Two sibling wards under one province: OWN, where the acting users work, and OTHER, whose every
name carries the marker ``XQZ``. Each ward has a counter, a campaign, an entry point (QR code),
a response with a comment, a user, an API key and scans; procedure fields are shared reference
data. For each discovered route, each role (and anonymous) and each of OWN/OTHER:

- anonymous → redirect to the login page;
- a role the view does not admit (``role_required``) → 403;
- an allowed role with OTHER's ids → 403 or 404, no OTHER data in the body, and for POST nothing
  in the database changed;
- an allowed role with OWN's ids → a page (GET < 400), never OTHER's data;
- never a 500.

A route with a URL parameter not in ``PARAMS`` fails the test: add the name and the object it
stands for below, so that no route escapes the matrix.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from survey import create_app
from survey.extensions import db
from survey.models import (
    Campaign,
    CampaignUnit,
    Counter,
    EntryPoint,
    PopulationCount,
    ProcedureField,
    Unit,
    User,
)
from survey.questionnaires import load_questionnaire
from survey.services.audit import record
from survey.services.questionnaires import publish_questionnaire
from tests.web.workspace_support import make_response, make_unit, make_user, token_of

PREFIXES = ("/admin", "/staff")
ROLES = ("admin", "unit_manager", "counter_staff")
MARKER = "xqz"  # in every name of the OTHER ward (compared in lower case)
# URL parameter → key of the world's object ids. Shared reference data has no unit to leak.
PARAMS = {
    "unit_id": "unit", "counter_id": "counter", "campaign_id": "campaign", "response_id": "response",
    "user_id": "user", "field_id": "field", "entry_point_id": "entry_point", "key_id": "api_key",
    "code": "code", "kiosk_id": "kiosk", "form_id": "paper_form", "job_id": "export_job",
}
SHARED = {"field_id"}
# Query parameters tried on list pages with OTHER's ids (filters must not open a back door).
QUERY_FILTERS = ("unit_id", "counter_id", "campaign_id", "user_id", "entry_point_id")


def _discover() -> list[tuple[str, str, str]]:
    """(rule, method, endpoint) of every staff/admin route of a freshly created app."""
    saved = os.environ.get("SIPAS_INSTANCE_PATH")
    os.environ["SIPAS_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="sipas-matrix-")
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "collect-only",
                          "TESTING": True})
    finally:
        if saved is None:
            os.environ.pop("SIPAS_INSTANCE_PATH", None)
        else:
            os.environ["SIPAS_INSTANCE_PATH"] = saved
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIXES):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, rule.endpoint))
    return sorted(found)


ROUTES = _discover()


def test_the_matrix_found_the_workspace_routes():
    endpoints = {endpoint for _, _, endpoint in ROUTES}
    assert {"admin.index", "admin.progress", "admin.users", "admin.user_reset_password"} <= endpoints
    assert len(ROUTES) >= 8


@pytest.fixture
def world(app):
    """The province, OWN and OTHER wards with one of everything, and the acting users in OWN."""
    with app.app_context():
        version, _ = publish_questionnaire(load_questionnaire("counter-rating"))
        province = make_unit("PV", "Tỉnh Thử", "province")
        field = ProcedureField(code="ho_tich_m", name="Hộ tịch")
        db.session.add(field)
        ids = {"own": _ward(province, "OWN", "Phường Nhà", version, field),
               "other": _ward(province, "XQZ", "Phường Khác XQZ", version, field)}
        ids["actors"] = {role: make_user(f"{role.replace('_', '.')}.own", role,
                                         db.session.get(Unit, ids["own"]["unit"])).username
                         for role in ROLES}
        other_admin = make_user("admin.khac.xqz", "admin", db.session.get(Unit, ids["other"]["unit"]))
        record("user.create", other_admin.username, user_id=other_admin.id, object_type="user",
               object_id=ids["other"]["user"], username="target.khac.xqz")
        db.session.commit()
        ids["forbidden"] = [MARKER, ids["other"]["code"].lower()]
        return ids


def _ward(parent: Unit, code: str, name: str, version, field: ProcedureField) -> dict:
    """One ward with a counter, campaign, code, response, user, API key and scans; its ids."""
    label = " XQZ" if code == "XQZ" else ""
    unit = make_unit(code, name, parent=parent)
    counter = Counter(unit_id=unit.id, code="Q1", name=f"Quầy một{label}")
    campaign = Campaign(code=f"camp-{code.lower()}", name=f"Đợt khảo sát{label}",
                        questionnaire_version_id=version.id, starts_on=date(2026, 1, 1),
                        ends_on=date(2026, 12, 31))
    db.session.add_all([counter, campaign])
    db.session.flush()
    db.session.add(CampaignUnit(campaign_id=campaign.id, unit_id=unit.id, target_n=50))
    db.session.add(PopulationCount(unit_id=unit.id, month=date(2026, 1, 1), transactions=300))
    from survey.services.entry_points import new_code
    entry = EntryPoint(code=new_code(), kind="static", campaign_id=campaign.id, unit_id=unit.id,
                       counter_id=counter.id, field_id=field.id, label=f"Quầy một{label}")
    db.session.add(entry)
    db.session.flush()
    response = make_response(campaign.id, unit.id, counter_id=counter.id, entry_point_id=entry.id,
                             submitted_at=datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
                             flags=["too_fast"], comment=f"Góp ý của người dân{label}")
    user = make_user(f"target.{'khac.xqz' if label else 'own'}", "counter_staff", unit,
                     full_name=f"Cán bộ{label}")
    ids = {"unit": unit.id, "counter": counter.id, "campaign": campaign.id, "entry_point": entry.id,
           "code": entry.code, "response": response, "user": user.id, "field": field.id,
           "api_key": _api_key(unit, label), "kiosk": _kiosk(campaign, unit, counter),
           "paper_form": _paper_form(campaign, unit), "export_job": _export_job(campaign, unit)}
    _scans(entry.id)
    return ids


def _paper_form(campaign: Campaign, unit: Unit) -> int | None:
    """A printed paper form of the unit (double entry) when paper forms exist (issue 9)."""
    try:
        from survey.models import PaperForm
        from survey.services.paper import Actor, create_batch
    except ImportError:
        return None
    batch = create_batch(campaign=campaign, unit=unit, counter=None, count=1, double_entry=True,
                         actor=Actor("matrix"))
    return db.session.scalar(select(PaperForm.id).where(PaperForm.batch_id == batch.id))


def _export_job(campaign: Campaign, unit: Unit) -> int | None:
    """A finished export of the ward's campaign, requested from the ward (issue 6)."""
    try:
        from survey.models import ExportJob
    except ImportError:
        return None
    job = ExportJob(campaign_id=campaign.id, unit_id=unit.id, format="csv", options={},
                    status="done", progress=1.0, file_name=f"matrix-{unit.code}.csv")
    db.session.add(job)
    db.session.flush()
    return job.id


def _api_key(unit: Unit, label: str) -> int | None:
    """An API key of the unit when the API-key model exists (issue 4)."""
    try:
        from survey.models import ApiKey
    except ImportError:
        return None
    digest = hashlib.sha256(f"key-{unit.code}".encode()).hexdigest()
    key = ApiKey(unit_id=unit.id, name=f"Phần mềm một cửa{label}", prefix=f"sk{unit.code.lower()}",
                 key_hash=digest)
    db.session.add(key)
    db.session.flush()
    return key.id


def _kiosk(campaign: Campaign, unit: Unit, counter: Counter) -> int | None:
    """A kiosk link of the ward's counter when kiosks exist (issue 9): its own static code."""
    try:
        from survey.models import Kiosk
    except ImportError:
        return None
    from survey.services.entry_points import new_code
    entry = EntryPoint(code=new_code(), kind="static", campaign_id=campaign.id, unit_id=unit.id,
                       counter_id=counter.id, label="Kiosk")
    db.session.add(entry)
    db.session.flush()
    kiosk = Kiosk(entry_point_id=entry.id, unit_id=unit.id, counter_id=counter.id)
    db.session.add(kiosk)
    db.session.flush()
    return kiosk.id


def _scans(entry_point_id: int) -> None:
    """A few scans of the code when scan counting exists (issue 4)."""
    try:
        from survey.models import ScanCount
    except ImportError:
        return
    db.session.add(ScanCount(entry_point_id=entry_point_id, day=date(2026, 3, 2), shard=0, scans=4))


def _url(rule: str, values: dict) -> str:
    """Fill the rule's ``<converter:name>`` parts with ``values``."""
    import re

    def fill(match):
        name = match.group(2)
        if name not in PARAMS:
            pytest.fail(f"route {rule} uses URL parameter <{name}>, which the scoping matrix does not "
                        f"know: add it to PARAMS in tests/web/test_scoping_matrix.py")
        value = values[PARAMS[name]]
        if value is None:
            pytest.skip(f"{rule}: no {PARAMS[name]} model in this build")
        return str(value)

    return re.sub(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([a-z_]+)>", fill, rule)


def _snapshot(app) -> str:
    """A digest of every row of every table (to prove a refused POST changed nothing)."""
    digest = hashlib.sha256()
    with app.app_context():
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table)).all()
            digest.update(repr(sorted(repr(tuple(r)) for r in rows)).encode())
    return digest.hexdigest()


def _request(client, method: str, url: str, token: str, extra: dict | None = None):
    """GET, or POST/PUT/DELETE with the session's CSRF token (so CSRF is not what refuses)."""
    if method == "GET":
        return client.get(url)
    return client.open(url, method=method, data={"csrf_token": token, **(extra or {})})


def _leaks(response, forbidden: list[str]) -> list[str]:
    """Which of OTHER's markers the response shows (body and redirect target).

    CSRF token values are left out: they are random base64, and a lower-cased "xqz" turns up in
    one about every 360 pages (every workspace page has one in its logout form).
    """
    import re
    body = re.sub(r'(name="csrf_token"[^>]*value=")[^"]*"|(value=")[^"]*("[^>]*name="csrf_token")', "",
                  _body_text(response))
    text = (body + " " + (response.location or "")).lower()
    return [m for m in forbidden if m in text]


def _body_text(response) -> str:
    """The body as text; for a PDF (staff posters and slips) the text a PDF reader extracts."""
    if response.mimetype == "application/pdf":
        import io

        import pypdf
        return " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.data)).pages)
    return response.get_data(as_text=True)


def _clients(app, world) -> dict:
    """A logged-in client per role, each with its CSRF token; anonymous with a token too."""
    clients = {}
    for role in ROLES:
        client = app.test_client()
        with app.app_context():  # a session as /login makes it (the login itself: test_auth.py)
            session_id = db.session.scalar(select(User).filter_by(username=world["actors"][role])).get_id()
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = session_id, True
        page = client.get("/account/password")
        assert page.status_code == 200
        clients[role] = (client, token_of(page.get_data(as_text=True)))
    anonymous = app.test_client()
    clients[None] = (anonymous, token_of(anonymous.get("/login").get_data(as_text=True)))
    return clients


@pytest.mark.parametrize("rule, method, endpoint", ROUTES,
                         ids=[f"{method} {rule}" for rule, method, _ in ROUTES])
def test_role_url_unit_matrix(app, world, rule, method, endpoint):
    allowed = getattr(app.view_functions[endpoint], "allowed_roles", None)
    assert allowed, (f"{endpoint} ({rule}) has no @role_required(...): every staff/admin view "
                     "must declare the roles it admits")
    params = set(_param_names(rule))
    scoped = bool(params - SHARED)
    urls = {side: _url(rule, world[side]) for side in ("other", "own")}
    clients = _clients(app, world)
    problems = []

    for side in ("other", "own"):  # OTHER first: an own-unit POST may change things
        for role in (None, *ROLES):
            client, token = clients[role]
            refused = role not in allowed or (side == "other" and scoped)
            before = _snapshot(app) if method != "GET" and refused else None
            response = _request(client, method, urls[side], token)
            status = response.status_code
            where = f"{method} {urls[side]} as {role or 'anonymous'} ({side} unit)"
            if status >= 500:
                problems.append(f"{where}: {status}")
            if role is None:
                if status != 302 or "/login" not in (response.location or ""):
                    problems.append(f"{where}: {status}, expected a redirect to /login")
            elif role not in allowed:
                if status != 403:
                    problems.append(f"{where}: {status}, expected 403 (roles {allowed})")
            elif side == "other" and scoped:
                if status not in (403, 404):
                    problems.append(f"{where}: {status}, expected 403/404")
            elif method == "GET" and status >= 400:
                problems.append(f"{where}: {status}, expected the page")
            leaked = _leaks(response, world["forbidden"])
            if leaked and role is not None:
                problems.append(f"{where}: shows OTHER's data {leaked}")
            if before is not None and _snapshot(app) != before:
                problems.append(f"{where}: the database changed")

    if method == "GET" and not params:
        problems += _query_filters(app, clients, allowed, rule, world)
    assert not problems, "\n".join(problems)


def _query_filters(app, clients, allowed, rule: str, world) -> list[str]:
    """List pages asked to filter by OTHER's ids: no 500, no OTHER data."""
    problems = []
    query = "&".join(f"{name}={world['other'][PARAMS[name]]}" for name in QUERY_FILTERS)
    for role in allowed:
        client, _ = clients[role]
        response = client.get(f"{rule}?{query}")
        if response.status_code >= 500:
            problems.append(f"GET {rule}?{query} as {role}: {response.status_code}")
        leaked = _leaks(response, world["forbidden"])
        if leaked:
            problems.append(f"GET {rule}?{query} as {role}: shows OTHER's data {leaked}")
    return problems


def _param_names(rule: str) -> list[str]:
    """The names of a rule's URL parameters."""
    import re
    return [m.group(2) for m in re.finditer(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([a-z_]+)>", rule)]


def test_post_with_other_units_ids_in_the_body_changes_nothing_there(app, world):
    """Create/import forms posted with OTHER's ids: refused, OTHER's rows untouched."""
    clients = _clients(app, world)
    other = world["other"]
    body = {"unit_id": other["unit"], "counter_id": other["counter"], "campaign_id": other["campaign"],
            "user_id": other["user"], "entry_point_id": other["entry_point"],
            "response_id": other["response"], "code": "Q9", "name": "Thử", "username": "moi.xqz",
            "role": "counter_staff", "password": "Một mật khẩu đủ dài", "confirm": "Một mật khẩu đủ dài",
            "reason": "thử", "decision": "exclude"}
    problems = []
    for rule, method, endpoint in ROUTES:
        if method == "GET" or _param_names(rule):
            continue
        allowed = getattr(app.view_functions[endpoint], "allowed_roles", ())
        for role in allowed:
            client, token = clients[role]
            before = _other_rows(app, other["unit"])
            response = client.post(rule, data={"csrf_token": token, **body})
            if response.status_code >= 500:
                problems.append(f"POST {rule} as {role}: {response.status_code}")
            if _other_rows(app, other["unit"]) != before:
                problems.append(f"POST {rule} as {role}: changed rows of the OTHER unit")
    assert not problems, "\n".join(problems)


def _other_rows(app, unit_id: int) -> str:
    """Every row that belongs to the OTHER unit (by ``unit_id``), as one string."""
    with app.app_context():
        parts = []
        for table in db.metadata.sorted_tables:
            column = table.c.get("unit_id")
            if column is not None:
                parts.append(repr(sorted(repr(tuple(r)) for r in
                                         db.session.execute(select(table).where(column == unit_id)))))
        return "|".join(parts)


def test_users_of_other_units_are_never_listed(app, world):
    """A spot check that the matrix fixture really has something to leak."""
    with app.app_context():
        assert db.session.scalar(select(User.id).filter_by(username="target.khac.xqz"))
    clients = _clients(app, world)
    client, _ = clients["admin"]
    html = client.get("/admin/users").get_data(as_text=True)
    assert "target.own" in html and MARKER not in html.lower()


def test_scope_functions_follow_the_subtree(app):
    """The three scope functions at depth 3, twice in one query, and for odd ids."""
    import werkzeug.exceptions

    from survey.models import Counter
    from survey.services.scope import (
        campaign_in_scope,
        get_in_scope,
        in_scope,
        narrowed,
        unit_in_scope,
        visible_unit_ids,
    )
    with app.test_request_context():
        root = make_unit("R", "Tỉnh", "province")
        a = make_unit("A", "Xã A", parent=root)
        a1 = make_unit("A1", "Trung tâm A1", "centre", parent=a)
        a11 = make_unit("A11", "Điểm A11", "other", parent=a1)
        b = make_unit("B", "Xã B", parent=root)
        manager = make_user("m.a", "unit_manager", a)
        admin_a = make_user("admin.a", "admin", a)
        counter_b = Counter(unit_id=b.id, code="Q", name="Quầy B")
        db.session.add(counter_b)
        version, _ = publish_questionnaire(load_questionnaire("counter-rating"))
        empty = Campaign(code="empty", name="Chưa có đơn vị", questionnaire_version_id=version.id,
                         starts_on=date(2026, 1, 1), ends_on=date(2026, 2, 1))
        db.session.add(empty)
        db.session.commit()
        assert set(db.session.scalars(visible_unit_ids(manager))) == {a.id, a1.id, a11.id}
        both = select(Unit.id).where(in_scope(manager, Unit.id), in_scope(manager, Unit.parent_id))
        assert set(db.session.scalars(both)) == {a1.id, a11.id}
        assert get_in_scope(Unit, a11.id, manager).id == a11.id
        assert get_in_scope(Unit, str(a11.id), manager).id == a11.id
        for ident in (b.id, root.id, 99999, "x", None):
            with pytest.raises(werkzeug.exceptions.NotFound):
                get_in_scope(Unit, ident, manager)
        with pytest.raises(werkzeug.exceptions.NotFound):
            get_in_scope(Counter, counter_b.id, manager)
        assert unit_in_scope(manager, a1.id) and not unit_in_scope(manager, b.id)
        assert not unit_in_scope(manager, None)
        narrow = narrowed(manager, a1)
        assert set(db.session.scalars(visible_unit_ids(narrow))) == {a1.id, a11.id}
        # A campaign without units yet: admins see it, managers do not.
        seen = lambda user: set(db.session.scalars(select(Campaign.id).where(campaign_in_scope(user))))  # noqa: E731
        assert seen(admin_a) == {empty.id} and seen(manager) == set()
        manager.active = False
        assert list(db.session.scalars(visible_unit_ids(manager))) == []
