"""Validate plain questionnaire data and build a :class:`Questionnaire` from it."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from .model import (
    DEFAULT_MIN_ANSWERS,
    QUESTION_TYPES,
    SCORINGS,
    Condition,
    IndexNode,
    Item,
    Option,
    Questionnaire,
    Section,
)
from .source import Path_, QuestionnaireError, format_path, line_of, read_source

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
FILE_RE = re.compile(r"^(?P<id>[a-z0-9][a-z0-9-]*)\.v(?P<version>[1-9][0-9]*)\.ya?ml$")
TEXT_LIMIT = 5000


class _Checker:
    """Collects problems with file:line and path while the definition is built."""

    def __init__(self, path: Path, lines: dict[Path_, int]):
        self.path, self.lines, self.problems = path, lines, []

    def fail(self, where: Path_, message: str) -> None:
        """Record one problem at ``where``."""
        self.problems.append(
            f"{self.path}:{line_of(self.lines, where)}: {format_path(where)}: {message}"
        )

    def text(self, data: dict, key: str, where: Path_, required: bool = True) -> dict | None:
        """A {vi, en} text under ``key``; both languages must be non-empty strings."""
        value = data.get(key)
        if value is None:
            if required:
                self.fail((*where, key), "missing text {vi, en}")
            return None
        if not isinstance(value, dict):
            self.fail((*where, key), "must be a mapping {vi: …, en: …}")
            return None
        for lang in ("vi", "en"):
            if not isinstance(value.get(lang), str) or not value[lang].strip():
                self.fail((*where, key, lang), f"missing {lang} text")
        extra = set(value) - {"vi", "en"}
        if extra:
            self.fail((*where, key), f"unknown languages {sorted(extra)}")
        return {lang: str(value.get(lang, "")).strip() for lang in ("vi", "en")}

    def keys(self, data: dict, allowed: set[str], where: Path_) -> None:
        """Report keys of ``data`` that the format does not know."""
        for key in data:
            if key not in allowed:
                self.fail((*where, key), f"unknown key {key!r}")


QUESTION_KEYS = {
    "code", "type", "text", "help", "required", "allow_na", "when", "note", "scale", "points",
    "labels", "options", "max_choices", "min", "max", "max_length",
}


def parse_file(path: Path) -> Questionnaire:
    """Read, validate and build the questionnaire in ``path``; raise with every problem found."""
    data, lines = read_source(path)
    return build(data, lines, path)


def build(data: object, lines: dict[Path_, int], path: Path) -> Questionnaire:
    """Validate plain data (from a file, or a stored copy with ``lines`` empty) and build it."""
    check = _Checker(path, lines)
    if not isinstance(data, dict):
        raise QuestionnaireError([f"{path}:1: the top level must be a mapping"])
    check.keys(data, {"id", "version", "title", "intro", "thanks", "scales", "sections",
                      "index"}, ())
    qid, version = data.get("id"), data.get("version")
    if not isinstance(qid, str) or not ID_RE.match(qid):
        check.fail(("id",), "id must match [a-z0-9-]+")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        check.fail(("version",), "version must be a positive integer")
    named = FILE_RE.match(path.name)
    if named and (named["id"] != qid or int(named["version"]) != version):
        check.fail(("id",), f"file name {path.name} does not match id {qid!r} version {version!r}")
    title = check.text(data, "title", ())
    scales = _scales(check, data.get("scales") or {})
    items: dict[str, Item] = {}
    sections = _sections(check, data.get("sections"), scales, items)
    nodes, root, percent, min_answers = _index(check, data.get("index"), items)
    if check.problems:
        raise QuestionnaireError(check.problems)
    return Questionnaire(
        id=qid, version=version, content_hash=content_hash(data), title=title,
        sections=tuple(sections), items=items, index_nodes=tuple(nodes), index_root=root,
        percent=percent, min_answers=min_answers, intro=check.text(data, "intro", (), False),
        thanks=check.text(data, "thanks", (), False), source=data,
    )


def content_hash(data: dict) -> str:
    """SHA-256 of the canonical JSON of the parsed content (comments and layout excluded)."""
    canonical = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _scales(check: _Checker, raw: object) -> dict[str, tuple[int, dict]]:
    """Named scales: name → (points, labels)."""
    out: dict[str, tuple[int, dict]] = {}
    if not isinstance(raw, dict):
        check.fail(("scales",), "must be a mapping of named scales")
        return out
    for name, spec in raw.items():
        where = ("scales", name)
        if not isinstance(spec, dict):
            check.fail(where, "must be a mapping with points and labels")
            continue
        labels = _labels(check, spec, where)
        if labels is not None:
            out[name] = (spec["points"], labels)
    return out


def _labels(check: _Checker, spec: dict, where: Path_) -> dict[int, dict] | None:
    """``points`` and a label for every point 1..K."""
    points = spec.get("points")
    if not isinstance(points, int) or isinstance(points, bool) or not 2 <= points <= 11:
        check.fail((*where, "points"), "points must be an integer from 2 to 11")
        return None
    raw = spec.get("labels")
    if isinstance(raw, dict):  # a stored JSON copy has string keys
        raw = {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in raw.items()}
    if not isinstance(raw, dict) or set(raw) != set(range(1, points + 1)):
        check.fail((*where, "labels"), f"labels must give exactly the points 1..{points}")
        return None
    return {k: check.text(raw, k, (*where, "labels")) for k in range(1, points + 1)}


def _sections(check: _Checker, raw: object, scales: dict, items: dict[str, Item]) -> list:
    """Sections in order, filling ``items`` with every question."""
    if not isinstance(raw, list) or not raw:
        check.fail(("sections",), "at least one section is required")
        return []
    out, seen = [], set()
    for s_no, sec in enumerate(raw):
        where = ("sections", s_no)
        if not isinstance(sec, dict):
            check.fail(where, "a section must be a mapping")
            continue
        check.keys(sec, {"code", "title", "intro", "when", "demographic", "questions"}, where)
        code = sec.get("code")
        if not isinstance(code, str) or not CODE_RE.match(code) or code in seen:
            check.fail((*where, "code"), f"section code {code!r} missing, malformed or repeated")
        seen.add(code)
        when = _condition(check, sec.get("when"), (*where, "when"), items)
        demographic = bool(sec.get("demographic", False))
        codes = []
        questions = sec.get("questions")
        if not isinstance(questions, list) or not questions:
            check.fail((*where, "questions"), "a section needs at least one question")
            questions = []
        for q_no, q in enumerate(questions):
            item = _question(check, q, (*where, "questions", q_no), scales, items)
            if item is not None:
                item = Item(**{**item.__dict__, "section": code, "demographic": demographic})
                items[item.code] = item
                codes.append(item.code)
        out.append(Section(code=code, title=check.text(sec, "title", where), items=tuple(codes),
                           intro=check.text(sec, "intro", where, False), when=when,
                           demographic=demographic))
    return out


def _question(check: _Checker, q: object, where: Path_, scales: dict, items: dict) -> Item | None:
    """Validate one question and build its :class:`Item`."""
    if not isinstance(q, dict):
        check.fail(where, "a question must be a mapping")
        return None
    check.keys(q, QUESTION_KEYS, where)
    code, qtype = q.get("code"), q.get("type")
    if not isinstance(code, str) or not CODE_RE.match(code):
        check.fail((*where, "code"), f"question code {code!r} must match [a-z][a-z0-9_]*")
        return None
    if code in items:
        check.fail((*where, "code"), f"question code {code!r} is used twice")
    if qtype not in QUESTION_TYPES:
        check.fail((*where, "type"), f"unknown type {qtype!r}; use one of {', '.join(QUESTION_TYPES)}")
        return None
    kw: dict = {"code": code, "type": qtype, "text": check.text(q, "text", where),
                "help": check.text(q, "help", where, False),
                "required": bool(q.get("required", False)),
                "allow_na": bool(q.get("allow_na", False)),
                "when": _condition(check, q.get("when"), (*where, "when"), items)}
    if kw["allow_na"] and qtype not in ("satisfaction", "scale"):
        check.fail((*where, "allow_na"), "allow_na applies to satisfaction and scale questions")
    if qtype == "satisfaction":
        kw["points"] = 5
    elif qtype == "yes_no":
        kw["points"] = 2
    elif qtype == "scale":
        if "scale" in q:
            if q["scale"] not in scales:
                check.fail((*where, "scale"), f"unknown named scale {q['scale']!r}")
                return None
            kw["points"], kw["labels"] = scales[q["scale"]]
        else:
            labels = _labels(check, q, where)
            if labels is None:
                return None
            kw["points"], kw["labels"] = q["points"], labels
    elif qtype in ("single_choice", "multiple_choice"):
        kw["options"] = _options(check, q.get("options"), (*where, "options"))
        if qtype == "multiple_choice" and q.get("max_choices") is not None:
            kw["max_choices"] = q["max_choices"]
    elif qtype == "number":
        lo, hi = q.get("min"), q.get("max")
        if not isinstance(lo, int) or not isinstance(hi, int) or lo > hi:
            check.fail(where, "number questions need integer min ≤ max")
        kw["minimum"], kw["maximum"] = lo, hi
    elif qtype == "text":
        limit = q.get("max_length", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= TEXT_LIMIT:
            check.fail((*where, "max_length"), f"max_length must be 1..{TEXT_LIMIT}")
        kw["max_length"] = limit
    return Item(**kw)


def _options(check: _Checker, raw: object, where: Path_) -> tuple[Option, ...]:
    """Options with unique codes and {vi, en} labels."""
    if not isinstance(raw, list) or len(raw) < 2:
        check.fail(where, "at least two options are required")
        return ()
    out, seen = [], set()
    for i, opt in enumerate(raw):
        if not isinstance(opt, dict) or not CODE_RE.match(str(opt.get("code", ""))):
            check.fail((*where, i), "an option needs a code matching [a-z][a-z0-9_]*")
            continue
        if opt["code"] in seen:
            check.fail((*where, i, "code"), f"option code {opt['code']!r} is repeated")
        seen.add(opt["code"])
        out.append(Option(code=opt["code"], label=check.text(opt, "label", (*where, i))))
    return tuple(out)


def _condition(check: _Checker, raw: object, where: Path_, items: dict) -> Condition | None:
    """A ``when`` clause referring to an earlier question."""
    if raw is None:
        return None
    ops = [op for op in ("equals", "in", "not_in", "contains") if isinstance(raw, dict) and op in raw]
    if not isinstance(raw, dict) or len(ops) != 1 or set(raw) != {"item", ops[0]}:
        check.fail(where, "when needs item and exactly one of equals, in, not_in, contains")
        return None
    target = items.get(raw["item"])
    if target is None:
        check.fail((*where, "item"), f"condition refers to {raw['item']!r}, not an earlier question")
        return None
    op = ops[0]
    values = raw[op] if op in ("in", "not_in") else [raw[op]]
    if not isinstance(values, list) or not values:
        check.fail((*where, op), "needs a non-empty list of values")
        return None
    valid = _valid_values(target)
    for value in values:
        if valid is not None and value not in valid:
            check.fail((*where, op), f"{value!r} is not an answer of {target.code!r}")
    if op == "contains" and target.type != "multiple_choice":
        check.fail((*where, op), "contains applies to multiple_choice questions")
    return Condition(item=target.code, op="in" if op == "equals" else op, values=tuple(values))


def _valid_values(item: Item) -> set | None:
    """Answers a condition on ``item`` may name; None when any value is acceptable."""
    if item.type in ("single_choice", "multiple_choice"):
        return {o.code for o in item.options}
    if item.type == "yes_no":
        return {0, 1}
    if item.points:
        return set(range(1, item.points + 1))
    return None


def _index(check: _Checker, raw: object, items: dict[str, Item]
           ) -> tuple[list, str | None, bool, int]:
    """Flatten the index tree, children before parents, root last; the ``extra`` nodes
    (indicators reported beside the root but not part of it, e.g. PAPI's D4-linked items) come
    just before the root."""
    if raw is None:
        return [], None, True, DEFAULT_MIN_ANSWERS
    if not isinstance(raw, dict) or not isinstance(raw.get("tree"), dict):
        check.fail(("index",), "index needs a tree mapping")
        return [], None, True, DEFAULT_MIN_ANSWERS
    check.keys(raw, {"percent", "tree", "extra", "min_answers"}, ("index",))
    nodes: list[IndexNode] = []
    seen: set[str] = set()
    _node(check, raw["tree"], ("index", "tree"), items, nodes, seen)
    extra = raw.get("extra", [])
    if not isinstance(extra, list):
        check.fail(("index", "extra"), "extra must be a list of index nodes")
        extra = []
    root = nodes.pop() if nodes else None
    for i, node in enumerate(extra):
        _node(check, node, ("index", "extra", i), items, nodes, seen)
    if root is not None:
        nodes.append(root)  # the root stays last
    min_answers = raw.get("min_answers", DEFAULT_MIN_ANSWERS)
    if not isinstance(min_answers, int) or isinstance(min_answers, bool) or min_answers < 1:
        check.fail(("index", "min_answers"), "min_answers must be a positive integer")
        min_answers = DEFAULT_MIN_ANSWERS
    return nodes, raw["tree"].get("code"), bool(raw.get("percent", True)), min_answers


def _count_node(check, raw, where, items) -> IndexNode | None:
    """A PAPI count criterion: the share of C yes/no criteria met (``count: [items]``)."""
    check.keys(raw, {"count", "code", "label"}, where)
    counted = raw.get("count")
    if not isinstance(counted, list) or len(counted) < 2 or len(set(map(str, counted))) != len(
            counted):
        check.fail((*where, "count"), "count needs a list of at least two distinct yes_no items")
        return None
    for i, code in enumerate(counted):
        item = items.get(code) if isinstance(code, str) else None
        if item is None or item.type != "yes_no":
            check.fail((*where, "count", i), f"{code!r} is not a yes_no question")
            return None
    if "code" not in raw:
        check.fail((*where, "code"), "a count criterion needs its own code")
        return None
    if raw["code"] in items:
        check.fail((*where, "code"), f"count code {raw['code']!r} is also a question code")
    return IndexNode(code=raw["code"], label=check.text(raw, "label", where), kind="criterion",
                     item=counted[0], scoring="count", items=tuple(counted))


def _anchors(check, raw, where, item: Item) -> tuple[float, float] | None:
    """``anchors: [worst, best]`` of an anchored criterion on a number item."""
    anchors = raw.get("anchors")
    if (not isinstance(anchors, list) or len(anchors) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in anchors)
            or anchors[0] == anchors[1]):
        check.fail((*where, "anchors"), "anchored scoring needs anchors: [worst, best], distinct "
                                        "numbers (the answers scored 0 and 1)")
        return None
    return float(anchors[0]), float(anchors[1])


def _node(check, raw, where, items, nodes, seen) -> str | None:
    """Append one node (after its children) and return its code."""
    if isinstance(raw, str):
        raw = {"criterion": raw}
    if not isinstance(raw, dict):
        check.fail(where, "a node is an item code or a mapping")
        return None
    if "count" in raw:
        node = _count_node(check, raw, where, items)
        if node is None:
            return None
    elif "criterion" in raw:
        check.keys(raw, {"criterion", "code", "label", "scoring", "anchors"}, where)
        item = items.get(raw["criterion"])
        if item is None or item.type not in ("satisfaction", "scale", "yes_no", "number"):
            check.fail((*where, "criterion"), f"{raw['criterion']!r} is not a satisfaction, "
                                              "scale, yes_no or number question")
            return None
        default = {"yes_no": "share", "number": "anchored"}.get(item.type, "top2")
        scoring = raw.get("scoring", default)
        anchors = None
        if scoring not in SCORINGS:
            check.fail((*where, "scoring"), f"scoring must be one of {', '.join(SCORINGS)}")
        elif (item.type == "number") != (scoring == "anchored"):
            check.fail((*where, "scoring"), "anchored scoring applies to number criteria, and "
                                            "a number criterion is scored anchored")
        elif item.type == "yes_no" and scoring in ("top2", "normalised"):
            check.fail((*where, "scoring"), "a yes_no criterion scores as share or reversed")
        elif item.type != "yes_no" and scoring == "share":
            check.fail((*where, "scoring"), "share applies to yes_no criteria")
        elif scoring == "anchored":
            anchors = _anchors(check, raw, where, item)
        if "anchors" in raw and scoring != "anchored":
            check.fail((*where, "anchors"), "anchors apply to anchored scoring only")
        code = raw.get("code", item.code)
        label = raw.get("label") and check.text(raw, "label", where) or item.text
        node = IndexNode(code=code, label=label, kind="criterion", item=item.code, scoring=scoring,
                         anchors=anchors)
    else:
        check.keys(raw, {"code", "label", "aggregate", "children", "weights", "scale"}, where)
        children = raw.get("children")
        if not isinstance(children, list) or not children:
            check.fail((*where, "children"), "a group needs children")
            return None
        codes = tuple(code for i, child in enumerate(children)
                      if (code := _node(check, child, (*where, "children", i), items, nodes, seen)))
        aggregate = raw.get("aggregate", "mean")
        if aggregate not in ("mean", "sum"):
            check.fail((*where, "aggregate"), "aggregate must be mean or sum")
        weights = raw.get("weights")
        if weights is not None and (not isinstance(weights, list) or len(weights) != len(children)
                                    or any(not isinstance(w, int | float) or w <= 0 for w in weights)):
            check.fail((*where, "weights"), "weights must be positive numbers, one per child")
            weights = None
        scale = raw.get("scale")
        if scale is not None and (not isinstance(scale, list) or len(scale) != 2
                                  or not all(isinstance(v, int | float) for v in scale)
                                  or scale[0] >= scale[1]):
            check.fail((*where, "scale"), "scale must be [L, U] with L < U")
            scale = None
        code = raw.get("code")
        node = IndexNode(code=code, label=check.text(raw, "label", where), kind="group",
                         children=codes, aggregate=aggregate,
                         weights=tuple(float(w) for w in weights) if weights else None,
                         scale=(float(scale[0]), float(scale[1])) if scale else None)
    if not isinstance(node.code, str) or not CODE_RE.match(node.code):
        check.fail((*where, "code"), f"node code {node.code!r} must match [a-z][a-z0-9_]*")
        return None
    if node.code in seen:
        check.fail((*where, "code"), f"index node {node.code!r} appears twice")
        return None
    if node.kind == "group" and node.code in items:
        check.fail((*where, "code"), f"group code {node.code!r} is also a question code")
    seen.add(node.code)
    nodes.append(node)
    return node.code
