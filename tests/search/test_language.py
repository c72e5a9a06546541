"""Search language on both databases: stemming, case and accents, prefixes, phrases,
exclusions, ids; the same corpus gives the same answers (in the same order) on SQLite and
PostgreSQL, because each test states the one answer both must give."""
from __future__ import annotations

import pytest

from crm.errors import ServiceError
from crm.extensions import db


@pytest.fixture
def corpus(make_user, add_ticket):
    """Seven tickets whose words the tests below look for (oldest update first)."""
    admin, customer = make_user("admin"), make_user("customer")
    t = {}
    t["refund"] = add_ticket(customer, "Refunds for order 1042", "The mug arrived broken.")
    t["invoice"] = add_ticket(customer, "Invoice question", "Where is my invoicing address?")
    t["cafe"] = add_ticket(customer, "Café order", "Crème brûlée machine is LOUD.")
    t["phrase"] = add_ticket(customer, "Delivery", "The parcel was late, the broken mug too.")
    t["comment"] = add_ticket(customer, "Login", "Cannot log in.",
                              comments=(("We refunded the voucher yesterday.", True),))
    t["internal"] = add_ticket(customer, "Shipping", "Where is my parcel?",
                               comments=(("Supplier confirmed warranty claim.", False),))
    t["mail"] = add_ticket(customer, "Email bounce", "Mail to bob@example.com bounced.")
    return admin, customer, t


def ids(t, *names):
    return [t[n].id for n in names]


def test_words_are_stemmed_so_refunds_finds_refund_and_refunded(corpus, find):
    admin, _, t = corpus
    assert find(admin, "refund") == ids(t, "comment", "refund")
    assert find(admin, "REFUNDED") == ids(t, "comment", "refund")
    assert find(admin, "invoices") == ids(t, "invoice")


def test_case_and_accents_are_folded(corpus, find):
    admin, _, t = corpus
    assert find(admin, "cafe") == ids(t, "cafe")
    assert find(admin, "CRÈME brulee") == ids(t, "cafe")
    assert find(admin, "loud") == ids(t, "cafe")


def test_trailing_star_is_a_prefix(corpus, find):
    admin, _, t = corpus
    assert find(admin, "invoic*") == ids(t, "invoice")
    assert find(admin, "refu*") == ids(t, "comment", "refund")
    assert find(admin, "deliv*") == ids(t, "phrase")


def test_quoted_phrase_matches_the_words_in_order(corpus, find):
    admin, _, t = corpus
    assert find(admin, "broken mug") == ids(t, "phrase", "refund")
    assert find(admin, '"broken mug"') == ids(t, "phrase")
    assert find(admin, '"mug broken"') == []
    assert find(admin, '"mug arrived"') == ids(t, "refund")


def test_minus_excludes_a_word_or_phrase(corpus, find):
    admin, _, t = corpus
    assert find(admin, "mug -late") == ids(t, "refund")
    assert find(admin, 'mug -"arrived broken"') == ids(t, "phrase")
    assert find(admin, "parcel -deliv*") == ids(t, "internal")
    every = find(admin, "")
    assert find(admin, "-mug") == [i for i in every if i not in ids(t, "phrase", "refund")]


def test_words_of_all_fields_combine_subject_description_and_comments(corpus, find):
    admin, _, t = corpus
    assert find(admin, "login voucher") == ids(t, "comment")
    assert find(admin, "shipping warranty") == ids(t, "internal")
    assert find(admin, "bob example") == ids(t, "mail")
    assert find(admin, "bob@example.com") == ids(t, "mail")


def test_ids_by_hash_or_alone(corpus, find):
    admin, _, t = corpus
    assert find(admin, f"#{t['cafe'].id}") == ids(t, "cafe")
    assert find(admin, str(t["mail"].id)) == ids(t, "mail")
    assert find(admin, "1042") == ids(t, "refund")  # a number that is no id: the word
    assert find(admin, f"#{t['cafe'].id} mug") == []


def test_query_syntax_of_the_databases_is_only_text(corpus, find):
    admin, _, _ = corpus
    for q in ('"quotes" AND OR NEAR( * ', "a:*", "'; DROP TABLE tickets; --", "!!! & | <->",
              "^x", "{subject}: x", "col:umn", ""):
        try:
            find(admin, q)
        except ServiceError as exc:
            assert exc.field == "q" and "Unknown search field" in exc.message
    db.session.rollback()


def test_fts_operator_words_are_ordinary_words(make_user, add_ticket, find):
    admin = make_user("admin")
    t = add_ticket(make_user("customer"), "NEAR AND OR NOT", 'star * quote "')
    assert find(admin, 'NEAR AND "quote" *') == [t.id]


def test_edits_and_new_comments_are_searchable_in_the_same_transaction(corpus, find):
    from crm.tickets import services
    admin, customer, t = corpus
    services.edit_content(t["invoice"], customer, "Password trouble", None)
    assert find(admin, "password") == ids(t, "invoice")
    assert find(admin, "invoice question") == []
    services.add_comment(t["cafe"], admin, "Sent a replacement kettle", public=True)
    assert find(admin, "kettle") == ids(t, "cafe")


@pytest.mark.only_backend("postgresql")
def test_search_language_is_configurable_and_folds_accents_on_postgresql(app):
    from sqlalchemy import text

    from crm.search import schema
    with db.engine.connect() as conn:
        with conn.begin() as tx:  # PostgreSQL DDL is transactional: nothing stays
            schema.install(conn, "german")
            hit = conn.execute(text("SELECT to_tsvector('crm_search', crm_search_text("
                                    "'Die Rechnungen für Café-Bestellungen')) @@ "
                                    "to_tsquery('crm_search', 'rechnung & cafe & bestellung')"))
            assert hit.scalar() is True
            tx.rollback()


def test_the_sqlite_tokenizer_stems_english_only():
    from crm.search import schema
    assert "porter unicode61 remove_diacritics 2" in schema._sqlite_table("english")
    assert "porter" not in schema._sqlite_table("german")
    with pytest.raises(ValueError):
        schema.language("klingon")


def test_a_phrase_does_not_run_from_one_part_of_a_ticket_into_the_next(make_user, add_ticket,
                                                                        find):
    admin, customer = make_user("admin"), make_user("customer")
    t = add_ticket(customer, "Need a refund", "Invoice attached",
                   comments=(("Thanks", True), ("note", False)))
    assert find(admin, '"need a refund"') == [t.id] and find(admin, "refund invoice") == [t.id]
    assert find(admin, '"refund invoice"') == [] and find(admin, '"thanks note"') == []
