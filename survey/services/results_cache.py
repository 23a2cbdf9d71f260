"""Per-cell counts of a campaign kept in the instance folder until its responses change.

A results page at 1,000,000 responses spends ~10 s forming the per-cell sums; switching the
weighting, the CI method, the indicator shown or the unit of the element profile needs the
same sums again (weights are applied afterwards, see :mod:`analysis.counts`).  The sums are
stored in ``instance/results-cache`` under a key made of the campaign (id, code, creation
time), the questionnaire version's hash, the breakdowns, the method and a fingerprint of the
included responses.  Responses and answers are append-only (database triggers) and a response's
answers go in with it, so the campaign's set of responses is fixed by their number; what a
reviewer or a burst can change is which of them are left out (excluded, or flagged when flagged
responses are left out), and those few ids are hashed whole.  The fingerprint is therefore
(number of responses, hash of the left-out ids): a stored entry is used only for exactly the
responses it was made from — a sum or range of ids would not do, since excluding 5 and 7 instead
of 4 and 8 keeps both.  Files are written whole and renamed; a campaign keeps its latest entry per
breakdown set.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from ..extensions import db
from ..models import Response
from .results import Scope, review_rows

VERSION = 3  # bump when the stored counts change shape or meaning (3: improve-most counts)


def cached_cells(scope: Scope, method: str, variables: Sequence[str],
                 groupings: Sequence[tuple[str, ...]], compute: Callable[[], dict]) -> dict:
    """The stored counts for exactly these responses, or ``compute()`` them and store them."""
    folder = Path(current_app.instance_path) / "results-cache"
    shape = repr((VERSION, method, tuple(variables), tuple(groupings), scope.include_flagged,
                  scope.campaign.code, str(scope.campaign.created_at), str(db.engine.url),
                  scope.campaign.questionnaire_version.content_hash))
    family = hashlib.sha256(shape.encode()).hexdigest()[:16]
    key = hashlib.sha256((shape + repr(_fingerprint(scope))).encode()).hexdigest()[:24]
    path = folder / f"{scope.campaign.id}-{family}-{key}.pickle"
    try:
        with path.open("rb") as fh:
            return pickle.load(fh)  # written by this function only, in the instance folder
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError):
        pass
    raw = compute()
    _store(folder, path, raw, f"{scope.campaign.id}-{family}-")
    return raw


def _fingerprint(scope: Scope) -> tuple[int, str]:
    """Number of the campaign's responses and a hash of the ids left out of the report.

    The left-out ids (excluded, and flagged ones when flagged responses are left out) come from
    the partial review index (:func:`results.review_rows`), so only those few rows are read
    however large the campaign.  The number of responses is the one
    :func:`results.campaign_report` has just counted.
    """
    total = scope.n_responses
    if total is None:
        total = db.session.scalar(select(func.count()).select_from(Response)
                                  .where(Response.campaign_id == scope.campaign.id))
    digest = hashlib.sha256()
    for response_id, excluded in review_rows(scope.campaign.id):
        if excluded or not scope.include_flagged:  # a review row not excluded is flagged
            digest.update(b"%d," % response_id)
    return int(total or 0), digest.hexdigest()


def _store(folder: Path, path: Path, raw: dict, prefix: str) -> None:
    """Write ``raw`` atomically; drop older entries of the same campaign and breakdowns."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(raw, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        for old in folder.glob(f"{prefix}*.pickle"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        current_app.logger.warning("results cache: could not write %s", path)
