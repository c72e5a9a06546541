"""``crm-monitor``: local checks against real peers, the agent loop and server management
against the app served over real HTTP."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from crm import __version__
from crm.extensions import db
from crm.monitoring import services
from crm.monitoring.cli_tool import main
from crm.monitoring.models import CheckResult, Monitor
from tests.conftest import PASSWORD
from tests.monitoring.peers import Route

CLI = str(Path(sys.executable).with_name("crm-monitor"))


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def write(tmp_path, text: str) -> str:
    path = tmp_path / "checks.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def live_url(app):
    """The session app served by werkzeug from a thread (real HTTP on 127.0.0.1)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="crm-monitor-live", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


# ---------------------------------------------------------------- version and usage

def test_version_from_the_installed_script():
    result = subprocess.run([CLI, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"crm-monitor {__version__}"


def test_version_in_process(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and __version__ in capsys.readouterr().out


@pytest.mark.parametrize("text,fragment", [
    ("checks = 'nope'", "at least one [[checks]]"),
    ("[[checks]\nname=", "not valid TOML"),
    ('[[checks]]\nname = "x"\ntype = "http"\nurl = "gopher://x"', "checks[0] (x): url:"),
    ('[[checks]]\nname = "x"\ntype = "tcp"\nhost = "db.example.com"', "checks[0] (x): port:"),
    ('[[checks]]\nname = "x"\ntype = "heartbeat"', "heartbeat monitors are pinged"),
])
def test_bad_configuration_exits_2_with_a_message(tmp_path, capsys, text, fragment):
    code, _ = run_cli("check", "--config", write(tmp_path, text))
    assert code == 2
    assert fragment in capsys.readouterr().err


def test_missing_config_file_exits_2(tmp_path, capsys):
    assert run_cli("check", "--config", str(tmp_path / "none.toml"))[0] == 2
    assert "cannot read" in capsys.readouterr().err


# ---------------------------------------------------------------- check (local, no server)

def _config_for(http_peer, tcp_peer, extra: str = "") -> str:
    return f'''
[[checks]]
name = "home page"
type = "http"
url = "{http_peer.url('/health')}"
keyword = "healthy"
timeout = 3

[[checks]]
name = "api"
type = "http"
url = "{http_peer.url('/api')}"
json_path = "$.status"
json_expected = "ok"
timeout = 3

[[checks]]
name = "socket"
type = "tcp"
host = "127.0.0.1"
port = {tcp_peer.port}
timeout = 3
{extra}'''


def test_check_exits_0_when_all_are_up(tmp_path, http_peer, tcp_peer):
    http_peer.routes["/health"] = Route(200, "all healthy")
    http_peer.routes["/api"] = Route(200, {"status": "ok"})
    code, output = run_cli("check", "--config", write(tmp_path, _config_for(http_peer, tcp_peer)))
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "STATUS", "MS", "DETAIL"]
    rows = {line.split("  ")[0].strip(): line for line in lines[2:5]}
    assert set(rows) == {"home page", "api", "socket"}
    assert all(" UP " in row for row in rows.values())
    assert " 200" in rows["home page"]
    assert lines[-1] == "3 up, 0 down"
    assert [r["path"] for r in http_peer.requests].count("/health") == 1


def test_check_exits_1_when_one_is_down(tmp_path, http_peer, tcp_peer):
    http_peer.routes["/health"] = Route(503, "maintenance")
    http_peer.routes["/api"] = Route(200, {"status": "ok"})
    code, output = run_cli("check", "--config", write(tmp_path, _config_for(http_peer, tcp_peer)))
    assert code == 1
    row = next(line for line in output.splitlines() if line.startswith("home page"))
    assert "DOWN" in row and "503" in row
    assert output.splitlines()[-1] == "2 up, 1 down"


def test_check_runs_as_a_script_without_app_or_database(tmp_path, http_peer, tcp_peer):
    http_peer.routes["/health"] = Route(200, "healthy")
    http_peer.routes["/api"] = Route(200, {"status": "degraded"})
    config = write(tmp_path, _config_for(http_peer, tcp_peer))
    # no database or Redis settings
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    result = subprocess.run(
        [CLI, "check", "--config", config],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "api" in result.stdout and "DOWN" in result.stdout and "2 up, 1 down" in result.stdout


# ---------------------------------------------------------------- the server (live HTTP)


def test_list_add_remove_against_a_live_server(live_url, make_user, token_for, capsys):
    engineer = make_user("engineer")
    token = token_for(engineer)
    services.create_monitor(
        {"name": "Existing", "type": "tcp", "host": "db.example.com", "port": 5432, "tags": ["db"]}
    )
    server = ["--server", live_url, "--token", token]
    code, output = run_cli(
        "add",
        *server,
        "--name",
        "Shop",
        "--type",
        "http",
        "--url",
        "https://shop.example.com/",
        "--interval",
        "60",
        "--tag",
        "web",
        "--email-contact",
        "ops@example.com",
    )
    assert code == 0, capsys.readouterr().err
    shop = db.session.scalar(db.select(Monitor).where(Monitor.name == "Shop"))
    assert output.strip() == f"created monitor {shop.id}: Shop"
    assert (
        shop.interval_seconds == 60 and shop.tags == ["web"] and shop.created_by_id == engineer.id
    )
    assert [c.email for c in services.monitor_contacts(shop)] == ["ops@example.com"]

    code, output = run_cli("add", *server, "--name", "nightly", "--type", "heartbeat")
    assert code == 0 and "ping URL: " in output and "/api/v1/heartbeat/" in output

    code, output = run_cli("list", *server)
    assert code == 0
    assert (
        "Existing" in output
        and "db.example.com:5432" in output
        and "https://shop.example.com/" in output
    )
    assert output.splitlines()[-1] == "3 monitors"
    code, output = run_cli("list", *server, "--tag", "web")
    assert output.splitlines()[-1] == "1 monitor" and "Shop" in output

    shop_id = shop.id
    code, output = run_cli("remove", *server, str(shop_id))
    assert code == 0 and output.strip() == f"removed monitor {shop_id}"
    db.session.expire_all()
    assert db.session.get(Monitor, shop_id) is None
    code, output = run_cli("remove", *server, str(shop_id))
    assert code == 1 and "404" in output


def test_add_refused_by_the_server_shows_the_field(live_url, make_user, token_for, capsys):
    token = token_for(make_user("engineer"))
    code, _ = run_cli(
        "add",
        "--server",
        live_url,
        "--token",
        token,
        "--name",
        "x",
        "--type",
        "http",
        "--url",
        "https://x.example",
        "--interval",
        "5",
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "422" in err and "interval: must be at least 20 seconds" in err


def test_add_from_a_config_file_creates_all(tmp_path, live_url, make_user, token_for):
    token = token_for(make_user("manager"))
    config = write(
        tmp_path,
        """
[[checks]]
name = "a"
type = "tcp"
host = "a.example.com"
port = 80

[[checks]]
name = "b"
type = "dns"
host = "example.com"
expected_address = "192.0.2.1"
""",
    )
    code, output = run_cli("add", "--server", live_url, "--token", token, "--config", config)
    assert code == 0, output
    assert db.session.query(Monitor).count() == 2 and output.count("created monitor") == 2


def test_server_commands_need_credentials_and_refuse_bad_ones(live_url, make_user, capsys):
    assert run_cli("list", "--server", live_url)[0] == 2
    assert "--token" in capsys.readouterr().err
    assert run_cli("list", "--server", live_url, "--token", "forged")[0] == 1
    assert "401" in capsys.readouterr().err
    agent = make_user("agent")
    code, output = run_cli(
        "list", "--server", live_url, "--email", agent.email, "--password", PASSWORD
    )
    assert code == 0 and output.splitlines()[-1] == "0 monitors"
    code, _ = run_cli(
        "add",
        "--server",
        live_url,
        "--email",
        agent.email,
        "--password",
        PASSWORD,
        "--name",
        "x",
        "--type",
        "tcp",
        "--host",
        "db.example.com",
        "--port",
        "1",
    )
    assert code == 1 and "403" in capsys.readouterr().err


def test_run_pushes_results_to_the_server(tmp_path, live_url, make_user, http_peer, tcp_peer):
    engineer = make_user("engineer")
    up_mon = services.create_monitor(
        {"name": "inside", "type": "http", "url": "https://intranet.example/"}
    )
    down_mon = services.create_monitor(
        {"name": "closed", "type": "tcp", "host": "intranet.example", "port": 1}
    )
    http_peer.routes["/health"] = Route(200, "healthy")
    config = write(
        tmp_path,
        f'''
[[checks]]
id = {up_mon.id}
name = "inside"
type = "http"
url = "{http_peer.url("/health")}"
timeout = 3

[[checks]]
id = {down_mon.id}
name = "closed"
type = "tcp"
host = "127.0.0.1"
port = 9
timeout = 3
''',
    )
    code, output = run_cli(
        "run",
        "--config",
        config,
        "--server",
        live_url,
        "--email",
        engineer.email,
        "--password",
        PASSWORD,
        "--rounds",
        "2",
        "--interval",
        "1",
    )
    assert code == 0, output
    db.session.expire_all()
    ups = db.session.query(CheckResult).filter_by(monitor_id=up_mon.id).all()
    downs = db.session.query(CheckResult).filter_by(monitor_id=down_mon.id).all()
    assert [r.status for r in ups] == ["up", "up"] and ups[0].status_code == 200
    assert [r.status for r in downs] == ["down", "down"] and "refused" in downs[0].error.lower()
    assert db.session.get(Monitor, up_mon.id).status == "up"
    assert db.session.get(Monitor, down_mon.id).status == "down"


def test_run_needs_server_ids(tmp_path, capsys):
    config = write(tmp_path, '[[checks]]\nname = "x"\ntype = "tcp"\nhost = "127.0.0.1"\nport = 9\n')
    assert (
        run_cli(
            "run", "--config", config, "--server", "http://127.0.0.1:9", "--token", "t", "--once"
        )[0]
        == 2
    )
    assert "monitor id" in capsys.readouterr().err
