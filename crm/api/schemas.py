"""Pydantic v2 models of the API: request bodies, query strings, responses and problems.

These models are the single source of both validation (:mod:`crm.api.openapi` parses every
request body and query string with them) and the OpenAPI document (their JSON Schemas become
``components.schemas``), so the two cannot disagree.

Request bodies are strict (a JSON number is not a string, ``"yes"`` is not a boolean) and
forbid unknown members, so a typo in a PATCH is refused (422) rather than silently ignored.
Query strings are lax (every value arrives as text) and ignore unknown parameters.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from crm.auth.models import ROLES, USER_STATUSES
from crm.auth.services import MAX_PASSWORD, MIN_PASSWORD
from crm.notifications.models import NOTIFICATION_STATUSES
from crm.tickets.models import PRIORITIES, STATUSES
from crm.tickets.services import SORTS as TICKET_SORTS

#: Largest id a path or body may name (PostgreSQL ``integer``); larger ids cannot exist.
MAX_ID = 2_147_483_647
MAX_SUBJECT = 200
MAX_TEXT = 10_000
MAX_NAME = 120
MAX_EMAIL = 254
MAX_RECIPIENTS = 50


def _no_nul(value: str) -> str:
    """Refuse U+0000: valid JSON, but PostgreSQL text cannot store it (it would be a 500)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _omit_null_default(schema: dict) -> None:
    """Optional-but-not-nullable PATCH members: omit them, never send null."""
    schema.pop("default", None)


#: JSON Schema pattern of "no NUL character", stated on text without a pattern of its own.
NO_NUL_PATTERN = r"^[^\x00]*$"


class _NoNulInSchema:
    """Annotation that writes :data:`NO_NUL_PATTERN` into a string's JSON Schema unless it
    has a pattern already (composes with any ``json_schema_extra``)."""

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        schema.setdefault("pattern", NO_NUL_PATTERN)
        return schema


def _text(**constraints):
    """A string type with ``constraints`` (documented) that also refuses NUL characters.

    The constraints come first so pydantic keeps them in the JSON Schema; text without a
    ``pattern`` documents the NUL rule as :data:`NO_NUL_PATTERN`.
    """
    return Annotated[str, Field(**constraints), AfterValidator(_no_nul), _NoNulInSchema()]


# Every string a client sends is one of these (constrained, free of NUL characters).
SubjectText = _text(min_length=1, max_length=MAX_SUBJECT)
LongText = _text(min_length=1, max_length=MAX_TEXT)
NameText = _text(min_length=1, max_length=MAX_NAME)
#: a new password: 8–128 characters and not common, breached or easily guessed
#: (:mod:`crm.auth.passwords`, which no JSON Schema can state: ``format: password``).
PasswordText = _text(
    min_length=MIN_PASSWORD,
    max_length=MAX_PASSWORD,
    json_schema_extra={"format": "password"},
    description="A new password: 8–128 characters, not a common or breached password "
    "and not easily guessed (NIST SP 800-63B §5.1.1.2); a few unrelated "
    "words work well.",
)
LoginEmailText = _text(min_length=1, max_length=MAX_EMAIL)
LoginPasswordText = _text(min_length=1, max_length=MAX_PASSWORD)
TotpCodeText = _text(min_length=6, max_length=7)
#: cursors are base64url text made by the API (``next_cursor``); others are a 422. The
#: patterns below document the shape; the parsers give the friendlier messages.
CursorText = _text(max_length=200, json_schema_extra={"pattern": r"^[A-Za-z0-9_-]+$"})
SearchText = _text(max_length=200)
ShortSearchText = _text(max_length=100)
#: ``YYYY-MM-DD`` or an ISO 8601 date-time (naive = UTC), years 1–9999 (crm.tickets.filters).
WHEN_PATTERN = (
    r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?$"
)
WhenText = _text(max_length=40, json_schema_extra={"pattern": WHEN_PATTERN})
AssigneeText = _text(pattern=r"^(me|none|[0-9]{1,12})$")
TagText = _text(max_length=32)
ContactEmailText = _text(min_length=3, max_length=MAX_EMAIL)
PhoneText = _text(min_length=3, max_length=32)
ErrorText = _text(max_length=4000)
UserIdText = _text(pattern=r"^[0-9]{1,12}$")
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
#: email_validator refuses special-use domains (RFC 6761: .test, .local, .invalid …); the
#: pattern says so in the document (pydantic's check is the one that runs).
EMAIL_PATTERN = (
    r"^[^@\s]+@(?![^@]*\.(arpa|invalid|local|localhost|onion|test)$)[^@\s.]+(\.[^@\s.]+)+$"
)
Email = Annotated[
    EmailStr, Field(max_length=MAX_EMAIL, json_schema_extra={"pattern": EMAIL_PATTERN})
]
Role = Literal[tuple(ROLES)]  # type: ignore[valid-type]
RegistrableRole = Literal[tuple(r for r in ROLES if r != "admin")]  # type: ignore[valid-type]
UserStatus = Literal[tuple(USER_STATUSES)]  # type: ignore[valid-type]
Priority = Literal[tuple(PRIORITIES)]  # type: ignore[valid-type]
TicketStatus = Literal[tuple(STATUSES)]  # type: ignore[valid-type]
NotificationStatus = Literal[tuple(NOTIFICATION_STATUSES)]  # type: ignore[valid-type]


def _patch_field(description: str, **constraints):
    """A PATCH member: optional (omit it to leave the value alone) but never null."""
    return Field(
        default=None, description=description, json_schema_extra=_omit_null_default, **constraints
    )


class Body(BaseModel):
    """Base of request bodies: strict types, unknown members refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Query(BaseModel):
    """Base of query strings: values are text (coerced), unknown parameters ignored."""

    model_config = ConfigDict(extra="ignore")


class Out(BaseModel):
    """Base of responses, built from ORM rows (``from_attributes``)."""

    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------- problems


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field("about:blank", description="Problem type URI; ``about:blank`` = see status.")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(description="HTTP status code.")
    detail: str | None = Field(None, description="What went wrong in this occurrence.")
    errors: dict[str, list[str]] | None = Field(
        None, description="Validation problems per field (dotted path for nested members)."
    )


# ---------------------------------------------------------------- accounts


class RegisterIn(Body):
    """A new account. Customers are active at once; staff wait for an admin's approval."""

    email: Email
    password: PasswordText
    name: NameText
    role: RegistrableRole = "customer"


class RegisteredOut(Out):
    """The account just created; ``status`` is ``active`` (customer) or ``pending`` (staff)."""

    id: int
    email: str
    role: Role
    status: UserStatus


class TokenIn(Body):
    """Credentials exchanged for an access token."""

    email: LoginEmailText
    password: LoginPasswordText
    #: the current TOTP code (RFC 6238, 6 digits), required when the account has two-factor log-in.
    totp_code: TotpCodeText | None = None


class TokenOut(BaseModel):
    """A bearer access token (JWT; send it as ``Authorization: Bearer <access_token>``) and
    an opaque refresh token for ``POST /api/v1/auth/refresh``. Each refresh token works once:
    keep the new one from every refresh (reusing an old one revokes the whole log-in)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Lifetime of the access token in seconds.")
    refresh_token: str = Field(description="Opaque, single-use refresh token.")
    refresh_expires_in: int = Field(description="Lifetime of the refresh token in seconds.")


RefreshTokenText = _text(min_length=1, max_length=200)


class RefreshIn(Body):
    """A refresh token from ``POST /auth/token`` or the previous refresh."""

    refresh_token: RefreshTokenText


class LogoutIn(Body):
    """Optionally, the refresh token of the log-in to end (the access token's own log-in is
    ended in any case)."""

    refresh_token: RefreshTokenText | None = None


class MeOut(Out):
    """The caller's own account with its verification state. Timestamps are ISO 8601 UTC."""

    id: int
    email: str
    name: str
    role: Role
    status: UserStatus
    created_at: datetime
    last_login_at: datetime | None = None
    email_verified: bool = Field(description="The email address was confirmed.")
    email_verified_at: datetime | None = None
    phone: str | None = Field(None, description="Mobile number in E.164, if any.")
    phone_verified: bool = Field(description="The mobile number was confirmed with a code.")
    totp_enabled: bool = Field(description="Two-factor authentication (TOTP) is on.")


class UserRef(Out):
    """A user as other resources mention them."""

    id: int
    name: str


class UserOut(Out):
    """An account as admins see it. Timestamps are ISO 8601 UTC."""

    id: int
    email: str
    name: str
    role: Role
    status: UserStatus
    created_at: datetime
    decided_at: datetime | None = None
    last_login_at: datetime | None = None


class UserPatch(Body):
    """Change a user's role and/or status (at least one)."""

    role: Role = _patch_field("New role.")
    status: UserStatus = _patch_field("New status (``active`` approves a pending registration).")


class CustomerOut(Out):
    """A customer and how many tickets they have raised."""

    id: int
    email: str
    name: str
    status: UserStatus
    created_at: datetime
    ticket_count: int


# ---------------------------------------------------------------- tickets and comments


class TicketIn(Body):
    """A new ticket, raised by a customer."""

    subject: SubjectText
    description: LongText
    priority: Priority = "normal"


class TicketPatch(Body):
    """Change a ticket; send any combination of members (at least one).

    ``subject``/``description``: the requester, while the ticket is open. ``status`` and
    ``priority``: the assigned engineer, agents, managers, admins. ``assignee_id``: managers
    and admins (an approved engineer).
    """

    subject: SubjectText = _patch_field("New subject.")
    description: LongText = _patch_field("New description.")
    status: TicketStatus = _patch_field("New status; the workflow decides which may follow which.")
    priority: Priority = _patch_field("New priority.")
    assignee_id: Id = _patch_field("Id of the approved engineer to reassign the ticket to.")


class TicketOut(Out):
    """A ticket. ``assignee`` is null while no engineer is available. Timestamps: ISO 8601 UTC."""

    id: int
    subject: str
    description: str
    priority: Priority
    status: TicketStatus
    requester: UserRef
    assignee: UserRef | None
    created_at: datetime
    updated_at: datetime
    follow_up_of_id: int | None = Field(None, description="The closed ticket this one follows up.")


class CommentIn(Body):
    """A reply: public (the requester sees it) or, for staff only, an internal note."""

    body: LongText
    public: bool = True


class CommentOut(Out):
    """A comment on a ticket; ``author`` is null when the author's account was deleted."""

    id: int
    ticket_id: int
    author: UserRef | None
    body: str
    public: bool
    created_at: datetime


# ---------------------------------------------------------------- notifications


class NotificationIn(Body):
    """A direct email from an admin, sent through the outbox."""

    to: Annotated[list[Email], Field(min_length=1, max_length=MAX_RECIPIENTS)]
    subject: SubjectText
    body: LongText


class NotificationQueuedOut(Out):
    """The outbox row just written; poll ``GET /api/v1/notifications/{id}`` for the outcome."""

    id: int
    status: NotificationStatus


class NotificationOut(Out):
    """Delivery state of an outbox notification."""

    id: int
    status: NotificationStatus
    attempts: int
    sent_at: datetime | None
    error: str | None = Field(description="The last delivery error, if any.")


# ---------------------------------------------------------------- query strings and pages


class PageQuery(Query):
    """Keyset pagination: ``limit`` rows per page, ``cursor`` from the previous page."""

    limit: int = Field(25, ge=1, le=100, description="Rows per page (1–100).")
    cursor: CursorText | None = Field(None, description="``next_cursor`` of the previous page.")


class UserListQuery(PageQuery):
    """Filters of ``GET /api/v1/users``."""

    role: Role | None = Field(None, description="Only users with this role.")
    status: UserStatus | None = Field(None, description="Only users with this status.")


class RegistrationListQuery(PageQuery):
    """Filters of ``GET /api/v1/registrations``."""

    status: UserStatus = Field("pending", description="Staff registrations with this status.")


class CustomerListQuery(PageQuery):
    """Filters of ``GET /api/v1/customers``."""

    q: ShortSearchText | None = Field(None, description="Text in the name or email.")


class TicketListQuery(PageQuery):
    """Filters of ``GET /api/v1/tickets`` (interpreted by ``crm.tickets.filters``)."""

    status: TicketStatus | None = Field(None, description="Only tickets with this status.")
    priority: Priority | None = Field(None, description="Only tickets with this priority.")
    assignee: AssigneeText | None = Field(
        None, description="A user id, ``me`` (tickets assigned to the caller) or ``none``."
    )
    requester: UserIdText | None = Field(None, description="Id of the requesting customer.")
    created_after: WhenText | None = Field(
        None,
        description="``YYYY-MM-DD`` (from the start of that UTC day) or an ISO 8601 date-time.",
    )
    created_before: WhenText | None = Field(
        None, description="``YYYY-MM-DD`` (up to the end of that UTC day) or an ISO 8601 date-time."
    )
    q: SearchText | None = Field(
        None,
        description="Search: words (stemmed, case and accents folded) in subject, "
        "description and comments (customers: public replies only); ``refu*`` prefix, "
        '``"a phrase"``, ``-word`` excludes; fields ``status:``, ``priority:``, '
        "``assignee:me|none|<email>``, ``requester:<email or name>`` (staff), "
        "``created>2026-01-01``, ``updated<7d``, ``id:``, ``#123``. Unknown fields: 422.",
    )
    active: bool | None = Field(None, description="Only open, in-progress and pending tickets.")
    sort: Literal[tuple(TICKET_SORTS)] = Field(  # type: ignore[valid-type]
        "-updated",
        description="Order: ``updated``, ``created``, ``priority`` (low → urgent) or "
        "``status`` (workflow order); a leading ``-`` reverses it. Ranked sorts list the newest "
        "update first within a rank. ``relevance``: best match of ``q``'s words first (the "
        "default order without words). Pass the same ``sort`` with ``cursor``.",
    )


class CommentListQuery(PageQuery):
    """Pagination of a ticket's thread (oldest first)."""


class Page(BaseModel):
    """Common shape of list answers."""

    limit: int = Field(description="The page size used.")
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` for the next page; null at the end."
    )
    has_more: bool = Field(description="True when another page follows.")


class UserPage(Page):
    """A page of users."""

    items: list[UserOut]


class CustomerPage(Page):
    """A page of customers."""

    items: list[CustomerOut]


class TicketPage(Page):
    """A page of tickets, most recently updated first."""

    items: list[TicketOut]


class CommentPage(Page):
    """A page of a ticket's comments, oldest first."""

    items: list[CommentOut]
