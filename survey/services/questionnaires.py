"""Publishing questionnaire versions: immutable, keyed by content hash."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from ..extensions import db
from ..models import QuestionnaireVersion
from ..questionnaires import Questionnaire, QuestionnaireError, load_questionnaire
from ..questionnaires.parse import build
from .audit import record


class PublishError(Exception):
    """A published version would change: the file was edited without a new version number."""


def publish_questionnaire(q: Questionnaire, actor: str = "cli") -> tuple[QuestionnaireVersion, bool]:
    """Store ``q`` once; return (stored version, created?). Refuse a changed published version."""
    stored = db.session.scalar(
        select(QuestionnaireVersion).filter_by(questionnaire_id=q.id, version=q.version)
    )
    if stored is not None:
        if stored.content_hash != q.content_hash:
            raise PublishError(
                f"{q.key} is already published with different content "
                f"(stored hash {stored.content_hash[:12]}, file hash {q.content_hash[:12]}). "
                f"A published version is never edited: copy the file to version {q.version + 1} "
                f"and change the copy."
            )
        return stored, False
    stored = QuestionnaireVersion(questionnaire_id=q.id, version=q.version,
                                  content_hash=q.content_hash, definition=q.source)
    db.session.add(stored)
    db.session.flush()
    record("questionnaire.publish", actor, object_type="questionnaire_version",
           object_id=stored.id, key=q.key, content_hash=q.content_hash)
    return stored, True


def questionnaire_of(version: QuestionnaireVersion) -> Questionnaire:
    """The parsed definition of a stored version (shipped file if identical, else stored copy).

    Parsed once per process and version: the public form renders from this on every request,
    and the stored JSON copy is only read when the shipped file is missing or differs.
    """
    cached = _CACHE.get(version.id)
    if cached is not None and cached.content_hash == version.content_hash:
        return cached
    try:
        q = load_questionnaire(f"{version.questionnaire_id}@{version.version}")
    except QuestionnaireError:
        q = None
    if q is None or q.content_hash != version.content_hash:
        label = f"<stored {version.questionnaire_id}@{version.version}>"
        q = build(version.definition, {}, Path(label))
    _CACHE[version.id] = q
    return q


_CACHE: dict[int, Questionnaire] = {}
