"""API resources for notes on shop customers: list, add, delete."""
from __future__ import annotations

from flask import Response

from crm.api.common import answer
from crm.api.openapi import api_operation, request_body
from crm.api.shop.schemas import NoteIn, NoteList, NoteOut
from crm.auth.policy import acting_user, requires
from crm.shop import services
from crm.shop.access import get_customer_or_404, get_note_or_404

TAG = "Shop customers"


@api_operation("GET", "/shop/customers/{shop_customer_id}/notes", response=NoteList, tag=TAG,
               summary="List a shop customer's notes")
@requires("shop.customer.view", api=True)
def list_shop_customer_notes(shop_customer_id: int):
    """Every note on the customer, newest first."""
    customer = get_customer_or_404(shop_customer_id)
    return answer(NoteList, {"items": services.notes_of(customer)})


@api_operation("POST", "/shop/customers/{shop_customer_id}/notes", body=NoteIn,
               response=NoteOut, status=201, tag=TAG, summary="Add a note to a shop customer")
@requires("shop.customer.edit", api=True)
def add_shop_customer_note(shop_customer_id: int):
    """A time-stamped note by the caller (1–5,000 characters after trimming; 422 else)."""
    customer = get_customer_or_404(shop_customer_id)
    data: NoteIn = request_body()
    note = services.add_note(customer, acting_user(), data.body)
    return answer(NoteOut, get_note_or_404(customer, note.id), 201)


@api_operation("DELETE", "/shop/customers/{shop_customer_id}/notes/{note_id}", status=204,
               tag=TAG, summary="Delete a note")
@requires("shop.customer.edit", api=True)
def delete_shop_customer_note(shop_customer_id: int, note_id: int):
    """Delete a note: its author, a manager or an admin; others get a 403."""
    customer = get_customer_or_404(shop_customer_id)
    services.delete_note(get_note_or_404(customer, note_id), acting_user())
    return Response(status=204)
