"""Badge colours in the console's style sheets meet WCAG 2.x AA contrast (4.5:1 for normal
text; badges are small bold text, so the large-text 3:1 allowance does not apply).

The test reads every ``.badge.<name>`` rule with a ``background`` from the CSS files and
computes the contrast of its text colour (``color`` in the rule, else Bootstrap's badge
default, white) against it, with the relative-luminance formula of WCAG 2.2 §1.4.3.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS_DIR = Path(__file__).resolve().parents[1] / "crm" / "static" / "css"
STYLE_SHEETS = ["app.css", "monitoring.css"]
BADGE_TEXT_DEFAULT = "#ffffff"  # Bootstrap 5: --bs-badge-color: #fff
AA_NORMAL_TEXT = 4.5

RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
HEX = r"#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b"


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return tuple(int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))


def relative_luminance(hex_colour: str) -> float:
    """WCAG relative luminance of an sRGB colour (0 black … 1 white)."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in _rgb(hex_colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """(L1 + 0.05) / (L2 + 0.05), lighter over darker: 1 … 21."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def badge_pairs(css: str) -> list[tuple[str, str, str]]:
    """(selector, text colour, background) of each ``.badge.x`` rule with a background given
    as a hex colour or as ``var(--name)`` of a custom property set to one."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    variables = dict(re.findall(r"(--[\w-]+)\s*:\s*(" + HEX + ")", css))
    value = r"(" + HEX + r"|var\(\s*--[\w-]+\s*\))"

    def resolve(text: str) -> str:
        name = re.match(r"var\(\s*(--[\w-]+)", text)
        return variables[name.group(1)] if name else text

    pairs = []
    for selectors, body in RULE.findall(css):
        background = re.search(r"background(?:-color)?\s*:\s*" + value, body)
        if not background:
            continue
        colour = re.search(r"(?<![-\w])color\s*:\s*" + value, body)
        for selector in (s.strip() for s in selectors.split(",")):
            if selector.startswith(".badge."):
                pairs.append((selector, resolve(colour.group(1)) if colour else BADGE_TEXT_DEFAULT,
                               resolve(background.group(1))))
    return pairs


def test_the_contrast_formula_matches_known_values():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the AA grey


@pytest.mark.parametrize("sheet", STYLE_SHEETS)
def test_badge_colours_meet_aa_contrast(sheet):
    pairs = badge_pairs((CSS_DIR / sheet).read_text())
    assert pairs, f"no badge colours found in {sheet}"
    failing = {sel: round(contrast_ratio(fg, bg), 2) for sel, fg, bg in pairs
               if contrast_ratio(fg, bg) < AA_NORMAL_TEXT}
    assert failing == {}, f"{sheet}: badges below {AA_NORMAL_TEXT}:1: {failing}"


def test_every_status_and_priority_has_a_badge_colour():
    from crm.tickets.models import PRIORITIES, STATUSES
    selectors = {sel for sel, _fg, _bg in badge_pairs((CSS_DIR / "app.css").read_text())}
    missing = [f".badge.status-{s}" for s in STATUSES if f".badge.status-{s}" not in selectors]
    missing += [
        f".badge.priority-{p}" for p in PRIORITIES if f".badge.priority-{p}" not in selectors
    ]
    assert missing == []
