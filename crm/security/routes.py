"""The admin's security page and the developer-console message endpoint."""
from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, url_for
from flask_login import current_user

from crm.auth.policy import public, requires
from crm.security import DEVCONSOLE_SETTING, bp
from crm.security.forms import DevConsoleForm
from crm.settings import get_setting, set_setting

#: seconds browsers may cache the developer-console message.
DEVCONSOLE_CACHE_SECONDS = 300


def devconsole_message() -> str:
    """The admin's developer-console message ("" when none is set)."""
    value = get_setting(DEVCONSOLE_SETTING, "")
    return value if isinstance(value, str) else ""


@bp.route("/security/devconsole.json")
@public
def devconsole():
    """``{"message": "…"}`` for :file:`static/js/devconsole.js`, which prints it as plain
    text in the developer console (JSON-encoded, never inserted into a page)."""
    resp = jsonify(message=devconsole_message())
    resp.headers["Cache-Control"] = f"public, max-age={DEVCONSOLE_CACHE_SECONDS}"
    return resp


@bp.route("/admin/security", methods=["GET", "POST"])
@requires("security.manage")
def admin():
    """Admin page: the developer-console message (e.g. a careers note asking for CVs)."""
    form = DevConsoleForm()
    if not form.is_submitted():
        form.message.data = devconsole_message()
    if form.validate_on_submit():
        text = (form.message.data or "").replace("\r\n", "\n").strip()
        set_setting(DEVCONSOLE_SETTING, text, by=current_user._get_current_object())
        flash("Developer-console message saved.", "success")
        return redirect(url_for("security.admin"))
    status = 422 if form.is_submitted() else 200
    return render_template("security/admin.html", form=form), status
