"""Index tree: criteria (tiêu chí) scored per respondent, groups (yếu tố, chỉ số) combining them.

The tree is plain data owned by this package; :meth:`IndexTree.from_questionnaire` reads it from
any object shaped like ``survey.questionnaires.Questionnaire`` without importing ``survey``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Criterion", "Group", "IndexTree", "TreeValues", "criterion_values", "evaluate_tree", "score",
    "score_answered",
]

SCORINGS = ("top2", "normalised", "share", "reversed", "count", "anchored")
# Scorings whose per-respondent value is not one stored 1..K answer: a count over several yes/no
# items, or a number between fixed anchors (PAPI).  Database reports read respondent rows for them.
ROW_SCORINGS = ("count", "anchored")
DEFAULT_MIN_ANSWERS = 10


@dataclass(frozen=True)
class Criterion:
    """A criterion: one item scored per respondent into ``[0, 1]``.

    Attributes
    ----------
    code : str
        Node code in the index tree.
    item : str
        Code of the item (question) it scores.
    scoring : str
        ``"top2"``, ``"normalised"``, ``"share"``, ``"reversed"``, ``"count"`` (share of Có
        among the yes/no ``items`` the respondent answered: x/C when all C are answered) or
        ``"anchored"`` (a number scored ``(x - worst) / (best - worst)``, clipped to [0, 1]).
    points : int
        K of a 1..K scale; 2 for yes/no items; C for a count.
    binary : bool
        True for yes/no items stored as 1 (Có) / 0 (Không).
    label : dict or None
        ``{"vi": ..., "en": ...}``.
    items : tuple of str
        ``count``: the C yes/no items counted (``item`` is the first of them).
    anchors : (worst, best) or None
        ``anchored``: the values scored 0 and 1 (e.g. ``(60, 0)`` minutes of walking).
    """

    code: str
    item: str
    scoring: str = "top2"
    points: int = 5
    binary: bool = False
    label: dict[str, str] | None = field(default=None, compare=False)
    items: tuple[str, ...] = ()
    anchors: tuple[float, float] | None = None

    @property
    def has_mean_score(self) -> bool:
        """Criteria on a 1..K scale also get a mean score."""
        return not self.binary and self.scoring not in ROW_SCORINGS

    @property
    def sources(self) -> tuple[str, ...]:
        """The items whose answers form this criterion's value."""
        return self.items if self.scoring == "count" else (self.item,)


@dataclass(frozen=True)
class Group:
    """A group node: ``mean`` (optionally weighted, optionally scaled) or ``sum`` of children.

    Attributes
    ----------
    code : str
    children : tuple of str
        Codes of criteria or groups defined earlier in the tree.
    aggregate : str
        ``"mean"`` or ``"sum"``.
    weights : tuple of float or None
        Child weights of a weighted mean.
    scale : (L, U) or None
        ``mean``: value is ``L + (U - L) * mean`` (a PAPI sub-dimension); ``sum``: documents
        the range.
    label : dict or None
    """

    code: str
    children: tuple[str, ...]
    aggregate: str = "mean"
    weights: tuple[float, ...] | None = None
    scale: tuple[float, float] | None = None
    label: dict[str, str] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class IndexTree:
    """Criteria and groups, children before parents; ``root`` is the top index.

    Attributes
    ----------
    criteria : tuple of Criterion
    groups : tuple of Group
        In evaluation order (every child before its parent).
    root : str or None
    percent : bool
        Report indices on 0-1 as percentages (SIPAS); False for PAPI scores.
    order : tuple of str
        All node codes in questionnaire order, used to order the output.
    min_answers : int
        An indicator with fewer valid answers is flagged ``suppressed`` (not shown): 10 for
        SIPAS, 15 for PAPI.
    """

    criteria: tuple[Criterion, ...]
    groups: tuple[Group, ...] = ()
    root: str | None = None
    percent: bool = True
    order: tuple[str, ...] = ()
    min_answers: int = DEFAULT_MIN_ANSWERS

    def __post_init__(self) -> None:
        codes = [c.code for c in self.criteria] + [g.code for g in self.groups]
        if len(set(codes)) != len(codes):
            raise ValueError("index node codes must be unique")
        known = {c.code for c in self.criteria}
        for group in self.groups:
            missing = [c for c in group.children if c not in known]
            if missing or not group.children:
                raise ValueError(f"group {group.code!r}: children must be defined before it "
                                 f"({', '.join(missing) or 'none given'})")
            if group.aggregate not in ("mean", "sum"):
                raise ValueError(f"group {group.code!r}: aggregate must be mean or sum")
            if group.weights is not None and len(group.weights) != len(group.children):
                raise ValueError(f"group {group.code!r}: one weight per child")
            known.add(group.code)
        for crit in self.criteria:
            if crit.scoring not in SCORINGS:
                raise ValueError(f"criterion {crit.code!r}: unknown scoring {crit.scoring!r}")
            if crit.scoring == "count" and not crit.items:
                raise ValueError(f"criterion {crit.code!r}: a count needs its items")
            if crit.scoring == "anchored" and (crit.anchors is None
                                               or crit.anchors[0] == crit.anchors[1]):
                raise ValueError(f"criterion {crit.code!r}: anchored needs two distinct anchors")
        if not self.order:
            object.__setattr__(self, "order", tuple(codes))

    @classmethod
    def from_questionnaire(cls, questionnaire: object) -> IndexTree:
        """Build from a questionnaire object (``index_nodes``, ``items``, ``percent``).

        Criterion nodes map to items through ``node.item`` (``node.items`` for a count);
        item ``points`` give K.
        """
        items = questionnaire.items  # type: ignore[attr-defined]
        criteria, groups, order = [], [], []
        for node in questionnaire.index_nodes:  # type: ignore[attr-defined]
            order.append(node.code)
            if node.kind == "criterion":
                criteria.append(_criterion(node, items))
            else:
                groups.append(Group(node.code, tuple(node.children), node.aggregate or "mean",
                                    node.weights, node.scale, node.label))
        return cls(tuple(criteria), tuple(groups),
                   getattr(questionnaire, "index_root", None),
                   bool(getattr(questionnaire, "percent", True)), tuple(order),
                   int(getattr(questionnaire, "min_answers", None) or DEFAULT_MIN_ANSWERS))

    @property
    def items(self) -> tuple[str, ...]:
        """Every item any criterion reads, in criterion order, each once."""
        return tuple(dict.fromkeys(code for c in self.criteria for code in c.sources))

    @property
    def needs_rows(self) -> bool:
        """True when a criterion combines items or scores a number (count, anchored): such a
        criterion is computed from each respondent's answers, not from one packed 1..K slot."""
        return any(c.scoring in ROW_SCORINGS for c in self.criteria)

    def criterion_index(self) -> dict[str, int]:
        """Criterion code -> column index."""
        return {c.code: k for k, c in enumerate(self.criteria)}

    def descendants(self, code: str) -> tuple[int, ...]:
        """Column indices of the criteria under ``code``."""
        index = self.criterion_index()
        if code in index:
            return (index[code],)
        group = next(g for g in self.groups if g.code == code)
        found: list[int] = []
        for child in group.children:
            found.extend(k for k in self.descendants(child) if k not in found)
        return tuple(found)

    def range_of(self, code: str) -> tuple[float, float]:
        """Range ``[lo, hi]`` of a node on its natural (0-1 or PAPI) scale."""
        if code in self.criterion_index():
            return (0.0, 1.0)
        group = next(g for g in self.groups if g.code == code)
        if group.scale is not None:
            return group.scale
        ranges = [self.range_of(c) for c in group.children]
        if group.aggregate == "sum":
            return (sum(r[0] for r in ranges), sum(r[1] for r in ranges))
        return (min(r[0] for r in ranges), max(r[1] for r in ranges))


def _criterion(node: object, items: Mapping) -> Criterion:
    """A :class:`Criterion` from a questionnaire index node."""
    scoring = node.scoring or "top2"  # type: ignore[attr-defined]
    code, label = node.code, node.label  # type: ignore[attr-defined]
    if scoring == "count":
        counted = tuple(node.items)  # type: ignore[attr-defined]
        return Criterion(code, counted[0], "count", len(counted), False, label, items=counted)
    item = items[node.item]  # type: ignore[attr-defined]
    if scoring == "anchored":
        return Criterion(code, item.code, "anchored", 2, False, label,
                         anchors=tuple(node.anchors))  # type: ignore[attr-defined]
    binary = item.type == "yes_no"
    return Criterion(code, item.code, scoring, 2 if binary else int(item.points), binary, label)


def criterion_values(tree: IndexTree, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """The ``(n, K)`` answers matrix :func:`analysis.analyse` takes, from per-item answers.

    Parameters
    ----------
    tree : IndexTree
    columns : mapping item code -> ndarray of float, shape (n,)
        Every item of ``tree.items``; NaN = not answered (skipped, not applicable, or in a block
        whose condition was false).

    Returns
    -------
    ndarray, shape (n, K)
        Column k is criterion k's value: its item's answer, or for a ``count`` the share of
        Có (1) among the counted items the respondent answered (NaN when none).

    Notes
    -----
    A count over C items is ``x / C`` for a respondent who answered all C; one who answered
    only some is scored on those (``x / answered``), like a sub-dimension is the mean over
    the items answered, rather than counting an unanswered criterion as "not met".
    """
    first = np.asarray(columns[tree.items[0]]) if tree.items else np.empty(0)
    out = np.full((first.shape[0], len(tree.criteria)), np.nan)
    for k, crit in enumerate(tree.criteria):
        if crit.scoring == "count":
            stack = np.column_stack([np.asarray(columns[i], dtype=float) for i in crit.items])
            answered = ~np.isnan(stack)
            m = answered.sum(axis=1)
            yes = np.where(answered, stack, 0.0).sum(axis=1)
            out[:, k] = np.where(m > 0, yes / np.maximum(m, 1), np.nan)
        else:
            out[:, k] = np.asarray(columns[crit.item], dtype=float)
    return out


def score(values: np.ndarray, criterion: Criterion) -> tuple[np.ndarray, np.ndarray]:
    """Score answers into ``y`` (in [0, 1]) and the answered indicator ``r``.

    Parameters
    ----------
    values : ndarray of float
        Answers; NaN = not answered (skipped or not applicable).
    criterion : Criterion

    Returns
    -------
    y, r : ndarray of float, same shape as ``values``
        ``y = 0`` where not answered.

    Notes
    -----
    ``top2``: 1 when ``x >= K - 1`` (4 or 5 on the 1-5 SIPAS scale); ``normalised``:
    ``(x - 1) / (K - 1)``; ``share``: ``x`` for yes/no (1 = Có); ``reversed``: ``1 - x`` for
    yes/no, ``(K - x) / (K - 1)`` for scales; ``count``: ``x`` (already the share of criteria
    met, see :func:`criterion_values`); ``anchored``: ``(x - worst) / (best - worst)`` clipped
    to [0, 1].
    """
    r = ~np.isnan(values)
    y = score_answered(np.where(r, values, 0.0), criterion)
    return np.where(r, y, 0.0), r.astype(float)


def score_answered(x: np.ndarray, criterion: Criterion) -> np.ndarray:
    """The score formula of :func:`score` for answers known to be present (no masking)."""
    k = criterion.points
    if criterion.scoring == "top2":
        return (x >= k - 1).astype(float)
    if criterion.scoring == "normalised":
        return (x - 1.0) / (k - 1.0)
    if criterion.scoring in ("share", "count"):
        return x.astype(float)
    if criterion.scoring == "anchored":
        worst, best = criterion.anchors  # type: ignore[misc]
        return np.clip((x - worst) / (best - worst), 0.0, 1.0)
    if criterion.binary:
        return 1.0 - x
    return (k - x) / (k - 1.0)


@dataclass(frozen=True, eq=False)
class TreeValues:
    """Group values over D domains: ``value`` (D,), ``defined`` (D,), ``gradient`` (D, K)."""

    value: np.ndarray
    defined: np.ndarray
    gradient: np.ndarray


def evaluate_tree(tree: IndexTree, ratios: np.ndarray, defined: np.ndarray
                  ) -> dict[str, TreeValues]:
    """Evaluate every group as a linear combination of criterion ratios, for D domains at once.

    Parameters
    ----------
    tree : IndexTree
    ratios : ndarray, shape (D, K)
        Criterion indices ``P_k`` in each domain (any value where undefined).
    defined : ndarray of bool, shape (D, K)
        Whether criterion k has at least one answer in the domain.

    Returns
    -------
    dict code -> TreeValues
        For every node, criteria included (their gradient is the unit vector).

    Notes
    -----
    A ``mean`` group is ``θ = Σ_j a_j θ_j / Σ_j a_j`` over its children **with answers in the
    domain** (weights ``a_j``, default 1), then ``L + (U - L) θ`` when scaled; a child with no
    answer in a domain drops out and the others are reweighted (so a unit where nobody gave
    feedback still gets an overall index).  A ``sum`` is undefined when any child is.  Because
    every node is linear in the criterion ratios, ``θ = const + Σ_k g_k P_k``; ``gradient``
    holds ``g``.
    """
    n_dom, n_crit = ratios.shape
    out: dict[str, TreeValues] = {}
    eye = np.eye(n_crit)
    for k, crit in enumerate(tree.criteria):
        ok = defined[:, k]
        out[crit.code] = TreeValues(np.where(ok, ratios[:, k], np.nan), ok,
                                    np.broadcast_to(eye[k], (n_dom, n_crit)))
    for group in tree.groups:
        kids = [out[c] for c in group.children]
        if group.aggregate == "sum":
            ok = np.logical_and.reduce([kid.defined for kid in kids])
            value = np.sum([np.where(kid.defined, kid.value, 0.0) for kid in kids], axis=0)
            grad = np.sum([kid.gradient for kid in kids], axis=0)
            value = np.where(ok, value, np.nan)
            grad = np.where(ok[:, None], grad, 0.0)
        else:
            a = group.weights or (1.0,) * len(kids)
            eff = np.array([a_j * kid.defined for a_j, kid in zip(a, kids, strict=True)])
            total = eff.sum(axis=0)
            ok = total > 0
            share = np.divide(eff, total, out=np.zeros_like(eff), where=ok)
            value = np.sum([s * np.where(kid.defined, kid.value, 0.0)
                            for s, kid in zip(share, kids, strict=True)], axis=0)
            grad = np.sum([s[:, None] * kid.gradient for s, kid in zip(share, kids, strict=True)],
                          axis=0)
            if group.scale is not None:
                lo, hi = group.scale
                value = lo + (hi - lo) * value
                grad = (hi - lo) * grad
            value = np.where(ok, value, np.nan)
        out[group.code] = TreeValues(value, ok, grad)
    return out
