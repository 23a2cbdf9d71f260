"""Per-cell counts of a campaign on SQLite: one ordered pass, packed in SQL, counted in numpy.

The general streaming pivot (:func:`aggregate_sql.pivot_sql`) joins the answers to a ``VALUES``
table and groups them in a temporary B-tree; SQLite spent ~32 s on it for 1,000,000 responses.
Here the query walks the campaign's responses in id order (``responses`` by rowid, each one's
answers through the primary key ``(response_id, item_code)``), so ``GROUP BY r.id`` needs no
sort, and each answer finds its place through a ``CASE`` split by binary search on the item
code (about five comparisons per answer row).  Answers are packed as mixed-radix digits, so 22
five-point criteria share one 63-bit ``SUM`` (each extra ``SUM`` over the ~20 answer rows of a
response cost ~1.8 s per million responses).  Breakdown questions (sex, age group …) are packed
as option numbers, so one row per response carries everything: ``unit, field, counter, s0,
s1, …`` as integers, fetched in batches straight into numpy.

With a file database, no uncommitted writes on the session and a large campaign, the id range
is split in two and the second half read on its own read-only connection, so two cores share
the scan.  That half runs in a forked child process when this process has no other thread (a
sync worker, the CLI, tests): the child has its own interpreter lock, so both halves decode
their batches in numpy at the same time too (in a thread, each batch decoded held the lock
while the other half's SQLite waited for it to hand over every row: 7.1 s instead of ~5.5 s
at 1,000,000 responses).  With other threads about (a threaded server) a fork could copy a lock
one of them holds, so the half runs in a helper thread instead.  Integer sums are exact, so the
halves add up to the same counts as one pass, whichever way.

The "improve most" question rides along as a bit mask per response (see
:mod:`survey.services.results_improvement`): ``sqlite_cells(...)[IMPROVEMENT]``.
"""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flask import current_app
from sqlalchemy import func, select
from threadpoolctl import threadpool_limits

from analysis import (
    CellCounts,
    CountsAccumulator,
    answer_sets,
    counts_from_vectors,
    respondent_vectors,
)

from ..extensions import db
from ..models import Response
from .results import ResultsError, Scope
from .results_improvement import (
    IMPROVEMENT,
    chosen_mask_sql,
    counts_from_masks,
    improvement_item,
    merged,
)

BATCH = 50_000
SLOT_MAX = (1 << 63) - 1
LABEL_BASE = 1 << 24
UNANSWERED = LABEL_BASE - 1  # the carrier breakdown's cell for respondents outside its domains
SPLIT_ABOVE = 200_000  # responses; smaller campaigns are read in one pass
FORK = True  # False: the second half always in a helper thread (tests check both ways)
BUILTIN = {"field": "r.field_id", "counter": "r.counter_id"}


@dataclass(frozen=True)
class Packed:
    """An item's place in the packed row: ``value × factor`` in slot ``slot``.

    Values run 0..radix−1 (0 = not answered), so a slot is a mixed-radix number and decodes
    as ``slot // factor % radix``.
    """

    code: str
    slot: int
    factor: int
    radix: int
    value_sql: str
    labels: tuple[str, ...] = ()  # a breakdown question: raw label of each value 1..n


def plan(scope: Scope, variables: Sequence[str], improve=None) -> list[Packed]:
    """Criterion items and breakdown questions, packed into as few 63-bit slots as possible.

    Each slot is one ``SUM`` over every answer row, the main cost of the pass, so items share
    a slot as a mixed-radix number (22 five-point criteria take 6²² < 2⁵⁷).  Slots are filled
    in the order of the item codes, so each holds a contiguous range of codes and an answer row
    outside a slot's range is skipped after two comparisons.  ``improve``: the improve-most
    item, packed as its bit mask (:func:`results_improvement.chosen_mask_sql`).
    """
    values: dict[str, tuple[str, int, tuple[str, ...]]] = {}
    if improve is not None:
        values[improve.code] = (chosen_mask_sql(improve), 1 << (len(improve.options) + 1), ())
    for crit in scope.tree.criteria:
        # v = answer − lo + 1: the rating itself on a 1..K scale, yes/no (0/1) plus one.
        values.setdefault(crit.item, ("(a.number + 1)", 3, ()) if crit.binary
                          else ("a.rating", crit.points + 1, ()))
    for name in variables:
        if name in BUILTIN:
            continue
        item = scope.questionnaire.items[name]
        if item.type == "yes_no":
            values[name] = ("(a.number + 1)", 3, ("0", "1"))
            continue
        labels = tuple(o.code for o in item.options)
        if any("'" in c for c in labels):
            raise ResultsError(f"{name}: option codes cannot be packed")
        values[name] = ("(CASE a.choice " + " ".join(
            f"WHEN '{code}' THEN {i + 1}" for i, code in enumerate(labels)) + " END)",
            len(labels) + 1, labels)
    items, slot, factor = [], 0, 1
    for code in sorted(values):
        if "'" in code:
            raise ResultsError(f"item code {code!r} cannot be packed")
        sql, radix, labels = values[code]
        if factor * radix > SLOT_MAX:
            slot, factor = slot + 1, 1
        items.append(Packed(code, slot, factor, radix, sql, labels))
        factor *= radix
    return items


def _dispatch(items: list[Packed]) -> str:
    """``CASE`` giving ``value << shift`` of an answer row's item, by binary search on its code."""
    ordered = sorted(items, key=lambda p: p.code)

    def tree(part: list[Packed]) -> str:
        if len(part) <= 3:
            return "CASE a.item_code " + " ".join(
                f"WHEN '{p.code}' THEN ({p.value_sql} * {p.factor})" for p in part) + " END"
        mid = len(part) // 2
        return (f"CASE WHEN a.item_code < '{part[mid].code}' THEN ({tree(part[:mid])}) "
                f"ELSE ({tree(part[mid:])}) END")

    return tree(ordered)


def pass_sql(scope: Scope, items: list[Packed]) -> str:
    """One row per included response with id in ``[:lo, :hi]``: unit, field, counter, slots.

    A slot's ``CASE`` gives NULL (ignored by ``SUM``) for any other item code.  Most answer
    rows belong to the slot with the most items (the criteria), so that slot goes straight to
    its binary search; the others first skip rows outside their code range in two comparisons
    (5 % less SQLite time than range checks everywhere).
    """
    n_slots = max(p.slot for p in items) + 1
    members = [[p for p in items if p.slot == slot] for slot in range(n_slots)]
    busiest = max(range(n_slots), key=lambda slot: len(members[slot]))
    sums = []
    for slot, part in enumerate(members):
        if slot == busiest:
            sums.append(f"COALESCE(SUM({_dispatch(part)}), 0)")
            continue
        low, high = part[0].code, part[-1].code
        sums.append(f"COALESCE(SUM(CASE WHEN a.item_code >= '{low}' AND a.item_code <= "
                    f"'{high}' THEN ({_dispatch(part)}) END), 0)")
    where = "r.id BETWEEN :lo AND :hi AND r.campaign_id = :campaign AND r.excluded = 0"
    if not scope.include_flagged:
        where += " AND (r.flags IS NULL OR json_array_length(r.flags) = 0)"
    return (f"SELECT r.unit_id, COALESCE(r.field_id, -1), COALESCE(r.counter_id, -1), "
            f"{', '.join(sums)} FROM responses r NOT INDEXED "
            f"LEFT JOIN answers a ON a.response_id = r.id WHERE {where} GROUP BY r.id")


class _Counts:
    """Per-grouping accumulators fed with batches of packed rows."""

    def __init__(self, scope: Scope, items: list[Packed], groupings: list[tuple[str, ...]],
                 improve=None):
        self.tree = scope.tree
        self.sets = answer_sets(self.tree)
        self.items = {p.code: p for p in items}
        self.groupings = groupings
        self.acc = {g: CountsAccumulator(LABEL_BASE) for g in groupings}
        self.improve = improve
        self.improve_parts: list[dict[int, list[int]]] = []
        # The overall cells are the sums of one breakdown's cells per unit when that breakdown
        # also keeps a cell for "not answered": one grouping's counting work saved per batch.
        self.carrier = next((g for g in groupings if len(g) == 1), None)

    def add(self, rows: list[tuple]) -> None:
        """Decode one batch and add its cells to every grouping."""
        table = np.array(rows, dtype=np.int64)
        unit = table[:, 0]
        slots = table[:, 3:]
        if self.improve is not None:
            p = self.items[self.improve.code]
            self.improve_parts.append(counts_from_masks(
                self.improve, unit, slots[:, p.slot] // p.factor % p.radix))
        values = np.full((table.shape[0], len(self.tree.criteria)), np.nan)
        for k, crit in enumerate(self.tree.criteria):
            p = self.items[crit.item]
            v = slots[:, p.slot] // p.factor % p.radix
            values[:, k] = np.where(v > 0, v + (0 if crit.binary else 1) - 1, np.nan)
        vectors = respondent_vectors(self.tree, values, self.sets)
        for g in self.groupings:
            if not g and self.carrier is not None:
                continue  # derived from the carrier's cells (see overall_and_carrier)
            label = self._label(g, table, slots)
            if g == self.carrier:
                label = np.where(label >= 0, label, UNANSWERED)
            elif g and not np.any(label >= 0):
                continue  # nobody in this batch answered the breakdown's questions
            key = np.where(label >= 0, unit * LABEL_BASE + label, -1)
            keys, counts = counts_from_vectors(vectors, key)
            if keys.size:
                self.acc[g].add(keys, counts)

    def _label(self, grouping: tuple[str, ...], table: np.ndarray,
               slots: np.ndarray) -> np.ndarray:
        """Mixed-radix label of each row's categories (-1 when one is missing)."""
        label = np.zeros(table.shape[0], dtype=np.int64)
        for name in grouping:
            if name in BUILTIN:
                code = table[:, 1 if name == "field" else 2]
                radix = 1 << 31
            else:
                p = self.items[name]
                code = slots[:, p.slot] // p.factor % p.radix - 1
                radix = p.radix
            label = np.where((label < 0) | (code < 0), -1, label * radix + code)
        if np.any(label >= UNANSWERED):
            raise ResultsError("too many crossed categories for one pass")
        return label

    def state(self) -> dict:
        """What another half needs to add these counts to its own (small; picklable)."""
        return {"cells": {g: list(self.acc[g].parts) for g in self.groupings},
                "improve": self.improve_parts}

    def absorb(self, state: dict) -> None:
        """Add the counts of another half (:meth:`state`)."""
        for g in self.groupings:
            for keys, counts in state["cells"][g]:
                self.acc[g].add(keys, counts)
        self.improve_parts.extend(state["improve"])

    def decode_label(self, grouping: tuple[str, ...], label: int) -> tuple:
        """The raw labels (field/counter id, option code) of a mixed-radix label."""
        parts = []
        for name in reversed(grouping):
            if name in BUILTIN:
                radix = 1 << 31
                parts.append(label % radix)
            else:
                radix = self.items[name].radix
                parts.append(self.items[name].labels[label % radix])
            label //= radix
        return tuple(reversed(parts))


def sqlite_cells(scope: Scope, variables: Sequence[str], groupings: list[tuple[str, ...]]):
    """``{grouping: RawCells | None}`` for :func:`aggregate_sums._finish` (see module doc).

    When the questionnaire has an improve-most item whose codes can be matched in SQL, the
    result also holds its counts under :data:`IMPROVEMENT`.
    """
    from .aggregate_sums import RawCells

    improve = improvement_item(scope.questionnaire, {g.code for g in scope.tree.groups})
    if improve is not None and chosen_mask_sql(improve) is None:
        improve = None
    items = plan(scope, variables, improve)
    sql = pass_sql(scope, items)
    # Two statements: SQLite answers a lone min() or max() from an end of the campaign index,
    # but both in one statement walk its whole range (0.08 s at 1,000,000 responses).
    in_campaign = Response.campaign_id == scope.campaign.id
    lo = db.session.scalar(select(func.min(Response.id)).where(in_campaign))
    hi = db.session.scalar(select(func.max(Response.id)).where(in_campaign))
    if lo is None:
        raise ResultsError("the campaign has no included response to analyse")
    main = _Counts(scope, items, groupings, improve)
    session_conn = db.session.connection().connection.dbapi_connection
    ranges = [(lo, hi)]
    path = _file_path()
    if path and hi - lo > SPLIT_ABOVE and not session_conn.in_transaction:
        mid = (lo + hi) // 2
        ranges = [(lo, mid), (mid + 1, hi)]
    with threadpool_limits(limits=1, user_api="blas"):
        _count(session_conn, path, sql, scope, ranges, main, items, groupings)
    out = {}
    derived = overall_and_carrier(main)
    for g in groupings:
        if g in derived:
            counts = derived[g]
            if counts is None:
                out[g] = None
            else:
                out[g] = RawCells(counts.cell_stratum, [main.decode_label(g, int(d))
                                                        for d in counts.cell_domain], counts)
            continue
        if not main.acc[g].parts:
            if not g:
                raise ResultsError("the campaign has no included response to analyse")
            out[g] = None  # nobody answered this breakdown's questions: no domains
            continue
        counts = main.acc[g].result()
        out[g] = RawCells(counts.cell_stratum,
                          [main.decode_label(g, int(d)) for d in counts.cell_domain], counts)
    if improve is not None:
        out[IMPROVEMENT] = merged(improve, main.improve_parts)
    return out


def overall_and_carrier(main: _Counts) -> dict:
    """The overall cells (per unit) and the carrier's cells without its "unanswered" ones."""
    if main.carrier is None:
        return {}
    if not main.acc[main.carrier].parts:
        raise ResultsError("the campaign has no included response to analyse")
    counts = main.acc[main.carrier].result()  # in key order: grouped by unit
    units, first = np.unique(counts.cell_stratum, return_index=True)
    fields = ("n", "total", "gram", "xsum", "xsq", "n_any")
    summed = {}
    for name in fields:
        part = getattr(counts, name)
        summed[name] = (np.add.reduceat(part, first, axis=0) if part.size
                        else np.zeros((units.shape[0],) + part.shape[1:], dtype=part.dtype))
    overall = CellCounts(units, np.zeros(units.shape[0], dtype=np.int64), **summed)
    keep = counts.cell_domain != UNANSWERED
    carrier = None
    if np.any(keep):
        carrier = CellCounts(counts.cell_stratum[keep], counts.cell_domain[keep],
                             **{name: getattr(counts, name)[keep] for name in fields})
    return {(): overall, main.carrier: carrier}


def _count(session_conn, path: str | None, sql: str, scope: Scope, ranges: list, main: _Counts,
           items: list[Packed], groupings: list[tuple[str, ...]]) -> None:
    """Count ``ranges[0]`` here and ``ranges[1]`` (if any) alongside, then merge.

    The second half goes to a forked child when this is the process's only thread, else to a
    helper thread (see the module docstring); if it fails (e.g. the file cannot be opened
    read-only) that half is counted here.  BLAS is held to one thread meanwhile: the two halves
    already use both cores, and OpenBLAS's own threads fighting over them made each batch
    several times slower.
    """
    if len(ranges) == 1:
        _run(session_conn, sql, scope, ranges[0], main)
        return
    job = _Half(path, sql, scope, ranges[1], items, groupings, main.improve)
    if not (FORK and hasattr(os, "fork") and threading.active_count() == 1 and job.fork()):
        job.thread()
    try:
        _run(session_conn, sql, scope, ranges[0], main)
    except BaseException:
        job.cancel()
        raise
    state = job.join()
    if isinstance(state, str):
        current_app.logger.warning("results pass: helper failed (%s)", state)
        _run(session_conn, sql, scope, ranges[1], main)
    else:
        main.absorb(state)


class _Half:
    """The second half of the pass on its own read-only connection, in a child or a thread."""

    def __init__(self, path: str, sql: str, scope: Scope, bounds: tuple[int, int],
                 items: list[Packed], groupings: list[tuple[str, ...]], improve):
        self.path, self.sql, self.scope, self.bounds = path, sql, scope, bounds
        self.counts = _Counts(scope, items, groupings, improve)
        self.pid: int | None = None
        self.pipe: int | None = None
        self.helper: threading.Thread | None = None
        self.outcome: dict | str = "not run"

    def _work(self) -> dict | str:
        """Count the half; its :meth:`_Counts.state`, or why it failed."""
        try:
            conn = sqlite3.connect(f"{Path(self.path).resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=10)
            try:
                _run(conn, self.sql, self.scope, self.bounds, self.counts)
            finally:
                conn.close()
            return self.counts.state()
        except Exception as exc:  # reported to the parent, which counts the half itself
            return repr(exc)

    def fork(self) -> bool:
        """Start the half in a child process that sends its state down a pipe and exits.

        False when no process could be made (the caller uses a thread then).
        """
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return False
        if pid == 0:  # the child: never returns, never runs the parent's cleanup
            code = 1
            try:
                os.close(read)
                with os.fdopen(write, "wb") as fh:
                    pickle.dump(self._work(), fh, protocol=pickle.HIGHEST_PROTOCOL)
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        self.pid, self.pipe = pid, read
        return True

    def thread(self) -> None:
        """Start the half in a helper thread."""
        def target():
            self.outcome = self._work()
        self.helper = threading.Thread(target=target, daemon=True)
        self.helper.start()

    def cancel(self) -> None:
        """Stop a child whose result is no longer wanted (the parent's half failed)."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            os.close(self.pipe)
            self.pid = None

    def join(self) -> dict | str:
        """Wait for the half: its state, or a message saying why there is none."""
        if self.helper is not None:
            self.helper.join()
            return self.outcome
        with os.fdopen(self.pipe, "rb") as fh:  # read before waiting: the pipe could fill
            data = fh.read()
        _, status = os.waitpid(self.pid, 0)
        if status != 0 or not data:
            return f"child exit status {status}"
        return pickle.loads(data)  # written just now by our own child


def _run(conn, sql: str, scope: Scope, bounds: tuple[int, int], into: _Counts) -> None:
    """Execute the pass over ``bounds`` on a DBAPI connection, batch by batch."""
    cursor = conn.cursor()
    try:
        cursor.execute(sql, {"lo": bounds[0], "hi": bounds[1], "campaign": scope.campaign.id})
        while True:
            rows = cursor.fetchmany(BATCH)
            if not rows:
                break
            into.add(rows)
    finally:
        cursor.close()


def _file_path() -> str | None:
    """The SQLite database file, or None for an in-memory database."""
    name = db.engine.url.database
    return name if name and name != ":memory:" and not name.startswith("file:") else None
