"""Console forms of shop customers and the filter forms of the shop lists."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from crm.shop.models import (
    DELIVERY_LABELS,
    DELIVERY_STATES,
    FINANCIAL_STATUSES,
    FULFILMENT_STATUSES,
    ORDER_STATUSES,
)
from crm.shop.services import MAX_NAME, MAX_NOTE


class CustomerForm(FlaskForm):
    """Create or edit a shop customer; ``tags`` is one comma-separated line. The service
    validates (email, E.164 phone, lengths) and its refusals go on the fields."""

    first_name = StringField("First name", validators=[Optional(), Length(max=MAX_NAME)])
    last_name = StringField("Last name", validators=[Optional(), Length(max=MAX_NAME)])
    email = StringField("Email", validators=[Optional(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=32)])
    tag_list = StringField("Tags (comma-separated)", validators=[Optional(), Length(max=2000)])
    accepts_marketing = BooleanField("Accepts marketing email")
    note = TextAreaField("Note", validators=[Optional(), Length(max=MAX_NOTE)])

    FIELDS = ("first_name", "last_name", "email", "phone", "accepts_marketing", "note")
    #: a service member → the form field that shows its errors
    FIELD_OF = {**{name: name for name in FIELDS}, "tags": "tag_list"}

    def values(self) -> dict:
        """The members for :func:`crm.shop.services.update_customer` (tags as a list)."""
        from crm.shop.services import parse_tags
        data = {name: getattr(self, name).data for name in self.FIELDS}
        data["tags"] = parse_tags(self.tag_list.data or "")
        return data


class NoteForm(FlaskForm):
    """A note on a shop customer (the service checks 1–5,000 characters)."""

    body = TextAreaField("New note", validators=[Length(max=MAX_NOTE)])


class DeleteForm(FlaskForm):
    """A button that deletes (CSRF token only)."""


def _choices(values, labels=None) -> list[tuple[str, str]]:
    labels = labels or {}
    return [("", "Any")] + [(v, labels.get(v, v.replace("_", " ").capitalize())) for v in values]


class OrderFilterForm(FlaskForm):
    """The order list's filters (GET, no CSRF)."""

    class Meta:
        csrf = False

    q = StringField("Order number, tracking number or email",
                    validators=[Optional(), Length(max=100)])
    status = SelectField("Status", choices=_choices(ORDER_STATUSES), validate_choice=False)
    financial_status = SelectField("Payment", choices=_choices(FINANCIAL_STATUSES),
                                   validate_choice=False)
    fulfilment_status = SelectField("Fulfilment", choices=_choices(FULFILMENT_STATUSES),
                                    validate_choice=False)
    delivery_state = SelectField("Delivery", choices=_choices(DELIVERY_STATES, DELIVERY_LABELS),
                                 validate_choice=False)
