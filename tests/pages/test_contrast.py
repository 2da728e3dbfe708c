"""The pages' colour pairs meet WCAG 2.1 AA contrast (4.5:1 for text), computed from the
stylesheet's own colour variables."""

from __future__ import annotations

import re

import pytest

from engine.settings import PROJECT_ROOT

CSS = PROJECT_ROOT / "api" / "static" / "css" / "virta.css"
#: (text colour, background colour) as the stylesheet combines them.
PAIRS = [
    ("--ink", "#ffffff"), ("--muted", "#ffffff"), ("--brand", "#ffffff"),
    ("#ffffff", "--brand"), ("--brand-dark", "#ffffff"), ("--bad", "#ffffff"),
    ("--bad", "--bad-bg"), ("--ok", "--ok-bg"), ("--ink", "--bad-bg"), ("--ink", "--ok-bg"),
    ("--ink", "--bg-soft"), ("--muted", "--bg-soft"), ("--brand", "--bg-soft"),
    ("#ffffff", "--brand-dark"),
]


def _variables() -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{6})", CSS.read_text()))


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio of two #rrggbb colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_formula_matches_known_ratios() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_colours_meet_aa_on_their_backgrounds(text: str, background: str) -> None:
    variables = _variables()
    fg, bg = (variables.get(c, c) for c in (text, background))

    assert contrast(fg, bg) >= 4.5, (text, background)
