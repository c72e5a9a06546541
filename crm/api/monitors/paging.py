"""Paging of the monitoring lists: keyset pages by cursor (as every list of the API), and
the page numbers they replace, kept for one release (``page=``, deprecated)."""
from __future__ import annotations

import math

from flask import request, url_for
from sqlalchemy import Select, func, select

from crm.api.common import encode_id_cursor
from crm.api.monitors.schemas import NumberedPageQuery
from crm.extensions import db


def next_page(stmt: Select, limit: int) -> tuple[list, str | None]:
    """The first ``limit`` rows of ``stmt`` (already ordered and after any cursor).

    :returns: (rows, the cursor after the last row, or None when no row follows).
    """
    rows = list(db.session.scalars(stmt.limit(limit + 1)))
    return rows[:limit], encode_id_cursor(rows[limit - 1].id) if len(rows) > limit else None


def _link(number: int) -> str:
    """This request's URL with another ``page``."""
    args = request.args.to_dict()
    args["page"] = str(number)
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def numbered_page(stmt: Select, query: NumberedPageQuery) -> dict:
    """Page ``query.page`` of ``stmt`` (ordered) by number, with the deprecated members.

    :returns: the members of a :class:`~crm.api.monitors.schemas.NumberedPage`: ``items``
        (rows), ``limit``, ``next_cursor`` (continues after this page by cursor),
        ``has_more``, ``page``, ``per_page``, ``total``, ``pages``, ``next``, ``prev``.
    """
    size, number = query.size(), query.page
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = list(db.session.scalars(stmt.offset((number - 1) * size).limit(size)))
    pages = max(1, math.ceil(total / size))
    more = number < pages
    return {"items": rows, "limit": size, "has_more": more,
            "next_cursor": encode_id_cursor(rows[-1].id) if more and rows else None,
            "page": number, "per_page": size, "total": total, "pages": pages,
            "next": _link(number + 1) if more else None,
            "prev": _link(number - 1) if 1 < number <= pages + 1 else None}
