"""Row-level scoping: a user sees only their unit and the units below it. The ONE place for it.

Every staff and admin view filters through these three functions:

- ``visible_unit_ids(user)``: a SELECT of the unit ids of the user's subtree, for ``.in_()``;
- ``in_scope(user, column)``: the filter ``column IN (that subtree)``;
- ``get_in_scope(model, ident, user)``: the object, or 404 when it is absent *or* outside the
  subtree (a user of another unit cannot even learn that the id exists).

Helpers built on them: ``campaign_in_scope`` (a campaign is visible when it surveys a unit of
the subtree), ``scope_filter(model, user)``, ``unit_in_scope`` (for unit ids posted in forms) and
``narrowed(user, unit)`` (the same role, limited to one unit of the subtree).

The subtree is a recursive CTE, so it works on SQLite and PostgreSQL at any tree depth.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort
from sqlalchemy import ColumnElement, Select, exists, false, literal, select

from ..extensions import db
from ..models import Campaign, CampaignUnit, Unit


def visible_unit_ids(user) -> Select:
    """Ids of ``user``'s unit and every unit below it (empty for anonymous/inactive users)."""
    unit_id = getattr(user, "unit_id", None)
    if unit_id is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return select(Unit.id).where(false())
    base = select(Unit.id.label("id")).where(Unit.id == literal(unit_id))
    tree = base.cte("scope_subtree", recursive=True, nesting=True)
    child = select(Unit.id.label("id")).join(tree, Unit.parent_id == tree.c.id)
    tree = tree.union_all(child)
    return select(tree.c.id)


def in_scope(user, unit_id_column) -> ColumnElement[bool]:
    """A WHERE clause keeping rows whose ``unit_id_column`` lies in the user's subtree."""
    return unit_id_column.in_(visible_unit_ids(user))


def campaign_in_scope(user) -> ColumnElement[bool]:
    """Campaigns that survey at least one unit in the user's subtree.

    A campaign without any unit yet is visible to admins only (it holds no unit's data).
    """
    has_unit = exists().where(CampaignUnit.campaign_id == Campaign.id)
    visible = exists().where(CampaignUnit.campaign_id == Campaign.id,
                             in_scope(user, CampaignUnit.unit_id))
    if getattr(user, "role", None) == "admin":
        return visible | ~has_unit
    return visible


def scope_filter(model, user) -> ColumnElement[bool]:
    """The scope filter for rows of ``model``: ``Unit`` by id, ``Campaign`` by its units, else ``unit_id``."""
    if model is Unit:
        return in_scope(user, Unit.id)
    if model is Campaign:
        return campaign_in_scope(user)
    column = getattr(model, "unit_id", None)
    if column is None:
        raise TypeError(f"{model.__name__} has no unit to scope by")
    return in_scope(user, column)


def get_in_scope(model, ident, user):
    """The ``model`` row with primary key ``ident`` if it is in the user's subtree, else 404."""
    if ident is None:
        abort(404)
    primary = model.__mapper__.primary_key
    if len(primary) != 1:
        raise TypeError(f"{model.__name__} has a composite key; filter with scope_filter")
    try:
        ident = primary[0].type.python_type(ident)
    except (TypeError, ValueError):
        abort(404)
    found = db.session.scalar(select(model).where(primary[0] == ident, scope_filter(model, user)))
    if found is None:
        abort(404)
    return found


def unit_in_scope(user, unit_id: int | None) -> bool:
    """Whether ``unit_id`` is in the user's subtree (for checking ids submitted in forms)."""
    if unit_id is None:
        return False
    return bool(db.session.scalar(select(literal(True)).where(in_scope(user, literal(unit_id)))))


@dataclass(frozen=True)
class Narrowed:
    """A user's view narrowed to one unit of their subtree (same role, smaller subtree)."""

    unit_id: int
    role: str
    is_authenticated: bool = True
    is_active: bool = True


def narrowed(user, unit: Unit) -> Narrowed:
    """Scope ``user`` down to ``unit``'s subtree; ``unit`` must come from ``get_in_scope``."""
    return Narrowed(unit_id=unit.id, role=user.role)
