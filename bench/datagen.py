"""Fast synthetic data for the ticket benchmark: users, tickets and comments.

Rows are produced as plain tuples in id order (deterministic for a given seed) and bulk
loaded straight into the schema that ``flask db upgrade`` created:

* SQLite: ``executemany`` in large transactions with ``synchronous=OFF``; secondary indexes
  and the search triggers are dropped during the load, then the indexes are recreated and the
  search documents written in one pass before the triggers come back, all from
  :mod:`crm.search.schema`.
* PostgreSQL: ``COPY … FROM STDIN`` (psycopg 3) with secondary indexes dropped first and
  rebuilt afterwards, two at a time; the load skips triggers, so the search documents and
  their GIN index are written in one pass afterwards; then ``ANALYZE``.

Text comes from a Zipf-distributed vocabulary of pseudo-words with a few real words planted
at chosen ranks, so the benchmark's search words have known, different frequencies
(see :data:`SEARCH_WORDS`).
"""
from __future__ import annotations

import itertools
import random
import sqlite3
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from werkzeug.security import generate_password_hash

from crm.search import schema

ADMIN_EMAIL = "admin@bench.example.com"
PASSWORD = "bench-pass-123"
VOCAB_SIZE = 20_000
#: word -> Zipf rank. Expected share of tickets matching (subject, description or a comment):
#: order ≈ 80 %, refund ≈ 35 %, invoice ≈ 4 %, warranty ≈ 0.4 %, voucher ≈ 0.06 %.
SEARCH_WORDS = {"order": 5, "refund": 20, "invoice": 200, "warranty": 2000, "voucher": 15000}
STATUS_WEIGHTS_ACTIVE = (("open", 40), ("in_progress", 35), ("pending", 25))
STATUS_WEIGHTS_DONE = (("resolved", 30), ("closed", 70))
PRIORITIES = (("low", 20), ("normal", 55), ("high", 20), ("urgent", 5))
CHUNK = 50_000


@dataclass(frozen=True)
class Sizes:
    """How much data to generate."""

    tickets: int = 1_000_000
    customers: int = 100_000
    engineers: int = 50
    comments_per_ticket: int = 3
    seed: int = 42

    @property
    def first_customer_id(self) -> int:
        """Users are: admin (id 1), engineers (2 …), then customers."""
        return 2 + self.engineers

    @property
    def engineer_ids(self) -> list[int]:
        """Ids of the generated engineers."""
        return list(range(2, 2 + self.engineers))


# ---------------------------------------------------------------- text

def _pseudo_words(n: int, rng: random.Random) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"] + [
        "ar",
        "el",
        "in",
        "or",
        "us",
    ]
    planted = set(SEARCH_WORDS)
    words: list[str] = []
    seen: set[str] = set(planted)
    while len(words) < n:
        w = "".join(rng.choice(syllables) for _ in range(rng.choice((2, 2, 3, 3, 3, 4))))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


class TextPool:
    """A long Zipf-distributed token stream; texts are random slices of it (fast to make)."""

    def __init__(self, rng: random.Random, tokens: int = 8_000_000):
        vocab = _pseudo_words(VOCAB_SIZE, rng)
        for word, rank in sorted(SEARCH_WORDS.items(), key=lambda kv: kv[1]):
            vocab.insert(rank - 1, word)
        self.vocab = vocab[:VOCAB_SIZE]
        cum, total = [], 0.0
        for rank in range(1, len(self.vocab) + 1):
            total += 1.0 / rank
            cum.append(total)
        self.tokens = rng.choices(self.vocab, cum_weights=cum, k=tokens)
        self.rng = rng

    def text(self, lo: int, hi: int) -> str:
        """A text of ``lo``–``hi`` words."""
        n = self.rng.randint(lo, hi)
        start = self.rng.randrange(0, len(self.tokens) - n)
        return " ".join(self.tokens[start : start + n])

    def subject(self) -> str:
        """A capitalised 4–9 word subject."""
        s = self.text(4, 9)
        return s[:1].upper() + s[1:]


def _weighted(rng: random.Random, pairs) -> Callable[[], str]:
    values = [v for v, _ in pairs]
    cum = list(itertools.accumulate(w for _, w in pairs))
    top = cum[-1]
    return lambda: values[bisect_left(cum, rng.random() * top)]


def ts(dt: datetime) -> str:
    """The text form SQLAlchemy's SQLite DateTime stores (naive UTC, microseconds)."""
    return dt.isoformat(" ", "microseconds")


# ---------------------------------------------------------------- rows

USER_COLS = (
    "id",
    "email",
    "name",
    "password_hash",
    "role",
    "status",
    "created_at",
    "decided_at",
    "decided_by_id",
    "last_assigned_at",
    "last_login_at",
)
TICKET_COLS = (
    "id",
    "subject",
    "description",
    "priority",
    "status",
    "requester_id",
    "assignee_id",
    "created_at",
    "updated_at",
    "assigned_at",
    "resolved_at",
)
COMMENT_COLS = ("id", "ticket_id", "author_id", "body", "public", "created_at")


def users(sizes: Sizes, now: datetime, fmt: Callable[[datetime], str]) -> list[tuple]:
    """Admin, engineers, customers. One password hash (scrypt is slow) is shared by all."""
    pw = generate_password_hash(PASSWORD)
    start = now - timedelta(days=800)
    rows = [
        (1, ADMIN_EMAIL, "Bench Admin", pw, "admin", "active", fmt(start), None, None, None, None)
    ]
    for i, uid in enumerate(sizes.engineer_ids, 1):
        rows.append(
            (
                uid,
                f"engineer{i}@bench.example.com",
                f"Engineer {i:02d}",
                pw,
                "engineer",
                "active",
                fmt(start),
                fmt(start),
                1,
                fmt(now - timedelta(minutes=i)),
                None,
            )
        )
    first = sizes.first_customer_id
    for i in range(sizes.customers):
        rows.append(
            (
                first + i,
                f"customer{i + 1}@bench.example.com",
                f"Customer {i + 1}",
                pw,
                "customer",
                "active",
                fmt(start + timedelta(seconds=i * 60)),
                None,
                None,
                None,
                None,
            )
        )
    return rows


def tickets_and_comments(
    sizes: Sizes, now: datetime, fmt: Callable[[datetime], str], pool: TextPool
) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Yield (ticket rows, comment rows) in chunks of :data:`CHUNK` tickets, ids ascending.

    Tickets are created evenly over two years; recent ones are mostly active, old ones mostly
    resolved/closed; ``updated_at`` follows ``created_at`` by an exponential delay and is
    the time of the last comment or later.
    """
    rng = random.Random(sizes.seed + 1)
    span = 730 * 86400.0
    start = now - timedelta(seconds=span)
    active_status = _weighted(rng, STATUS_WEIGHTS_ACTIVE)
    done_status = _weighted(rng, STATUS_WEIGHTS_DONE)
    priority = _weighted(rng, PRIORITIES)
    engineers = sizes.engineer_ids
    first_cust, n_cust = sizes.first_customer_id, sizes.customers
    comment_id = 0
    tickets: list[tuple] = []
    comments: list[tuple] = []
    for tid in range(1, sizes.tickets + 1):
        created = start + timedelta(seconds=span * (tid - 1) / sizes.tickets + rng.random() * 30)
        age_days = (now - created).total_seconds() / 86400
        p_active = 0.8 if age_days < 7 else 0.3 if age_days < 30 else 0.03
        status = active_status() if rng.random() < p_active else done_status()
        delay = rng.expovariate(1 / (6 * 3600 if status == "open" else 3 * 86400))
        updated = min(created + timedelta(seconds=delay), now)
        requester = first_cust + rng.randrange(n_cust)
        assignee = None if (status == "open" and rng.random() < 0.02) else rng.choice(engineers)
        assigned = created + timedelta(seconds=min(60, delay)) if assignee else None
        resolved = updated if status in ("resolved", "closed") else None
        tickets.append(
            (
                tid,
                pool.subject(),
                pool.text(15, 40),
                priority(),
                status,
                requester,
                assignee,
                fmt(created),
                fmt(updated),
                fmt(assigned) if assigned else None,
                fmt(resolved) if resolved else None,
            )
        )
        n_comments = sizes.comments_per_ticket
        gap = (updated - created) / (n_comments + 1) if n_comments else None
        for k in range(n_comments):
            comment_id += 1
            staff_turn = k % 2 == 1 and assignee is not None
            when = updated if k == n_comments - 1 else created + gap * (k + 1)
            comments.append(
                (
                    comment_id,
                    tid,
                    assignee if staff_turn else requester,
                    pool.text(8, 30),
                    not (staff_turn and rng.random() < 0.3),
                    fmt(when),
                )
            )
        if len(tickets) >= CHUNK:
            yield tickets, comments
            tickets, comments = [], []
    if tickets:
        yield tickets, comments


# ---------------------------------------------------------------- SQLite


def load_sqlite(path: str, sizes: Sizes, log: Callable[[str], None]) -> dict:
    """Fill the (migrated, empty) SQLite database at ``path``. :returns: timings in seconds."""
    t0 = time.perf_counter()
    rng = random.Random(sizes.seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    pool = TextPool(rng)
    timings = {"text_pool": time.perf_counter() - t0}
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=OFF",
        "cache_size=-1000000",
        "temp_store=MEMORY",
        "foreign_keys=OFF",
    ):
        conn.execute(f"PRAGMA {pragma}")
    tables = ("users", "tickets", "comments")
    marks = ",".join("?" * len(tables))
    indexes = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks})",
        tables,
    ).fetchall()
    triggers = [
        r[0]
        for r in conn.execute(
            f"SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name IN ({marks})", tables
        )
    ]
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    for name in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')

    t = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO users ({','.join(USER_COLS)}) VALUES ({','.join('?' * len(USER_COLS))})",
        users(sizes, now, ts),
    )
    conn.execute("COMMIT")
    t_ins = "INSERT INTO tickets ({}) VALUES ({})".format(
        ",".join(TICKET_COLS), ",".join("?" * len(TICKET_COLS))
    )
    c_ins = "INSERT INTO comments ({}) VALUES ({})".format(
        ",".join(COMMENT_COLS), ",".join("?" * len(COMMENT_COLS))
    )
    gen_s = 0.0
    done = 0
    it = tickets_and_comments(sizes, now, ts, pool)
    while True:
        g = time.perf_counter()
        chunk = next(it, None)
        gen_s += time.perf_counter() - g
        if chunk is None:
            break
        conn.execute("BEGIN")
        conn.executemany(t_ins, chunk[0])
        conn.executemany(c_ins, chunk[1])
        conn.execute("COMMIT")
        done += len(chunk[0])
        if done % 200_000 == 0:
            log(f"  sqlite: {done:,} tickets loaded ({time.perf_counter() - t0:.0f} s)")
    timings["rows"] = time.perf_counter() - t
    timings["of_which_python_generation"] = gen_s

    t = time.perf_counter()
    for _, sql in indexes:
        conn.execute(sql)
    timings["btree_indexes"] = time.perf_counter() - t
    t = time.perf_counter()
    conn.execute("BEGIN")
    for stmt in schema.rebuild_sql("sqlite"):  # every ticket's search document at once
        conn.execute(stmt)
    conn.execute("COMMIT")
    for stmt in schema.SQLITE_TRIGGERS:  # the triggers dropped for the load
        conn.execute(stmt)
    timings["fts_rebuild"] = time.perf_counter() - t
    t = time.perf_counter()
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    timings["analyze"] = time.perf_counter() - t
    conn.close()
    timings["total"] = time.perf_counter() - t0
    return timings


# ---------------------------------------------------------------- PostgreSQL


def _pg_ts(dt: datetime) -> str:
    return dt.isoformat(" ", "microseconds") + "+00"


def load_postgresql(url: str, sizes: Sizes, log: Callable[[str], None]) -> dict:
    """Fill the (migrated, empty) PostgreSQL database at ``url`` (a libpq URL) with COPY.

    :returns: timings in seconds.
    """
    import psycopg

    t0 = time.perf_counter()
    rng = random.Random(sizes.seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    pool = TextPool(rng)
    timings = {"text_pool": time.perf_counter() - t0}
    tables = ["users", "tickets", "comments"]
    with psycopg.connect(url, autocommit=True) as conn:
        indexes = conn.execute(
            "SELECT c2.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class c2 ON c2.oid = i.indexrelid "
            "WHERE c.relname = ANY(%s) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
            (tables,),
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        t = time.perf_counter()
        gen_s = 0.0
        with conn.transaction():
            # Skip the per-row foreign-key triggers: the generator keeps references valid.
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("SET LOCAL synchronous_commit = off")
            cur = conn.cursor()
            with cur.copy(f"COPY users ({','.join(USER_COLS)}) FROM STDIN") as cp:
                for row in users(sizes, now, _pg_ts):
                    cp.write_row(row)
            it = tickets_and_comments(sizes, now, _pg_ts, pool)
            done = 0
            while True:
                g = time.perf_counter()
                chunk = next(it, None)
                gen_s += time.perf_counter() - g
                if chunk is None:
                    break
                with cur.copy(f"COPY tickets ({','.join(TICKET_COLS)}) FROM STDIN") as cp:
                    for row in chunk[0]:
                        cp.write_row(row)
                with cur.copy(f"COPY comments ({','.join(COMMENT_COLS)}) FROM STDIN") as cp:
                    for row in chunk[1]:
                        cp.write_row(row)
                done += len(chunk[0])
                if done % 200_000 == 0:
                    log(f"  postgresql: {done:,} tickets copied ({time.perf_counter() - t0:.0f} s)")
            for table in tables:
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
        timings["rows"] = time.perf_counter() - t
        timings["of_which_python_generation"] = gen_s

    t = time.perf_counter()

    def build(defn: str) -> float:
        s = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("SET maintenance_work_mem = '1GB'")
            c.execute(defn)
        return time.perf_counter() - s

    # Biggest first (the GIN indexes), two at a time on the two cores.
    order = sorted(indexes, key=lambda r: ("gin" not in r[1].lower(), "comments" not in r[1], r[0]))
    with ThreadPoolExecutor(max_workers=2) as ex:
        per_index = dict(
            zip([n for n, _ in order], ex.map(build, [d for _, d in order]), strict=True)
        )
    timings["indexes"] = time.perf_counter() - t
    timings["slowest_index"] = max(per_index.items(), key=lambda kv: kv[1]) if per_index else None
    t = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        # The load skipped the triggers: the search documents are written in one pass.
        conn.execute("VACUUM (ANALYZE) tickets, comments")
        for stmt in schema.rebuild_sql("postgresql"):
            conn.execute(stmt)
    timings["search_documents"] = time.perf_counter() - t
    t = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) users, tickets, comments, ticket_search_docs")
    timings["vacuum_analyze"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return timings
