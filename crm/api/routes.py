"""API routes (being built out)."""
from flask import render_template

from crm.api import bp
from crm.auth.policy import public


@bp.route("/docs")
@public
def docs():
    """Browsable API documentation (Swagger UI, served locally)."""
    return render_template("api/docs.html")
