"""Parsed questionnaire: frozen dataclasses the form, the services and the analysis share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SATISFACTION_LABELS: dict[int, dict[str, str]] = {
    1: {"vi": "Rất không hài lòng", "en": "Very dissatisfied"},
    2: {"vi": "Không hài lòng", "en": "Dissatisfied"},
    3: {"vi": "Bình thường", "en": "Neutral"},
    4: {"vi": "Hài lòng", "en": "Satisfied"},
    5: {"vi": "Rất hài lòng", "en": "Very satisfied"},
}
YES_NO_LABELS: dict[int, dict[str, str]] = {
    1: {"vi": "Có", "en": "Yes"},
    0: {"vi": "Không", "en": "No"},
}
NOT_APPLICABLE_LABEL = {"vi": "Không áp dụng / Không biết", "en": "Not applicable / Don't know"}
NOT_APPLICABLE = "na"

QUESTION_TYPES = (
    "satisfaction", "scale", "single_choice", "multiple_choice", "yes_no", "number", "text",
)
SCORINGS = ("top2", "normalised", "share", "reversed", "anchored")
DEFAULT_MIN_ANSWERS = 10


@dataclass(frozen=True)
class Option:
    """One choice of a single- or multiple-choice question."""

    code: str
    label: dict[str, str]


@dataclass(frozen=True)
class Condition:
    """Show a block only when an earlier answer matches (``op`` is equals/in/not_in/contains)."""

    item: str
    op: str
    values: tuple[object, ...]

    def holds(self, answers: dict[str, object]) -> bool:
        """Whether the condition is true for ``answers`` (code → stored value)."""
        value = answers.get(self.item)
        if self.op == "contains":
            return isinstance(value, list | tuple) and any(v in value for v in self.values)
        if value is None:
            return False
        if self.op == "not_in":
            return value not in self.values
        return value in self.values


@dataclass(frozen=True)
class Item:
    """A question (câu hỏi). ``points`` is K for 1..K scales, 2 for yes/no, else None."""

    code: str
    type: str
    text: dict[str, str]
    points: int | None = None
    allow_na: bool = False
    required: bool = False
    labels: dict[int, dict[str, str]] | None = None
    options: tuple[Option, ...] = ()
    max_choices: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    help: dict[str, str] | None = None
    when: Condition | None = None
    section: str = ""
    demographic: bool = False

    @property
    def is_rated(self) -> bool:
        """True for items answered on a 1..K scale (criteria candidates, mean scores)."""
        return self.type in ("satisfaction", "scale")


@dataclass(frozen=True)
class Section:
    """A block of questions with a title; may be conditional or the respondent block."""

    code: str
    title: dict[str, str]
    items: tuple[str, ...]
    intro: dict[str, str] | None = None
    when: Condition | None = None
    demographic: bool = False


@dataclass(frozen=True)
class IndexNode:
    """Node of the index tree: a criterion on one item, or a group of children.

    A PAPI count criterion (``scoring == "count"``) reads several yes/no ``items`` (``item`` is
    the first); an ``anchored`` criterion scores a number item between ``anchors`` (worst,
    best).
    """

    code: str
    label: dict[str, str]
    kind: str
    item: str | None = None
    scoring: str | None = None
    children: tuple[str, ...] = ()
    aggregate: str | None = None
    weights: tuple[float, ...] | None = None
    scale: tuple[float, float] | None = None
    items: tuple[str, ...] = ()
    anchors: tuple[float, float] | None = None


@dataclass(frozen=True)
class Questionnaire:
    """A published questionnaire version (phiên bản bảng hỏi), immutable once loaded."""

    id: str
    version: int
    content_hash: str
    title: dict[str, str]
    sections: tuple[Section, ...]
    items: dict[str, Item]
    index_nodes: tuple[IndexNode, ...] = ()
    index_root: str | None = None
    percent: bool = True
    min_answers: int = DEFAULT_MIN_ANSWERS
    intro: dict[str, str] | None = None
    thanks: dict[str, str] | None = None
    source: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        """``id@version``, the name used in messages and on the command line."""
        return f"{self.id}@{self.version}"

    def node(self, code: str) -> IndexNode:
        """The index node with ``code``."""
        return next(n for n in self.index_nodes if n.code == code)

    def criteria(self) -> tuple[IndexNode, ...]:
        """Criterion nodes in tree order."""
        return tuple(n for n in self.index_nodes if n.kind == "criterion")

    def labels_for(self, item: Item) -> dict[int, dict[str, str]]:
        """Answer labels of a rated or yes/no item, highest meaning first for display."""
        if item.type == "satisfaction":
            return SATISFACTION_LABELS
        if item.type == "yes_no":
            return YES_NO_LABELS
        return item.labels or {}

    def to_dict(self) -> dict:
        """Plain JSON-able description: items with codes, types and scales; the index tree."""
        return {
            "id": self.id,
            "version": self.version,
            "content_hash": self.content_hash,
            "title": self.title,
            "percent": self.percent,
            "sections": [
                {"code": s.code, "title": s.title, "items": list(s.items),
                 "demographic": s.demographic,
                 "when": asdict(s.when) if s.when else None}
                for s in self.sections
            ],
            "items": [_item_dict(i) for i in self.items.values()],
            "index": {
                "root": self.index_root,
                "nodes": [
                    {k: v for k, v in asdict(n).items() if v not in (None, ())}
                    for n in self.index_nodes
                ],
                **({"min_answers": self.min_answers}
                   if self.min_answers != DEFAULT_MIN_ANSWERS else {}),
            },
        }


def _item_dict(item: Item) -> dict:
    """JSON-able view of one item, omitting empty fields."""
    out = {k: v for k, v in asdict(item).items() if v not in (None, (), False) or k == "required"}
    if item.labels:
        out["labels"] = {str(k): v for k, v in item.labels.items()}
    if item.type == "satisfaction":
        out["labels"] = {str(k): v for k, v in SATISFACTION_LABELS.items()}
    return out
