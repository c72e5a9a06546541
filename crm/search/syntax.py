"""The search box's query language, parsed once for every database and every searched type.

Grammar (Zendesk-like), terms separated by spaces, all terms must hold (AND):

* ``refund`` — a word (stemmed, case and accents folded by the database);
* ``refu*`` — a word prefix; ``"broken mug"`` — a phrase (the words in this order);
* ``-word``, ``-"a phrase"``, ``-pre*`` — exclusion;
* ``name:value``, ``name>value``, ``name<value``, ``name>=value``, ``name<=value`` — a field
  (``value`` may be ``"quoted"``); which names exist is the caller's choice
  (:func:`parse`'s ``fields``); an unknown name is an error that names it;
* ``#123`` — an id.

A bare token that holds several words (``e-mail``, ``order_1042``) is a phrase of them, as
both databases' tokenizers split it that way. The parser never builds SQL: the word lists
hold only letters and digits, so no database query syntax can slip through.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from crm.errors import ServiceError

#: A word as the databases' tokenizers see it: letters and digits (``_`` and punctuation split).
WORD = re.compile(r"[^\W_]+", re.UNICODE)
_TOKEN = re.compile(
    r"""(?P<neg>-)?
        (?:(?P<name>[A-Za-z_]+)(?P<op>:|>=|<=|>|<)(?P<value>"[^"]*"?|[^\s"]*)
          |"(?P<phrase>[^"]*)"?(?P<pstar>\*)?
          |\#(?P<id>\d{1,12})(?=\s|$)
          |(?P<bare>[^\s"]+))""",
    re.VERBOSE | re.UNICODE)
#: At most this many words (in words, prefixes and phrases together) per query.
MAX_WORDS = 16
#: A word longer than this is cut (both tokenizers keep long tokens; nobody types them).
MAX_WORD = 64


@dataclass(frozen=True)
class Term:
    """One text condition: ``words`` in this order (one word, or a phrase), the last one a
    prefix when ``prefix``; ``negated`` for an exclusion."""

    words: tuple[str, ...]
    prefix: bool = False
    negated: bool = False


@dataclass(frozen=True)
class FieldTerm:
    """``name op value`` as typed (``op`` one of ``:``, ``>``, ``<``, ``>=``, ``<=``)."""

    name: str
    op: str
    value: str
    negated: bool = False


@dataclass
class Query:
    """A parsed search: text terms, field terms and ids (``#123``)."""

    terms: list[Term] = field(default_factory=list)
    fields: list[FieldTerm] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    #: The whole query was one number (``123``): it may name a ticket id as well as a word.
    lone_number: int | None = None

    @property
    def positive(self) -> list[Term]:
        """Terms that must match."""
        return [t for t in self.terms if not t.negated]

    @property
    def negative(self) -> list[Term]:
        """Terms that must not match."""
        return [t for t in self.terms if t.negated]

    @property
    def empty(self) -> bool:
        """Nothing to search for (blank, or only punctuation)."""
        return not (self.terms or self.fields or self.ids)


def _words(text: str) -> tuple[str, ...]:
    return tuple(w[:MAX_WORD].lower() for w in WORD.findall(text))


def parse(q: str | None, fields: tuple[str, ...] = ()) -> Query:
    """Parse the search box's text.

    :param q: what was typed (``None`` or blank: an empty query).
    :param fields: the field names this caller understands (lower case).
    :returns: the :class:`Query`; terms beyond :data:`MAX_WORDS` words are dropped.
    :raises ServiceError: 422 on ``q`` naming every unknown field, e.g.
        ``Unknown search field: colour (known: status, priority).``
    """
    query = Query()
    text = (q or "").strip()
    if re.fullmatch(r"\d{1,12}", text):
        query.lone_number = int(text)
    unknown: list[str] = []
    budget = MAX_WORDS
    for m in _TOKEN.finditer(text):
        negated = bool(m.group("neg"))
        if m.group("name") is not None:
            name = m.group("name").lower()
            value = m.group("value").strip('"').strip()
            if name not in fields:
                if name not in unknown:
                    unknown.append(name)
                continue
            if value:
                query.fields.append(FieldTerm(name, m.group("op"), value, negated))
            continue
        if m.group("id") is not None:
            query.ids.append(int(m.group("id")))
            continue
        raw = m.group("phrase") if m.group("phrase") is not None else m.group("bare")
        words = _words(raw)[:budget]
        if not words:
            continue
        prefix = bool(m.group("pstar")) or (m.group("bare") is not None and raw.endswith("*"))
        budget -= len(words)
        query.terms.append(Term(words, prefix, negated))
    if unknown:
        known = ", ".join(fields) if fields else "none"
        plural = "fields" if len(unknown) > 1 else "field"
        raise ServiceError(f"Unknown search {plural}: {', '.join(unknown)} (known: {known}).",
                           field="q", status=422)
    return query
