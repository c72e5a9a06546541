"""Flask CLI commands: ``create-admin``, ``seed-demo``, ``init-search``."""
from __future__ import annotations

import click
from flask import Flask, current_app

from crm.errors import ServiceError


def init_app(app: Flask) -> None:
    """Register the commands on ``app``."""

    @app.cli.command("create-admin")
    @click.option("--email", required=True, help="The admin's email (log-in).")
    @click.option("--password", required=True, help="8–128 characters.")
    @click.option("--name", default="Administrator", show_default=True)
    def create_admin_cmd(email: str, password: str, name: str) -> None:
        """Create an active admin (or promote and reset an existing account)."""
        from crm.auth.services import create_admin
        try:
            user = create_admin(email, password, name)
        except ServiceError as exc:
            raise click.ClickException(f"{exc.field or 'error'}: {exc.message}") from None
        click.echo(f"admin {user.email} (id {user.id}) is active")

    @app.cli.command("seed-demo")
    @click.option("--force", is_flag=True, help="Seed even when users exist.")
    def seed_demo_cmd(force: bool) -> None:
        """Load demo data (one user per role, tickets, monitors with history, incidents, a
        status page) into an empty database."""
        from crm.demo import seed_demo
        result = seed_demo(force=force)
        if result is None:
            click.echo("database not empty: demo data skipped (use --force)")
            return
        base = current_app.config.get("SERVER_NAME_FOR_LINKS", "http://127.0.0.1:5000").rstrip("/")
        click.echo(f"Demo logins at {base}/auth/login (password for all: demo-pass-123):")
        for role, email in result.items():
            click.echo(f"  {role:9} {email}")
