"""Forms of the broadcast pages."""
from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from crm.broadcasts.models import SEGMENT_ALL, SEGMENT_RECENT_TICKETS, SEGMENT_VERIFIED_PHONE
from crm.broadcasts.services import MAX_SEGMENT_DAYS


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice rendered as labelled checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class BroadcastForm(FlaskForm):
    """A maintenance announcement: the window, the text, the channels and the segment."""

    window = SelectField("Maintenance window", coerce=int, validators=[Optional()])
    subject = StringField("Subject", validators=[DataRequired(), Length(max=200)])
    body = TextAreaField("Message", validators=[DataRequired(), Length(max=5000)])
    channels = MultiCheckboxField("Channels", choices=[("email", "Email"), ("sms", "SMS")],
                                  validators=[DataRequired("Choose email, SMS or both.")])
    segment = SelectField("Send to", choices=[
        (SEGMENT_ALL, "All active customers"),
        (SEGMENT_RECENT_TICKETS, "Customers with a ticket in the last N days"),
        (SEGMENT_VERIFIED_PHONE, "Customers with a verified phone number")], default=SEGMENT_ALL)
    segment_days = IntegerField("N days (for “ticket in the last N days”)", default=30,
                                validators=[Optional(), NumberRange(1, MAX_SEGMENT_DAYS)])
    submit = SubmitField("Review recipients")

    def validate(self, extra_validators=None) -> bool:
        """Field checks, then: the "last N days" segment needs N (the field is optional
        otherwise, so its own validators stop at an empty value)."""
        ok = super().validate(extra_validators)
        if (
            self.segment.data == SEGMENT_RECENT_TICKETS
            and not self.segment_days.data
            and not self.segment_days.errors
        ):
            self.segment_days.errors = [*self.segment_days.errors, "Give the number of days."]
            ok = False
        return ok
