"""Helpers shared by the API resources: answering with a model, keyset pages by id."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Response, jsonify
from pydantic import BaseModel
from sqlalchemy import Select

from crm.api.openapi import ApiProblem
from crm.api.schemas import MAX_ID
from crm.extensions import db


def answer(model: type[BaseModel], obj: Any, status: int = 200, **headers: str) -> Response:
    """Serialise ``obj`` (an ORM row or a dict) through ``model`` as a JSON response.

    :param status: HTTP status code. :param headers: extra headers (``Location=...``).
    """
    payload = model.model_validate(obj).model_dump(mode="json")
    resp = jsonify(payload)
    resp.status_code = status
    for name, value in headers.items():
        resp.headers[name] = value
    return resp


def page_answer(
    model: type[BaseModel], items: list, limit: int, next_cursor: str | None
) -> Response:
    """A list answer: ``{items, limit, next_cursor, has_more}`` validated by ``model``."""
    return answer(
        model,
        {
            "items": items,
            "limit": limit,
            "next_cursor": next_cursor,
            "has_more": next_cursor is not None,
        },
    )


def encode_id_cursor(row_id: int) -> str:
    """Opaque cursor for "rows after this id" (base64url of ``id:<n>``)."""
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode().rstrip("=")


def decode_id_cursor(cursor: str) -> int:
    """Inverse of :func:`encode_id_cursor`.

    :raises ApiProblem: 422 naming ``cursor`` when it was not made by this API.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        row_id = int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        row_id, prefix = 0, ""
    if prefix != "id" or not 0 < row_id <= MAX_ID:
        raise ApiProblem(422, "Some query parameters are invalid.", {"cursor": ["Invalid cursor."]})
    return row_id


def page_by_id(
    stmt: Select, id_column, limit: int, cursor: str | None, descending: bool = True
) -> tuple[list, str | None]:
    """One keyset page of ``stmt`` ordered by ``id_column``.

    :param descending: newest first (lists of users) or oldest first.
    :returns: (rows, cursor of the next page or None).
    """
    if cursor:
        after = decode_id_cursor(cursor)
        stmt = stmt.where(id_column < after if descending else id_column > after)
    stmt = stmt.order_by(id_column.desc() if descending else id_column.asc()).limit(limit + 1)
    rows = list(db.session.scalars(stmt))
    next_cursor = encode_id_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor
