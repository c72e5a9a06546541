"""Front-end assets that ship inside Python packages, served from the installed package.

plotly.js (4.8 MB) comes with the ``plotly`` Python package as
``plotly/package_data/plotly.min.js``; serving that file keeps the console offline-capable and
CSP-clean without committing a copy that would drift from the Python package's version.
"""
from __future__ import annotations

import os

from flask import Blueprint, Flask, send_file

from crm.auth.policy import public

bp = Blueprint("assets", __name__, url_prefix="/assets")

#: One year, in seconds: the URL carries the plotly version, so a new version is a new URL.
ASSET_MAX_AGE = 365 * 24 * 3600


def plotly_js_path() -> str:
    """Absolute path of the installed ``plotly.min.js``.

    :raises FileNotFoundError: the plotly package is installed without its bundled JS.
    """
    import plotly
    path = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return path


def plotly_version() -> str:
    """The version of the plotly Python package (it pins the bundled plotly.js)."""
    import plotly
    return plotly.__version__


@bp.route("/plotly-<version>.min.js")
@public
def plotly_js(version: str):
    """plotly.min.js from the installed package, cached for a year (any ``version`` in the URL
    answers the installed file; the version only busts caches after an upgrade)."""
    return send_file(plotly_js_path(), mimetype="text/javascript", max_age=ASSET_MAX_AGE)


def init_app(app: Flask) -> None:
    """Register the asset routes and ``plotly_js_url()`` for templates."""
    app.register_blueprint(bp)
    from flask import url_for
    app.jinja_env.globals["plotly_js_url"] = lambda: url_for("assets.plotly_js", version=plotly_version())
