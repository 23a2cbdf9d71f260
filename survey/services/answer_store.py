"""Writing answers: one row per answer on SQLite, one row of arrays per response on PostgreSQL.

On PostgreSQL the answers of a response are ONE row of ``response_answers`` (migration 0011),
each column of :class:`~survey.models.Answer` an array with one element per answer, in item
code order; the view ``answers`` gives readers the old rows. On SQLite ``answers`` is the table.
Every writer goes through :func:`store_answers` (or, on the public form's hot path, the
statement ``responses._insert_statement`` builds from :data:`ARRAY_PARAMS`).
"""

from __future__ import annotations

import json
from operator import itemgetter

from sqlalchemy import JSON, BigInteger, Boolean, SmallInteger, Text, TypeDecorator, bindparam, insert
from sqlalchemy.dialects import postgresql

from ..extensions import db
from ..models import RESPONSE_ANSWERS, Answer

ANSWERS = Answer.__table__
EMPTY_ANSWER = {"rating": None, "scale_points": None, "not_applicable": False, "number": None,
                "choice": None, "choices": None, "text": None}


class _ArrayLiteral(TypeDecorator):
    """A PostgreSQL array bound as its text literal (``{1,NULL,"a b"}``), built by
    :func:`_array_literal`: the statement still casts it (``$1::SMALLINT[]``), and the server
    parses it as it parsed the driver's own text form of a list. The driver's list dumping
    (a type look-up and quoting per element) and SQLAlchemy's per-element list processing cost
    ~0.13 ms of Python for the answers' eight arrays; the literal ~0.03 ms."""

    impl = postgresql.ARRAY
    cache_ok = True

    def bind_processor(self, dialect):
        """The value is already the literal: nothing to do."""
        return None


# The answers' columns as the arrays of ``response_answers`` (a multiple-choice answer travels
# as its JSON text in the literal, parsed by the server into a ``json`` element).
ARRAY_TYPES = (("item_code", Text), ("rating", SmallInteger), ("scale_points", SmallInteger),
               ("not_applicable", Boolean), ("number", BigInteger), ("choice", Text),
               ("choices", JSON), ("text", Text))
ARRAY_NAMES = [name for name, _type in ARRAY_TYPES]
# One bound array literal per column, ``a_<column>``, filled by :func:`answer_arrays`.
ARRAY_PARAMS = [bindparam(f"a_{name}", type_=_ArrayLiteral(type_)) for name, type_ in ARRAY_TYPES]
_WIDE_INSERT = RESPONSE_ANSWERS.insert().values(
    {"response_id": bindparam("response_id"), **dict(zip(ARRAY_NAMES, ARRAY_PARAMS, strict=True))})


def _array_literal(values) -> str:
    """PostgreSQL's text form of a one-dimensional array of ``values``.

    NULL for None, ``t``/``f`` for booleans, digits for integers, and every other value as
    ``str(value)`` in double quotes with backslashes and double quotes escaped — the text each
    value is sent as on its own, so the server reads the same values as before.
    """
    return "{" + ",".join(map(_element, values)) + "}"


def _element(value) -> str:
    """One element of :func:`_array_literal`."""
    if value is None:
        return "NULL"
    kind = type(value)
    if kind is bool:
        return "t" if value else "f"
    if kind is int:
        return str(value)
    text = str(value)
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text + '"'


def answer_arrays(rows: list[dict]) -> dict[str, str]:
    """One response's answers (full rows, any order) as one array literal per column
    (``a_<column>``), in item code order as migration 0011 stored the older ones."""
    rows = sorted(rows, key=itemgetter("item_code"))
    arrays = {f"a_{name}": _array_literal([row[name] for row in rows])
              for name in ARRAY_NAMES if name != "choices"}
    arrays["a_choices"] = _array_literal([None if row["choices"] is None else json.dumps(row["choices"])
                                          for row in rows])
    return arrays


def store_answers(rows: list[dict]) -> None:
    """Insert the answers of one or more responses, none of which has answers stored yet.

    ``rows`` are answers as :class:`~survey.models.Answer`'s columns (``response_id``,
    ``item_code`` and whichever of the others are set). On PostgreSQL each response's answers
    become its one ``response_answers`` row, so they must all be given in the same call.
    """
    if not rows:
        return
    full = [{**EMPTY_ANSWER, **row} for row in rows]
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(insert(ANSWERS), full)
        return
    per_response: dict[int, list[dict]] = {}
    for row in full:
        per_response.setdefault(row["response_id"], []).append(row)
    db.session.execute(_WIDE_INSERT, [{"response_id": response_id, **answer_arrays(answers)}
                                      for response_id, answers in per_response.items()])


def packed_sql(rows_sql: str) -> str:
    """PostgreSQL: INSERT into ``response_answers`` of answer rows selected by ``rows_sql``
    (all of :class:`~survey.models.Answer`'s columns), one wide row per response, arrays in
    item code order. For bulk loaders that generate answers as rows in SQL."""
    packed = ", ".join(f"array_agg({name} ORDER BY item_code)" for name in ARRAY_NAMES)
    return (f"INSERT INTO response_answers (response_id, {', '.join(ARRAY_NAMES)}) "
            f"SELECT response_id, {packed} FROM ({rows_sql}) AS answer_rows GROUP BY response_id")
