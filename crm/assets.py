"""Front-end assets that ship inside Python packages, served from the installed package.

plotly.js (4.8 MB) comes with the ``plotly`` Python package as
``plotly/package_data/plotly.min.js``; serving that file keeps the console offline-capable and
CSP-clean without committing a copy that would drift from the Python package's version.
"""
from __future__ import annotations

import functools
import os
import re

from flask import Blueprint, Flask, Response, send_file

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


_JS_STRING = r'"(?:[^"\\]|\\.)*"' + "|" + r"'(?:[^'\\]|\\.)*'"  # a "…" or '…' literal
_RULE = re.compile(rf"\s*({_JS_STRING}|[A-Za-z_$][\w$]*)\s*:\s*({_JS_STRING})\s*([,}}])")


@functools.lru_cache(maxsize=1)
def plotly_css() -> str:
    """plotly.js' own base style rules (``build/plotcss.js`` inside ``plotly.min.js``) as a
    stylesheet.

    plotly.js adds them at run time through an inline ``<style>``, which the console's CSP
    (``style-src 'self'``) blocks; without them its layered ``<svg class="main-svg">`` stack
    below one another instead of on top (the legend and hover labels land under the chart).

    :raises ValueError: the installed plotly.min.js no longer holds the rules in the form
        read here (a test catches that on upgrade).
    """
    with open(plotly_js_path(), encoding="utf-8") as handle:
        source = handle.read()
    anchor = source.find('"X,X div"')
    if anchor < 0:
        raise ValueError("plotly.js base style rules not found in plotly.min.js")
    pos, rules = source.rindex("{", 0, anchor) + 1, []
    while True:
        match = _RULE.match(source, pos)
        if match is None:
            raise ValueError(f"unexpected plotly.js style rule at {source[pos:pos + 60]!r}")
        key, value = (part[1:-1] if part[:1] in "\"'" else part for part in match.group(1, 2))
        selector = (
            re.sub(r"^,", " ,", key)
            .replace("X", ".js-plotly-plot .plotly")
            .replace("Y", ".plotly-notifier")
        )
        rules.append(f"{selector}{{{value}}}")
        pos = match.end()
        if match.group(3) == "}":
            return "\n".join(rules) + "\n"


@bp.route("/plotly-<version>.css")
@public
def plotly_stylesheet(version: str):
    """:func:`plotly_css` as a stylesheet, cached for a year (as :func:`plotly_js`)."""
    response = Response(plotly_css(), mimetype="text/css")
    response.cache_control.public = True
    response.cache_control.max_age = ASSET_MAX_AGE
    return response


def init_app(app: Flask) -> None:
    """Register the asset routes and ``plotly_js_url()`` for templates."""
    app.register_blueprint(bp)
    from flask import url_for

    app.jinja_env.globals["plotly_js_url"] = lambda: url_for(
        "assets.plotly_js", version=plotly_version()
    )
    app.jinja_env.globals["plotly_css_url"] = lambda: url_for(
        "assets.plotly_stylesheet", version=plotly_version()
    )
