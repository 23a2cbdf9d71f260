"""The API's use-case: one single-use QR code per dossier, for the unit that owns the API key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from ..extensions import db
from ..models import ApiKey, Counter, EntryPoint, ProcedureField, Unit
from .minting import current_campaign, entry_url, mint_for_dossier

TEXT_LIMITS = {"dossier_code": 100, "procedure_code": 64, "field": 64, "counter": 32}
REQUIRED = ("dossier_code",)


class TokenRequestError(ValueError):
    """A request the API refuses: ``status`` (400 or 409), ``error`` code, per-field messages."""

    def __init__(self, status: int, error: str, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.fields = status, error, message, fields or {}


@dataclass(frozen=True)
class TokenRequest:
    """A validated ``POST /api/v1/tokens`` body."""

    dossier_code: str
    procedure_code: str | None = None
    field: str | None = None
    counter: str | None = None


def parse_token_request(body: object) -> TokenRequest:
    """Check the JSON body; raise TokenRequestError(400) naming every wrong field."""
    if not isinstance(body, dict):
        raise TokenRequestError(400, "invalid_request", "Nội dung phải là một đối tượng JSON.",
                                {"body": "Expected a JSON object."})
    errors: dict[str, str] = {}
    for name in body:
        if name not in TEXT_LIMITS:
            errors[name] = "Unknown field."
    for name, limit in TEXT_LIMITS.items():
        value = body.get(name)
        if value is None:
            if name in REQUIRED:
                errors[name] = "Required."
        elif not isinstance(value, str):
            errors[name] = "Must be a string."
        elif not value.strip():
            errors[name] = "Must not be empty."
        elif len(value) > limit:
            errors[name] = f"At most {limit} characters."
    if errors:
        raise TokenRequestError(400, "invalid_request", "Dữ liệu gửi lên không hợp lệ.", errors)
    return TokenRequest(**{k: body[k].strip() for k in TEXT_LIMITS if body.get(k) is not None})


def issue_token(key: ApiKey, request: TokenRequest, *, hash_key: str,
                valid_days: int) -> tuple[EntryPoint, bool]:
    """The dossier's code at the key's unit: (entry, created). Same dossier → same code."""
    unit = db.session.get(Unit, key.unit_id)
    counter = field_ = None
    if request.counter:
        counter = db.session.scalar(select(Counter).filter_by(unit_id=unit.id, code=request.counter))
        if counter is None:
            raise TokenRequestError(400, "invalid_request", "Dữ liệu gửi lên không hợp lệ.",
                                    {"counter": "No counter with this code in the key's unit."})
    if request.field:
        field_ = db.session.scalar(select(ProcedureField).filter_by(code=request.field))
        if field_ is None:
            raise TokenRequestError(400, "invalid_request", "Dữ liệu gửi lên không hợp lệ.",
                                    {"field": "Unknown procedure field code."})
    elif request.procedure_code:  # a national procedure code we know maps to its field
        field_ = db.session.scalar(select(ProcedureField).filter_by(
            procedure_code=request.procedure_code).order_by(ProcedureField.id).limit(1))
    campaign = current_campaign(unit)
    if campaign is None:
        raise TokenRequestError(409, "no_open_campaign",
                                "Đơn vị không có đợt khảo sát nào đang diễn ra.")
    return mint_for_dossier(key=hash_key, unit=unit, dossier_code=request.dossier_code,
                            campaign=campaign, counter=counter, field=field_,
                            valid_days=valid_days)


def token_for_key(key: ApiKey, code: str) -> EntryPoint | None:
    """A dossier code's entry point if it belongs to the key's unit."""
    return db.session.scalar(select(EntryPoint).filter_by(code=code.upper(), unit_id=key.unit_id))


def token_json(entry: EntryPoint, base_url: str) -> dict:
    """The API's view of an entry point: code, URL, expiry (UTC, ISO 8601) and state."""
    until = entry.active_until
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    now = datetime.now(UTC)
    state = ("revoked" if entry.revoked_at else "used" if entry.used_at
             else "expired" if until is not None and until < now else "open")
    return {"code": entry.code, "url": entry_url(base_url, entry.code),
            "expires_at": until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if until else None,
            "state": state}
