"""Questionnaire definitions: YAML files in ``questionnaires/``, parsed into frozen dataclasses.

``load_questionnaire("sipas-counter")`` gives the newest version of a shipped questionnaire,
``load_questionnaire("sipas-counter@1")`` a given version, and a path loads any file.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from .model import (
    NOT_APPLICABLE,
    NOT_APPLICABLE_LABEL,
    SATISFACTION_LABELS,
    YES_NO_LABELS,
    Condition,
    IndexNode,
    Item,
    Option,
    Questionnaire,
    Section,
)
from .parse import FILE_RE, content_hash, parse_file
from .source import QuestionnaireError

__all__ = [
    "NOT_APPLICABLE", "NOT_APPLICABLE_LABEL", "SATISFACTION_LABELS", "YES_NO_LABELS",
    "Condition", "IndexNode", "Item", "Option", "Questionnaire", "QuestionnaireError", "Section",
    "content_hash", "definitions_dir", "load_questionnaire", "shipped_files",
]


def definitions_dir() -> Path:
    """Folder of shipped definitions (``SIPAS_QUESTIONNAIRES_DIR`` overrides it)."""
    override = os.environ.get("SIPAS_QUESTIONNAIRES_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "questionnaires"


def shipped_files(folder: Path | None = None) -> list[Path]:
    """Every ``<id>.v<N>.yaml`` file in the definitions folder, sorted."""
    folder = folder or definitions_dir()
    return sorted(p for p in folder.glob("*.y*ml") if FILE_RE.match(p.name))


def load_questionnaire(id_or_path: str | Path) -> Questionnaire:
    """Load a questionnaire by ``id``, ``id@version`` or file path; raise QuestionnaireError."""
    path = Path(id_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return _parse_cached(path.resolve(), _stamp(path))
    name, _, version = str(id_or_path).partition("@")
    candidates = [(int(m["version"]), p) for p in shipped_files()
                  if (m := FILE_RE.match(p.name)) and m["id"] == name]
    if version:
        candidates = [c for c in candidates if str(c[0]) == version]
    if not candidates:
        known = sorted({FILE_RE.match(p.name)["id"] for p in shipped_files()})
        raise QuestionnaireError(
            [f"no questionnaire {id_or_path!r} in {definitions_dir()}; known: {', '.join(known)}"]
        )
    path = max(candidates)[1]
    return _parse_cached(path, _stamp(path))


def _stamp(path: Path) -> str:
    """Digest of the file bytes, so an edited file is parsed again (mtimes can be coarse)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


@lru_cache(maxsize=64)
def _parse_cached(path: Path, stamp: str) -> Questionnaire:
    """Parse once per file version on disk (the public form renders from this)."""
    return parse_file(path)
