"""Deleting rows past their retention period without holding long locks (monitoring results,
error events …)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from crm.extensions import db


def delete_older_than(model, time_column, cutoff: datetime, chunk: int = 5000) -> int:
    """Delete the rows of ``model`` whose ``time_column`` is before ``cutoff`` (aware UTC), in
    chunks of ``chunk`` rows by id, each chunk its own committed transaction (so the table is
    never locked for long and a crash keeps what was done).

    :param model: a mapped class with an integer ``id``.
    :returns: rows deleted.
    """
    total = 0
    while True:
        ids = list(db.session.scalars(select(model.id).where(time_column < cutoff)
                                      .order_by(model.id).limit(chunk)))
        if not ids:
            return total
        db.session.execute(delete(model).where(model.id.in_(ids)))
        db.session.commit()
        total += len(ids)
        if len(ids) < chunk:
            return total
