"""Helpers for the workspace tests: units, users and logging in through the real form."""

from __future__ import annotations

import re
from functools import cache

from werkzeug.security import generate_password_hash

from survey.extensions import db
from survey.models import Unit, User

PASSWORD = "Sông Tiền chảy qua Sa Đéc"


def make_unit(code: str, name: str, level: str = "ward", parent: Unit | None = None) -> Unit:
    """A unit (flushed)."""
    unit = Unit(code=code, name=name, level=level, parent_id=parent.id if parent else None)
    db.session.add(unit)
    db.session.flush()
    return unit


@cache
def _hash(password: str) -> str:
    """One salted hash per test password (hashing is deliberately slow; tests make many users)."""
    return generate_password_hash(password)


def make_user(username: str, role: str, unit: Unit, password: str = PASSWORD, **extra) -> User:
    """A user with a known password (flushed)."""
    user = User(username=username, role=role, unit_id=unit.id, active=True, failed_logins=0, **extra)
    user.password_hash = _hash(password)
    db.session.add(user)
    db.session.flush()
    return user


def token_of(html: str) -> str:
    """The CSRF token of a rendered page, whichever attribute order the form used."""
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    return found.group(1)


def login(client, username: str, password: str = PASSWORD, follow: bool = False):
    """Log in through ``/login`` with the form's CSRF token; return the response."""
    page = client.get("/login")
    token = token_of(page.get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "username": username,
                                       "password": password}, follow_redirects=follow)


def make_response(campaign_id: int, unit_id: int, *, counter_id: int | None = None,
                  entry_point_id: int | None = None, submitted_at=None, flags=None,
                  excluded: bool = False, comment: str | None = None) -> int:
    """One stored response (with one rated answer and an optional comment); returns its id."""
    import uuid
    from datetime import UTC, datetime

    from survey.models import Campaign, Response
    from survey.services.answer_store import store_answers
    campaign = db.session.get(Campaign, campaign_id)
    version = campaign.questionnaire_version
    response = Response(
        submission_uuid=str(uuid.uuid4()), receipt=uuid.uuid4().hex[:8].upper(),
        entry_point_id=entry_point_id, campaign_id=campaign_id,
        questionnaire_version_id=version.id, questionnaire_id=version.questionnaire_id,
        questionnaire_version=version.version, content_hash=version.content_hash,
        unit_id=unit_id, counter_id=counter_id, channel="qr" if entry_point_id else "paper",
        language="vi", submitted_at=submitted_at or datetime.now(UTC), flags=list(flags or []),
        excluded=excluded, exclusion_reason="thử" if excluded else None)
    db.session.add(response)
    db.session.flush()
    store_answers([{"response_id": response.id, "item_code": "overall", "rating": 4, "scale_points": 5}]
                  + ([{"response_id": response.id, "item_code": "comment", "text": comment}]
                     if comment else []))
    return response.id
