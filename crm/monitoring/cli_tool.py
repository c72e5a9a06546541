"""``crm-monitor``: run checks locally, act as a remote agent, and manage a server's monitors.

Commands::

    crm-monitor --version
    crm-monitor check --config checks.toml          # run once here; exit 1 if any is down
    crm-monitor run --config checks.toml --server URL --token TOKEN [--interval 60] [--once]
    crm-monitor list   --server URL --token TOKEN [--type http] [--tag web]
    crm-monitor add    --server URL --token TOKEN (--config checks.toml | --name N --type T ...)
    crm-monitor remove --server URL --token TOKEN ID [ID ...]

The TOML file lists checks in the API's monitor shape (see :mod:`crm.monitoring.schemas`)::

    [[checks]]
    id = 12                      # the server's monitor id (``run`` pushes results to it)
    name = "Shop"
    type = "http"
    url = "https://shop.example.com/health"
    keyword = "OK"

``check`` needs neither the web application nor a database: checks run with the engine's
runner (:mod:`crm.monitoring.engine.runner`) on snapshots built from the validated definitions.
``run`` is for agents behind a firewall: each round's results go to
``POST /api/v1/monitors/<id>/results``. Server commands authenticate with a bearer token
(``--token``, or ``--email``/``--password`` exchanged at ``POST /api/v1/auth/token``);
``CRM_MONITOR_SERVER``, ``CRM_MONITOR_TOKEN``, ``CRM_MONITOR_EMAIL`` and
``CRM_MONITOR_PASSWORD`` supply defaults.

Exit codes: 0 success (all up), 1 a check is down or the server refused, 2 bad usage or
configuration.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import httpx
from pydantic import ValidationError

from crm import __version__

EXIT_OK, EXIT_DOWN, EXIT_USAGE = 0, 1, 2
HTTP_TIMEOUT = 30.0


class UsageError(Exception):
    """Bad arguments or configuration (exit code 2)."""


class ServerError(Exception):
    """The server refused a request (``status``) or could not be reached (``status`` None);
    exit code 1."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass
class Check:
    """One configured check: the server's monitor id (``run``), the validated spec and the
    runner's snapshot of it."""

    monitor_id: int | None
    spec: object
    target: object


# ---------------------------------------------------------------- configuration

def load_checks(path: str) -> list[Check]:
    """Read and validate the ``[[checks]]`` of a TOML file.

    :raises UsageError: unreadable file, bad TOML, no checks, or an invalid check (the
        message names the check's index and name, and the field).
    """
    from crm.monitoring import schemas
    from crm.monitoring.engine.checks import Target

    try:
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    items = document.get("checks")
    if not isinstance(items, list) or not items:
        raise UsageError(f"{path}: add at least one [[checks]] table")
    checks, problems = [], []
    for index, item in enumerate(items):
        label = f"checks[{index}]" + (
            f" ({item.get('name')})" if isinstance(item, dict) and item.get("name") else ""
        )
        if not isinstance(item, dict):
            problems.append(f"{label}: must be a table")
            continue
        item = dict(item)
        monitor_id = item.pop("id", None)
        if monitor_id is not None and (
            not isinstance(monitor_id, int) or isinstance(monitor_id, bool) or monitor_id < 1
        ):
            problems.append(
                f"{label}: id: must be the server's monitor id (a positive whole number)"
            )
            continue
        try:
            spec = schemas.validate_monitor(item)
        except ValidationError as exc:
            problems += [
                f"{label}: {field}: {message}" for field, message in schemas.error_list(exc)
            ]
            continue
        columns, config = schemas.spec_to_columns(spec)
        protocol = spec.type
        if spec.type == "http":
            protocol = "https" if config["url"].lower().startswith("https:") else "http"
        target = Target(
            id=monitor_id,
            type=spec.type,
            config=config,
            timeout=float(columns["timeout_seconds"]),
            protocol=protocol,
            name=spec.name,
        )
        checks.append(Check(monitor_id=monitor_id, spec=spec, target=target))
    if problems:
        raise UsageError(f"{path}: invalid checks:\n  " + "\n  ".join(problems))
    return checks


def run_checks(checks: Sequence[Check], ca_file: str | None = None, concurrency: int = 100) -> list:
    """Run every active check once, concurrently (heartbeat checks have nothing to run).

    :returns: one :class:`~crm.monitoring.engine.checks.CheckOutcome` per check, in order.
    """
    from crm.monitoring.engine.runner import run_blocking, run_targets

    return run_blocking(
        run_targets([c.target for c in checks], concurrency=concurrency, ca_file=ca_file)
    )


def _detail(outcome) -> str:
    if outcome.error:
        return outcome.error
    parts = []
    if outcome.status_code is not None:
        parts.append(str(outcome.status_code))
    for key in ("days_left", "addresses"):
        if key in (outcome.detail or {}):
            value = outcome.detail[key]
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            parts.append(f"{key.replace('_', ' ')}: {shown}")
    return " · ".join(parts) or "ok"


def format_table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain-text table: columns padded to their widest cell, the last one left free."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def outcome_rows(checks: Sequence[Check], outcomes: Sequence) -> list[list[str]]:
    """Table rows (name, type, status, ms, detail) of a round of checks."""
    rows = []
    for check, outcome in zip(checks, outcomes, strict=True):
        ms = f"{outcome.response_time_ms:.0f}" if outcome.response_time_ms is not None else "-"
        rows.append(
            [check.spec.name, check.spec.type, outcome.status.upper(), ms, _detail(outcome)]
        )
    return rows


# ---------------------------------------------------------------- the server


class Server:
    """The CR Tracker API at ``base_url`` with a bearer token (obtained from e-mail and
    password when no token is given, and again when it expires)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        email: str | None = None,
        password: str | None = None,
        client: httpx.Client | None = None,
    ):
        if not base_url:
            raise UsageError("give --server (or set CRM_MONITOR_SERVER)")
        if not base_url.startswith(("http://", "https://")):
            raise UsageError("--server must be an http:// or https:// URL")
        if not token and not (email and password):
            raise UsageError("give --token, or --email and --password (or CRM_MONITOR_TOKEN)")
        self.base = base_url.rstrip("/") + "/api/v1"
        self.token = token
        self.email, self.password = email, password
        self.client = client or httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False)

    def _login(self) -> None:
        resp = self._send(
            "POST", "/auth/token", json={"email": self.email, "password": self.password}, auth=False
        )
        self.token = resp.json()["access_token"]

    def _send(self, method: str, path: str, *, auth: bool = True, **kwargs) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            resp = self.client.request(method, self.base + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerError(f"cannot reach {self.base}: {exc}") from None
        if resp.status_code >= 400:
            raise ServerError(describe_problem(resp), resp.status_code)
        return resp

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """Send an authenticated request; logs in first (and once more after a 401) when
        e-mail and password were given.

        :raises ServerError: a 4xx/5xx answer (message from the problem document) or no answer.
        """
        if not self.token:
            self._login()
        try:
            return self._send(method, path, **kwargs)
        except ServerError as exc:
            if exc.status == 401 and self.email and self.password:
                self._login()
                return self._send(method, path, **kwargs)
            raise

    def monitors(self, **filters) -> list[dict]:
        """Every monitor matching ``filters`` (all pages, following ``next_cursor``)."""
        out, cursor = [], None
        while True:
            params = {**filters, "limit": 100, **({"cursor": cursor} if cursor else {})}
            body = self.request("GET", "/monitors", params=params).json()
            out += body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                return out


def describe_problem(resp: httpx.Response) -> str:
    """``"<status> <detail>"`` plus one line per field error of an RFC 9457 problem."""
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    text = f"{resp.status_code} {body.get('detail') or body.get('title') or resp.reason_phrase}"
    for field, messages in (body.get("errors") or {}).items():
        for message in messages:
            text += f"\n  {field}: {message}"
    return text


def _target_text(monitor: dict) -> str:
    if monitor.get("url"):
        return monitor["url"]
    if monitor.get("type") == "synthetic":
        return f"{len(monitor.get('steps') or [])} steps"
    if monitor.get("type") == "heartbeat":
        return monitor.get("ping_url") or ""
    host = monitor.get("host") or ""
    return f"{host}:{monitor['port']}" if monitor.get("port") else host


# ---------------------------------------------------------------- commands


def cmd_check(args, out: TextIO) -> int:
    checks = load_checks(args.config)
    passive = [c.spec.name for c in checks if c.spec.type == "heartbeat"]
    if passive:
        raise UsageError(f"heartbeat monitors are pinged, not checked: {', '.join(passive)}")
    outcomes = run_checks(checks, ca_file=args.ca_file)
    print(
        format_table(outcome_rows(checks, outcomes), ["NAME", "TYPE", "STATUS", "MS", "DETAIL"]),
        file=out,
    )
    down = sum(1 for o in outcomes if o.status != "up")
    print(f"{len(outcomes) - down} up, {down} down", file=out)
    return EXIT_DOWN if down else EXIT_OK


def _server(args) -> Server:
    return Server(args.server, args.token, args.email, args.password)


def push_round(server: Server, checks: Sequence[Check], ca_file: str | None, out: TextIO) -> int:
    """Run the checks once and push each result to the server.

    :returns: how many results the server refused (printed).
    """
    outcomes = run_checks(checks, ca_file=ca_file)
    refused = 0
    for check, outcome in zip(checks, outcomes, strict=True):
        body = {
            "status": outcome.status,
            "response_time_ms": outcome.response_time_ms,
            "status_code": outcome.status_code,
            "error": (outcome.error or None) and outcome.error[:4000],
            "checked_at": (outcome.checked_at.isoformat() if outcome.checked_at else None),
        }
        try:
            server.request("POST", f"/monitors/{check.monitor_id}/results", json=body)
        except ServerError as exc:
            refused += 1
            print(
                f"monitor {check.monitor_id} ({check.spec.name}): result refused: {exc}", file=out
            )
    print(
        format_table(outcome_rows(checks, outcomes), ["NAME", "TYPE", "STATUS", "MS", "DETAIL"]),
        file=out,
    )
    return refused


def cmd_run(args, out: TextIO) -> int:
    checks = load_checks(args.config)
    missing = [c.spec.name for c in checks if c.monitor_id is None]
    if missing:
        raise UsageError(
            "every check needs the server's monitor id (id = N) to push results: "
            + ", ".join(missing)
        )
    if any(c.spec.type == "heartbeat" for c in checks):
        raise UsageError("heartbeat monitors are pinged by the job itself, not by an agent")
    server = _server(args)
    rounds = 0
    while True:
        started = time.monotonic()
        refused = push_round(server, checks, args.ca_file, out)
        rounds += 1
        out.flush()
        if args.once or (args.rounds and rounds >= args.rounds):
            return EXIT_DOWN if refused else EXIT_OK
        time.sleep(max(0.0, args.interval - (time.monotonic() - started)))


def cmd_list(args, out: TextIO) -> int:
    filters = {
        k: v
        for k, v in (("type", args.type), ("status", args.status), ("tag", args.tag), ("q", args.q))
        if v
    }
    monitors = _server(args).monitors(**filters)
    rows = [[str(m["id"]), m["name"], m["type"], m["status"], _target_text(m)] for m in monitors]
    print(format_table(rows, ["ID", "NAME", "TYPE", "STATUS", "TARGET"]), file=out)
    print(f"{len(rows)} monitor{'s' if len(rows) != 1 else ''}", file=out)
    return EXIT_OK


def _flag_definition(args) -> dict:
    if not (args.name and args.type):
        raise UsageError("give --config, or at least --name and --type")
    body: dict = {"name": args.name, "type": args.type}
    for key in (
        "url",
        "host",
        "port",
        "interval",
        "timeout",
        "retries",
        "keyword",
        "expected_status",
    ):
        value = getattr(args, key)
        if value is not None:
            body[key] = value
    if args.tag:
        body["tags"] = args.tag
    if args.email_contact or args.phone_contact:
        body["contacts"] = [{"email": e} for e in args.email_contact or []] + [
            {"phone": p} for p in args.phone_contact or []
        ]
    return body


def cmd_add(args, out: TextIO) -> int:
    server = _server(args)
    if args.config:
        # validated here first (same rules as the server), then created all or nothing
        checks = load_checks(args.config)
        bodies = [check.spec.model_dump(mode="json") for check in checks]
        ids = server.request("POST", "/monitors/import", json=bodies).json()["ids"]
        created = [server.request("GET", f"/monitors/{i}").json() for i in ids]
    else:
        created = [server.request("POST", "/monitors", json=_flag_definition(args)).json()]
    for monitor in created:
        line = f"created monitor {monitor['id']}: {monitor['name']}"
        if monitor.get("ping_url"):
            line += f" (ping URL: {monitor['ping_url']})"
        print(line, file=out)
    return EXIT_OK


def cmd_remove(args, out: TextIO) -> int:
    server = _server(args)
    failed = 0
    for monitor_id in args.ids:
        try:
            server.request("DELETE", f"/monitors/{monitor_id}")
            print(f"removed monitor {monitor_id}", file=out)
        except ServerError as exc:
            failed += 1
            print(f"monitor {monitor_id}: {exc}", file=out)
    return EXIT_DOWN if failed else EXIT_OK


# ---------------------------------------------------------------- arguments


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``crm-monitor`` (one sub-command per action)."""
    parser = argparse.ArgumentParser(
        prog="crm-monitor", description="CR Tracker uptime checks and agent."
    )
    parser.add_argument("--version", action="version", version=f"crm-monitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def server_options(p):
        p.add_argument(
            "--server",
            default=os.environ.get("CRM_MONITOR_SERVER"),
            help="base URL of CR Tracker, e.g. https://crm.example.com",
        )
        p.add_argument(
            "--token", default=os.environ.get("CRM_MONITOR_TOKEN"), help="API access token"
        )
        p.add_argument(
            "--email", default=os.environ.get("CRM_MONITOR_EMAIL"), help="log in with this account"
        )
        p.add_argument("--password", default=os.environ.get("CRM_MONITOR_PASSWORD"))

    check = sub.add_parser("check", help="run the configured checks once, here")
    check.add_argument("--config", required=True, help="TOML file with [[checks]]")
    check.add_argument(
        "--ca-file", help="extra trusted CA certificates (PEM) for HTTPS/TLS/SMTP checks"
    )
    check.set_defaults(func=cmd_check)

    run = sub.add_parser("run", help="agent: run the checks every --interval and push the results")
    run.add_argument("--config", required=True)
    run.add_argument(
        "--interval", type=_positive_int, default=60, help="seconds between rounds (60)"
    )
    run.add_argument("--once", action="store_true", help="one round, then exit")
    run.add_argument("--rounds", type=_positive_int, help="stop after this many rounds")
    run.add_argument("--ca-file")
    server_options(run)
    run.set_defaults(func=cmd_run)

    lst = sub.add_parser("list", help="list the server's monitors")
    server_options(lst)
    for name in ("type", "status", "tag", "q"):
        lst.add_argument(f"--{name}")
    lst.set_defaults(func=cmd_list)

    add = sub.add_parser("add", help="create monitors on the server")
    server_options(add)
    add.add_argument("--config", help="TOML file: create every [[checks]] (all or nothing)")
    add.add_argument("--name")
    add.add_argument("--type", choices=("http", "tcp", "smtp", "ftp", "dns", "tls", "heartbeat"))
    add.add_argument("--url")
    add.add_argument("--host")
    add.add_argument("--port", type=_positive_int)
    add.add_argument("--interval", type=_positive_int, help="seconds between checks")
    add.add_argument("--timeout", type=float, help="seconds")
    add.add_argument("--retries", type=int)
    add.add_argument("--keyword")
    add.add_argument("--expected-status", dest="expected_status")
    add.add_argument("--tag", action="append", help="repeat for several tags")
    add.add_argument("--email-contact", action="append", help="alert this address (repeatable)")
    add.add_argument(
        "--phone-contact", action="append", help="alert this number by SMS (repeatable)"
    )
    add.set_defaults(func=cmd_add)

    remove = sub.add_parser("remove", help="delete monitors on the server")
    server_options(remove)
    remove.add_argument("ids", nargs="+", type=_positive_int, metavar="ID")
    remove.set_defaults(func=cmd_remove)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``crm-monitor`` console script.

    :param argv: arguments (default ``sys.argv[1:]``).
    :param out: where tables and messages go (default stdout); errors go to stderr.
    :returns: the exit code (0 ok, 1 down/refused, 2 usage); argparse exits itself for
        ``--help``, ``--version`` and malformed arguments.
    """
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, out)
    except UsageError as exc:
        print(f"crm-monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServerError as exc:
        print(f"crm-monitor: server refused: {exc}", file=sys.stderr)
        return EXIT_DOWN
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover - python -m crm.monitoring.cli_tool
    sys.exit(main())
