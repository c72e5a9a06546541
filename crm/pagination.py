"""Keyset pagination by descending id for console lists (no OFFSET, no COUNT)."""
from __future__ import annotations

from flask import abort, request
from sqlalchemy import Select

from crm.extensions import db


def id_keyset_page(stmt: Select, model, size: int = 25) -> tuple[list, int | None]:
    """One page of ``stmt`` newest first, continuing below the ``?before=<id>`` argument.

    :param stmt: a ``select(model)`` with the list's filters applied.
    :param model: the mapped class (must have an integer ``id``).
    :returns: (rows, the ``before`` value of the next page or None when this is the last).
    :raises werkzeug.exceptions.BadRequest: ``before`` is not a whole number (400).
    """
    before = request.args.get("before", "")
    if before:
        if not before.isdigit() or len(before) > 12:
            abort(400, "The 'before' page argument must be a whole number.")
        stmt = stmt.where(model.id < int(before))
    rows = list(db.session.scalars(stmt.order_by(model.id.desc()).limit(size + 1)))
    return rows[:size], (rows[size - 1].id if len(rows) > size else None)
