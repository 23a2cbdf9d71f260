"""Small builders for test data (a campaign with a code to scan)."""

from __future__ import annotations

import re
from datetime import date

from survey.extensions import db
from survey.models import Campaign, Counter, EntryPoint, Unit
from survey.questionnaires import load_questionnaire
from survey.services.questionnaires import publish_questionnaire


def make_campaign(questionnaire: str = "sipas-counter", *, kind: str = "static",
                  code: str = "TESTCODE", starts_on=date(2020, 1, 1), ends_on=date(2099, 12, 31)):
    """A unit, a counter, a campaign and one entry point; returns the entry point."""
    version, _ = publish_questionnaire(load_questionnaire(questionnaire))
    unit = db.session.query(Unit).filter_by(code="T1").one_or_none()
    if unit is None:
        unit = Unit(code="T1", name="Phường Thử Nghiệm", level="ward")
        db.session.add(unit)
        db.session.flush()
        db.session.add(Counter(unit_id=unit.id, code="Q1", name="Quầy 1"))
        db.session.flush()
    campaign = Campaign(code=f"c-{code.lower()}", name="Đợt thử", starts_on=starts_on,
                        ends_on=ends_on, questionnaire_version_id=version.id)
    db.session.add(campaign)
    db.session.flush()
    entry = EntryPoint(code=code, kind=kind, campaign_id=campaign.id, unit_id=unit.id,
                       counter_id=unit.counters[0].id if unit.counters else None)
    db.session.add(entry)
    db.session.commit()
    return entry


def form_token(html: str) -> str:
    """The signed form token of a rendered form page."""
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def receipt(html: str) -> str | None:
    """The receipt number shown on a thank-you page."""
    found = re.search(r'class="receipt">([^<]+)<', html)
    return found.group(1) if found else None
