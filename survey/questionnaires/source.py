"""Read a YAML questionnaire file into plain data, remembering the line of every value."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import yaml

Path_ = tuple[str | int, ...]


class QuestionnaireError(Exception):
    """A questionnaire file is unreadable or invalid; ``problems`` lists every finding."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def read_source(path: Path) -> tuple[object, dict[Path_, int]]:
    """Parse ``path`` safely; return the data and a map from value path to 1-based line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise QuestionnaireError([f"{path}: cannot read: {exc.strerror}"]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise QuestionnaireError([f"{path}:{line}: not UTF-8 (byte {exc.start})"]) from exc
    text = text.removeprefix("\ufeff")
    if unicodedata.normalize("NFC", text) != text:
        line = next(
            n for n, row in enumerate(text.splitlines(), 1)
            if unicodedata.normalize("NFC", row) != row
        )
        raise QuestionnaireError([f"{path}:{line}: text is not in Unicode NFC form"])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise QuestionnaireError([f"{where}: YAML syntax: {getattr(exc, 'problem', exc)}"]) from exc
    if node is None:
        raise QuestionnaireError([f"{path}:1: the file is empty"])
    lines: dict[Path_, int] = {}
    try:
        return _to_python(node, (), lines), lines
    except QuestionnaireError as exc:
        raise QuestionnaireError([f"{path}:{p.removeprefix('line ')}" for p in exc.problems]) from exc


def _to_python(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> object:
    """Convert a composed node to Python data, filling ``lines`` on the way."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[object, object] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node)
            if key in out:
                where = format_path((*path, key))
                raise QuestionnaireError(
                    [f"line {key_node.start_mark.line + 1}: {where}: duplicate key"]
                )
            out[key] = _to_python(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, (*path, i), lines) for i, v in enumerate(node.value)]
    return yaml.SafeLoader(" ").construct_object(node)


def line_of(lines: dict[Path_, int], path: Path_) -> int:
    """Line of ``path`` or of its nearest ancestor that exists in the file."""
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def format_path(path: Path_) -> str:
    """Render a value path as ``sections[2].questions[0].text.vi``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
