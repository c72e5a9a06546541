"""Ticket list and search benchmark at scale (a benchmark, not a test: pytest never collects it).

    python bench/tickets.py --db sqlite|postgresql|both [--tickets 1000000 --customers 100000
        --engineers 50 --comments-per-ticket 3] [--duration 20] [--warmup 3] [--reuse]

1. Generates the data set into a bench database (SQLite file under bench/results/, or the
   PostgreSQL database ``crm_bench``), schema by ``flask db upgrade``; ``--reuse`` keeps a
   database generated earlier with the same sizes.
2. Prints the SQL one page view issues, with plans (proof of index use, no full COUNT).
3. Serves ``bench.app:create_bench_app()`` with gunicorn (production settings), logs in as
   the admin through the login form, and loads each endpoint with 8 concurrent keep-alive
   clients (wrk): the staff list filtered by status and assignee, and search for each query
   class (words of different frequency, two words, a phrase, a prefix, fields only, words
   plus fields, best match), each between two slices of the in-memory baseline page;
   an endpoint's ratio uses the mean of the baselines just before and after it.
4. Prints req/s, p50/p95, ratio vs baseline and PASS/FAIL (ratio >= 0.4 and p95 <= 50 ms),
   and writes everything as JSON to bench/results/.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from urllib.parse import quote_plus

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import database, datagen, explain, load  # noqa: E402

RATIO_TARGET = 0.4
P95_TARGET_MS = 50.0
LIST_STATUSES = ("open", "in_progress", "pending", "closed")
SEARCH_ORDER = ("order", "refund", "invoice", "warranty", "voucher")
#: The search query classes the issue names: (label, q, sort). Words have known frequencies
#: (bench.datagen.SEARCH_WORDS); the field-only and mixed queries use the generated statuses
#: and priorities.
SEARCH_QUERIES = (
    [(f"search q={w}", w, "-updated") for w in SEARCH_ORDER]
    + [("search 2 words q=refund invoice", "refund invoice", "-updated"),
       ('search phrase q="refund invoice"', '"refund invoice"', "-updated"),
       ("search prefix q=warrant*", "warrant*", "-updated"),
       ("search fields q=status:pending priority:urgent", "status:pending priority:urgent",
        "-updated"),
       ("search words+fields q=invoice status:open", "invoice status:open", "-updated"),
       ("search best match q=invoice sort=relevance", "invoice", "relevance")])
BASELINE = "baseline (25 rows from memory)"


def log(msg: str) -> None:
    """Progress line on stderr (the result tables go to stdout)."""
    print(msg, file=sys.stderr, flush=True)


def endpoints(sizes: datagen.Sizes) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(baseline paths, [(name, paths)] of the measured endpoints); the paths of one run are
    requested in rotation."""
    engineers = sizes.engineer_ids[:: max(1, len(sizes.engineer_ids) // 8)][:8]
    lists = [
        f"/tickets/?view=all&status={s}&assignee={e}" for e in engineers for s in LIST_STATUSES
    ]
    base = [p.replace("/tickets/", "/bench/baseline") for p in lists]
    runs = [("list status+assignee (4 statuses x 8 engineers)", lists)]
    runs += [(name, [search_url(q, sort)]) for name, q, sort in SEARCH_QUERIES]
    return base, runs


def search_url(q: str, sort: str) -> str:
    """The staff list URL of one search."""
    return f"/tickets/?view=all&q={quote_plus(q)}" + (f"&sort={sort}" if sort != "-updated" else "")


def exactness(kind: str) -> list[dict]:
    """First page (25 rows) of every text search as the list serves it, against a row-by-row
    check: PostgreSQL builds each ticket's document on the fly (no index) and walks tickets
    newest update first; SQLite tests each ticket against FTS5 by rowid in the same walk.

    :returns: ``[{"q", "ids", "check", "same"}]`` (ids of the served first page).
    """
    from sqlalchemy import text

    from bench.datagen import ADMIN_EMAIL
    from crm import create_app
    from crm.auth.models import User
    from crm.extensions import db
    from crm.search.schema import PG_CONFIG, PG_DOCUMENT
    from crm.tickets import search, services
    from crm.tickets.services import TicketFilters

    out = []
    with explain._env(kind):
        app = create_app()
        with app.app_context():
            admin = db.session.scalar(db.select(User).where(User.email == ADMIN_EMAIL))
            for _name, q, sort in SEARCH_QUERIES:
                if ":" in q or sort != "-updated":
                    continue
                page, _ = services.list_tickets(admin, TicketFilters(q=q), limit=25)
                found = search.compile_for(db.session.connection(), q, admin)
                if kind == "postgresql":
                    sql = (
                        f"SELECT t.id FROM tickets t WHERE ({PG_DOCUMENT}) @@ "
                        f"to_tsquery('{PG_CONFIG}', :q) "
                        "ORDER BY t.updated_at DESC, t.id DESC LIMIT 25"
                    )
                    params = {"q": found.tsquery()}
                else:
                    sql = (
                        "SELECT t.id FROM tickets t WHERE EXISTS (SELECT 1 FROM ticket_search "
                        "WHERE ticket_search MATCH :q AND ticket_search.rowid = t.id) "
                        "ORDER BY t.updated_at DESC, t.id DESC LIMIT 25"
                    )
                    params = {"q": found.fts_match()}
                check = list(db.session.scalars(text(sql), params))
                ids = [t.id for t in page]
                out.append({"q": q, "ids": ids, "check": check, "same": ids == check})
                log(f"  exact {q!r}: {'same' if ids == check else 'DIFFERENT'} ({len(ids)} rows)")
            db.session.remove()
    return out


def table(rows: list[dict]) -> str:
    """The result table as printed."""
    head = (
        f"{'endpoint':50} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'ratio':>6} {'rows':>5} {'err':>4}  result"
    )
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(
            f"{r['name']:50} {r['rps']:8.1f} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} "
            f"{(r['p99_ms'] or 0):8.1f} {r['ratio']:6.2f} {r['rows']:>5} {r['errors']:>4}  "
            f"{r['verdict']}"
        )
    return "\n".join(out)


def bench_one(kind: str, sizes: datagen.Sizes, args) -> dict:
    """Generate (or reuse), explain, serve and load one database. :returns: the result record."""
    gen = database.prepare(kind, sizes, args.reuse, log)
    urls = [
        f"/tickets/?view=all&status=open&assignee={sizes.engineer_ids[0]}",
        f"/tickets/?view=all&status=closed&assignee={sizes.engineer_ids[0]}",
    ]
    urls += [search_url(q, sort) for _name, q, sort in SEARCH_QUERIES]
    log(f"{kind}: first pages against a row-by-row check …")
    exact = exactness(kind)
    log(f"{kind}: plans and in-process timings …")
    plans = explain.inspect(kind, urls)
    print(f"\n===== {kind}: SQL per page view, plans =====")
    print(explain.report(kind, plans))
    full_counts = sum(s["full_count"] for p in plans for s in p["statements"])
    print(f"full-table COUNT statements per page view: {full_counts}")

    log(
        f"{kind}: gunicorn {args.workers} x {args.worker_class} workers, {args.clients} clients, "
        f"{args.duration:g} s per endpoint after {args.warmup:g} s warm-up …"
    )
    base_paths, runs = endpoints(sizes)
    results: list[dict] = []
    with load.gunicorn(
        kind, args.workers, args.worker_class, args.threads, sizes.engineers
    ) as port:
        cookie = load.login(port)

        def measure(name: str, paths: list[str], duration: float) -> dict:
            status, headers, body = load.http_get(port, paths[0], cookie)
            if status != 200:
                raise RuntimeError(f"{paths[0]} answered {status} {headers.get('location', '')}")
            r = load.run_load(port, cookie, paths, duration, args.warmup, args.clients)
            r.update(
                name=name,
                paths=paths[:4] + (["…"] if len(paths) > 4 else []),
                rows=load.count_rows(body),
            )
            log(f"  {name}: {r['rps']:.1f} req/s p50 {r['p50_ms']:.1f} ms p95 {r['p95_ms']:.1f} ms")
            return r

        # Baseline slices before, between and after the endpoints: each endpoint's ratio uses
        # the baselines measured just before and just after it (the machine's load drifts).
        baselines = [measure(BASELINE, base_paths, args.baseline_duration)]
        for name, paths in runs:
            r = measure(name, paths, args.duration)
            baselines.append(measure(BASELINE, base_paths, args.baseline_duration))
            r["baseline_rps"] = (baselines[-2]["rps"] + baselines[-1]["rps"]) / 2
            results.append(r)
    base_rps = sum(b["rps"] for b in baselines) / len(baselines)
    for b in baselines:
        b["ratio"] = b["rps"] / base_rps
        b["verdict"] = "(baseline)"
    for r in results:
        r["ratio"] = r["rps"] / r["baseline_rps"]
        ok = r["ratio"] >= RATIO_TARGET and r["p95_ms"] <= P95_TARGET_MS and not r["errors"]
        r["verdict"] = "PASS" if ok else "FAIL"
    merged = [baselines[0]]
    for r, b in zip(results, baselines[1:], strict=True):
        merged += [r, b]

    print(
        f"\n===== {kind}: {sizes.tickets:,} tickets, {sizes.customers:,} customers, "
        f"{sizes.engineers} engineers, {sizes.tickets * sizes.comments_per_ticket:,} comments; "
        f"gunicorn -w {args.workers} -k {args.worker_class}"
        + (f" --threads {args.threads}" if args.worker_class == "gthread" else "")
        + f"; {args.clients} clients; {args.duration:g} s per endpoint, "
        f"{args.baseline_duration:g} s per baseline slice ====="
    )
    if not gen["reused"]:
        print(f"generation: {gen['timings']['total']:.1f} s")
    print(table(merged))
    print(
        f"ratio = req/s / mean of the baseline slices just before and after it; baseline rows "
        f"show req/s / mean of all baseline slices ({base_rps:.1f} req/s)"
    )
    print(f"targets: ratio >= {RATIO_TARGET} and p95 <= {P95_TARGET_MS:g} ms and no errors")
    print(
        f"exact first pages (row-by-row check): {sum(e['same'] for e in exact)} of "
        f"{len(exact)} text searches"
    )
    return {
        "db": kind,
        "sizes": sizes.__dict__,
        "generation": gen,
        "results": merged,
        "exactness": exact,
        "baseline_rps": base_rps,
        "plans": plans,
        "full_table_counts": full_counts,
        "server": {
            "workers": args.workers,
            "worker_class": args.worker_class,
            "threads": args.threads,
        },
        "clients": args.clients,
        "duration_s": args.duration,
        "baseline_duration_s": args.baseline_duration,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point. :returns: 0 when every endpoint passed, else 1."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--engineers", type=int, default=50)
    p.add_argument("--comments-per-ticket", type=int, default=3)
    p.add_argument("--duration", type=float, default=20, help="seconds of load per endpoint")
    p.add_argument(
        "--baseline-duration",
        type=float,
        default=10,
        help="seconds of each baseline slice (before, between and after the endpoints)",
    )
    p.add_argument("--warmup", type=float, default=3, help="seconds of warm-up before each run")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    p.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    p.add_argument(
        "--reuse", action="store_true", help="keep data generated earlier with the same sizes"
    )
    args = p.parse_args(argv)
    sizes = datagen.Sizes(
        tickets=args.tickets,
        customers=args.customers,
        engineers=args.engineers,
        comments_per_ticket=args.comments_per_ticket,
    )
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    records = [bench_one(kind, sizes, args) for kind in kinds]
    if len(records) == 2:
        pages = [{e["q"]: e["ids"] for e in rec["exactness"]} for rec in records]
        same = [q for q in pages[0] if pages[0][q] == pages[1].get(q)]
        print(f"first pages identical on SQLite and PostgreSQL: {len(same)} of {len(pages[0])}")
    os.makedirs(database.RESULTS_DIR, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(database.RESULTS_DIR, f"tickets-{args.db}-{stamp}.json")
    with open(path, "w") as f:
        json.dump({"when": stamp, "runs": records}, f, indent=2, default=str)
    print(f"\nresults written to {path}")
    failed = [r["name"] for rec in records for r in rec["results"] if r["verdict"] == "FAIL"]
    return 1 if failed else 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    log(f"total {time.perf_counter() - t0:.0f} s")
    sys.exit(code)
