"""Exports of a campaign (xuất dữ liệu): raw CSV, XLSX report, SPSS .sav and PDF report.

One entry point, :func:`write_export`, used by the web jobs (:mod:`.jobs`) and by
``sipas export``.  A file is written beside its final name and renamed only when complete, so a
failed export leaves nothing behind.  ``viewer`` limits an export to the viewer's unit subtree
(a unit manager's export never holds another unit's responses or figures).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from ...extensions import db
from ...models import Campaign

FORMATS: dict[str, tuple[str, str]] = {
    "csv": (".csv", "text/csv"),  # Werkzeug adds "; charset=utf-8" to text/* types
    "xlsx": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "sav": (".sav", "application/x-spss-sav"),
    "pdf": (".pdf", "application/pdf"),
}
WEIGHTINGS = ("unweighted", "design", "raked")

Progress = Callable[[float, str], None]


class ExportError(ValueError):
    """The export cannot be made as asked (the message says why)."""


@dataclass(frozen=True)
class ExportOptions:
    """How the numbers of a report are formed (the raw data ignores them)."""

    weighting: str = "unweighted"
    compare_to: int | None = None
    include_flagged: bool = True
    ci: str = "logit"
    papi_compatible: bool = False  # intervals ± 1.645·SE, labelled as PAPI's (really 90 %)

    def to_dict(self) -> dict:
        """JSON-able form (stored with an export job)."""
        return {"weighting": self.weighting, "compare_to": self.compare_to,
                "include_flagged": self.include_flagged, "ci": self.ci,
                "papi_compatible": self.papi_compatible}

    @classmethod
    def from_dict(cls, data: dict | None) -> ExportOptions:
        """Back from :meth:`to_dict` (unknown keys ignored)."""
        data = data or {}
        return cls(**{k: data[k] for k in ("weighting", "compare_to", "include_flagged", "ci",
                                           "papi_compatible") if k in data})


def default_options(campaign: Campaign) -> ExportOptions:
    """The campaign's own weighting (``equal`` is unweighted)."""
    weighting = "unweighted" if campaign.weighting == "equal" else campaign.weighting
    return ExportOptions(weighting=weighting if weighting in ("unweighted", "design")
                         else "unweighted")


def find_campaign(ref: str | int) -> Campaign:
    """A campaign by code, or by numeric id; :class:`ExportError` when there is none."""
    text = str(ref).strip()
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == text))
    if campaign is None and text.isdigit():
        campaign = db.session.get(Campaign, int(text))
    if campaign is None:
        raise ExportError(f"no campaign with code or id {text!r}")
    return campaign


def check_options(fmt: str, options: ExportOptions, campaign: Campaign) -> None:
    """Refuse an unknown format or weighting, or comparing a campaign with itself."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: use {', '.join(FORMATS)}")
    if options.weighting not in WEIGHTINGS:
        raise ExportError(f"unknown weighting {options.weighting!r}: use {', '.join(WEIGHTINGS)}")
    if options.compare_to is not None:
        if options.compare_to == campaign.id:
            raise ExportError("a campaign cannot be compared with itself")
        if db.session.get(Campaign, options.compare_to) is None:
            raise ExportError(f"no campaign with id {options.compare_to} to compare with")


def write_export(fmt: str, campaign: Campaign, path: Path, *, options: ExportOptions | None = None,
                 viewer=None, progress: Progress | None = None) -> int:
    """Write the ``fmt`` export of ``campaign`` to ``path`` atomically; return its row count.

    Raises :class:`ExportError` (nothing written) when the export cannot be made.
    """
    options = options or default_options(campaign)
    check_options(fmt, options, campaign)
    progress = progress or (lambda fraction, message: None)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            rows = _writer(fmt)(campaign, fh, options=options, viewer=viewer, progress=progress)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows


def _writer(fmt: str) -> Callable[..., int]:
    """The function writing one format."""
    if fmt == "csv":
        return _csv
    if fmt == "sav":
        from .sav import write_sav
        return write_sav
    if fmt == "xlsx":
        from .xlsx import write_xlsx
        return write_xlsx
    from .pdf import write_pdf
    return write_pdf


def _csv(campaign: Campaign, fh, *, options: ExportOptions, viewer, progress: Progress) -> int:
    """The raw CSV, with progress per thousand rows."""
    from .raw import raw_export
    from .raw_csv import write_csv
    export = raw_export(campaign, viewer=viewer, include_flagged=options.include_flagged)
    total = max(export.count(), 1)
    done = [0]

    def step(rows: int) -> None:
        done[0] = rows
        progress(rows / total, f"{rows:,} / {total:,}")

    write_csv(export, fh, step)
    return done[0]
