"""Campaigns (đợt khảo sát): create and edit, the units they cover, and sample targets.

Scoping: a campaign has no unit of its own; a user sees a campaign when one of its units is in
their subtree (``scope.campaign_in_scope``), and an admin may edit it only when all of its units
are (:func:`can_edit`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date

from flask import abort
from sqlalchemy import func, select

from ..extensions import db
from ..models import Campaign, CampaignUnit, PopulationCount, QuestionnaireVersion, Response, Unit, User
from ..models.campaign import WEIGHTINGS
from . import audit
from .imports import _l, nfc
from .units import UnitError, subtree_ids

DEFAULT_MARGIN = 0.05
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
WEIGHTING_LABELS = {
    "equal": _l("Không trọng số (mọi phiếu như nhau)"),
    "design": _l("Trọng số thiết kế (số hồ sơ ÷ số phiếu của đơn vị)"),
    "raked": _l("Hiệu chỉnh theo cơ cấu nhân khẩu (raking)"),
}


def sample_size(population: int, margin: float = DEFAULT_MARGIN) -> int:
    """Target sample n = ⌈N / (1 + N·e²)⌉ (Slovin/Yamane, QĐ 1383/QĐ-BNV); 0 when N = 0."""
    if population <= 0:
        return 0
    return math.ceil(population / (1 + population * margin * margin))


@dataclass
class CampaignInput:
    """Form values of a campaign (already typed; text is normalised here)."""

    code: str
    name: str
    questionnaire_version_id: int | None
    starts_on: date | None
    ends_on: date | None
    weighting: str = "design"
    margin_of_error: float = DEFAULT_MARGIN
    unit_ids: list[int] = field(default_factory=list)


# --- visibility --------------------------------------------------------------------------------

def visible_campaigns(user: User) -> list[Campaign]:
    """Campaigns the user can see (see ``scope.campaign_in_scope``), newest period first."""
    from .scope import campaign_in_scope
    return list(db.session.scalars(select(Campaign).where(campaign_in_scope(user))
                                   .order_by(Campaign.starts_on.desc(), Campaign.id.desc())))


def get_campaign(campaign_id: object, user: User) -> Campaign:
    """The campaign, or 404 if it does not exist or has no unit in the user's subtree."""
    from .scope import get_in_scope
    return get_in_scope(Campaign, campaign_id, user)


def can_edit(campaign: Campaign, user: User) -> bool:
    """Admins whose subtree holds every unit of the campaign may edit it."""
    allowed = subtree_ids(user)
    return user.role == "admin" and all(cu.unit_id in allowed for cu in campaign.units)


# --- create and edit ---------------------------------------------------------------------------

def save_campaign(campaign: Campaign | None, data: CampaignInput, *, user: User | None,
                  actor: str) -> Campaign:
    """Create (``campaign`` None) or update a campaign and its unit list; raise UnitError."""
    code, name = nfc(data.code).lower(), nfc(data.name)
    _validate(campaign, data, code, name, user)
    version_locked = campaign is not None and _has_responses(campaign)
    if version_locked and data.questionnaire_version_id != campaign.questionnaire_version_id:
        raise UnitError(_l("Đợt đã có phiếu trả lời nên không thể đổi phiên bản bảng hỏi."),
                        "questionnaire_version_id")
    before = _snapshot(campaign) if campaign else None
    if campaign is None:
        campaign = Campaign(code=code)
        db.session.add(campaign)
    campaign.code, campaign.name = code, name
    campaign.questionnaire_version_id = data.questionnaire_version_id
    campaign.starts_on, campaign.ends_on = data.starts_on, data.ends_on
    campaign.weighting, campaign.margin_of_error = data.weighting, data.margin_of_error
    db.session.flush()
    _set_units(campaign, set(data.unit_ids))
    db.session.flush()
    after = _snapshot(campaign)
    changes = {k: [before[k], v] for k, v in after.items() if before and before[k] != v}
    audit.record("campaign.update" if before else "campaign.create", actor,
                 user_id=user.id if user else None, object_type="campaign", object_id=campaign.id,
                 **({"changes": changes} if before else after))
    return campaign


def _validate(campaign, data: CampaignInput, code: str, name: str, user: User | None) -> None:
    """Every rule a form cannot express by itself."""
    if not CODE_RE.match(code):
        raise UnitError(_l("Mã đợt chỉ gồm chữ thường không dấu, chữ số và . _ - (tối đa 64 ký tự)."), "code")
    clash = db.session.scalar(select(Campaign).where(Campaign.code == code))
    if clash is not None and clash is not campaign:
        raise UnitError(_l("Đã có đợt khảo sát mã «%(code)s»."), "code", code=code)
    if not name:
        raise UnitError(_l("Vui lòng nhập tên đợt."), "name")
    if data.questionnaire_version_id is None or db.session.get(
            QuestionnaireVersion, data.questionnaire_version_id) is None:
        raise UnitError(_l("Vui lòng chọn một phiên bản bảng hỏi đã công bố."), "questionnaire_version_id")
    if data.starts_on is None or data.ends_on is None:
        raise UnitError(_l("Vui lòng nhập ngày bắt đầu và ngày kết thúc."), "starts_on")
    if data.ends_on < data.starts_on:
        raise UnitError(_l("Ngày kết thúc phải sau ngày bắt đầu."), "ends_on")
    if data.weighting not in WEIGHTINGS:
        raise UnitError(_l("Cách tính trọng số không hợp lệ."), "weighting")
    if not 0.005 <= data.margin_of_error <= 0.5:
        raise UnitError(_l("Sai số cho phép phải từ 0,5 đến 50 phần trăm."), "margin_of_error")
    if not data.unit_ids:
        raise UnitError(_l("Chọn ít nhất một đơn vị tham gia đợt khảo sát."), "unit_ids")
    allowed = subtree_ids(user)
    known = set(db.session.scalars(select(Unit.id).where(Unit.id.in_(data.unit_ids))))
    if known != set(data.unit_ids) or (allowed is not None and not known <= allowed):
        raise UnitError(_l("Có đơn vị nằm ngoài phạm vi quản lý của bạn."), "unit_ids")


def _has_responses(campaign: Campaign, unit_id: int | None = None) -> bool:
    """Whether the campaign (or one of its units) has any response."""
    query = select(Response.id).where(Response.campaign_id == campaign.id)
    if unit_id is not None:
        query = query.where(Response.unit_id == unit_id)
    return db.session.scalar(query.limit(1)) is not None


def _set_units(campaign: Campaign, unit_ids: set[int]) -> None:
    """Add and remove campaign units; a unit with responses cannot be removed."""
    current = {cu.unit_id: cu for cu in campaign.units}
    for unit_id in set(current) - unit_ids:
        if _has_responses(campaign, unit_id):
            raise UnitError(_l("Đơn vị «%(name)s» đã có phiếu trả lời nên không thể bỏ khỏi đợt."),
                            "unit_ids", name=current[unit_id].unit.name)
        campaign.units.remove(current[unit_id])
        db.session.delete(current[unit_id])
    for unit_id in unit_ids - set(current):
        campaign.units.append(CampaignUnit(campaign_id=campaign.id, unit_id=unit_id))


def _snapshot(campaign: Campaign) -> dict:
    """The audited state of a campaign."""
    return {"code": campaign.code, "name": campaign.name,
            "questionnaire_version_id": campaign.questionnaire_version_id,
            "starts_on": campaign.starts_on.isoformat(), "ends_on": campaign.ends_on.isoformat(),
            "weighting": campaign.weighting, "margin_of_error": campaign.margin_of_error,
            "unit_ids": sorted(cu.unit_id for cu in campaign.units)}


# --- sample targets ----------------------------------------------------------------------------

@dataclass(frozen=True)
class TargetRow:
    """One campaign unit: transactions N over the basis months, formula n, stored target."""

    unit: Unit
    population: int | None
    suggested: int | None
    target_n: int | None


def month_start(day: date) -> date:
    """First day of the month of ``day``."""
    return day.replace(day=1)


def transactions_by_unit(unit_ids: list[int], first: date, last: date) -> dict[int, int]:
    """Σ transactions per unit over the months from ``first`` to ``last`` (all fields)."""
    rows = db.session.execute(
        select(PopulationCount.unit_id, func.sum(PopulationCount.transactions))
        .where(PopulationCount.unit_id.in_(unit_ids),
               PopulationCount.month >= month_start(first), PopulationCount.month <= month_start(last))
        .group_by(PopulationCount.unit_id))
    return {unit_id: int(total) for unit_id, total in rows}


def target_rows(campaign: Campaign, user: User | None, first: date | None = None,
                last: date | None = None) -> list[TargetRow]:
    """Targets of the campaign's units visible to the user; N over the basis months."""
    allowed = subtree_ids(user)
    units = [cu for cu in campaign.units if allowed is None or cu.unit_id in allowed]
    counts = transactions_by_unit([cu.unit_id for cu in units], first or campaign.starts_on,
                                  last or campaign.ends_on)
    rows = []
    for cu in sorted(units, key=lambda c: c.unit.code):
        population = counts.get(cu.unit_id)
        suggested = None if population is None else sample_size(population, campaign.margin_of_error)
        rows.append(TargetRow(cu.unit, population, suggested, cu.target_n))
    return rows


def compute_targets(campaign: Campaign, *, user: User | None, actor: str, first: date | None = None,
                    last: date | None = None) -> list[TargetRow]:
    """Store n = ⌈N/(1+N·e²)⌉ as each unit's target; units without transaction data keep theirs."""
    first, last = first or campaign.starts_on, last or campaign.ends_on
    if last < first:
        raise UnitError(_l("Tháng cuối phải sau tháng đầu."), "last")
    rows = target_rows(campaign, user, first, last)
    by_unit = {cu.unit_id: cu for cu in campaign.units}
    changed = {}
    for row in rows:
        if row.suggested is not None and row.suggested != row.target_n:
            by_unit[row.unit.id].target_n = row.suggested
            changed[row.unit.code] = [row.target_n, row.suggested]
    db.session.flush()
    audit.record("campaign.targets", actor, user_id=user.id if user else None, object_type="campaign",
                 object_id=campaign.id, margin_of_error=campaign.margin_of_error,
                 months=[first.isoformat()[:7], last.isoformat()[:7]], changes=changed,
                 without_data=[r.unit.code for r in rows if r.population is None])
    return target_rows(campaign, user, first, last)


def set_target(campaign: Campaign, unit_id: int, target_n: int | None, *, user: User | None,
               actor: str) -> None:
    """Override one unit's target by hand (recorded)."""
    allowed = subtree_ids(user)
    cu = next((c for c in campaign.units if c.unit_id == unit_id), None)
    if cu is None or (allowed is not None and unit_id not in allowed):
        abort(404)
    if target_n is not None and target_n < 0:
        raise UnitError(_l("Chỉ tiêu phải là số không âm."), "target_n")
    before, cu.target_n = cu.target_n, target_n
    db.session.flush()
    audit.record("campaign.target", actor, user_id=user.id if user else None, object_type="campaign",
                 object_id=campaign.id, unit_id=unit_id, before=before, after=target_n)


def questionnaire_versions() -> list[QuestionnaireVersion]:
    """Published questionnaire versions, for the campaign form."""
    return list(db.session.scalars(select(QuestionnaireVersion).order_by(
        QuestionnaireVersion.questionnaire_id, QuestionnaireVersion.version.desc())))
