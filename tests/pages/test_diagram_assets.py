"""The case diagram's static files: bpmn-js vendored by scripts/vendor-js, diagram.js/.css.

scripts/test runs scripts/vendor-js before pytest; without the vendored files these tests
skip (and fail under CI=true, see tests.services.require).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.services import require

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "api" / "static"
VENDOR = STATIC / "vendor" / "bpmn-js"
VIEWER = VENDOR / "bpmn-navigated-viewer.production.min.js"
DIAGRAM_JS = STATIC / "js" / "diagram.js"
DIAGRAM_CSS = STATIC / "css" / "diagram.css"

#: What a page with the diagram loads, in this order (stylesheets, then deferred scripts).
STYLESHEETS = [
    "/static/vendor/bpmn-js/assets/diagram-js.css",
    "/static/vendor/bpmn-js/assets/bpmn-js.css",
    "/static/css/diagram.css",
]
SCRIPTS = [
    "/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js",
    "/static/js/diagram.js",
]


def _static_file(url: str) -> Path:
    assert url.startswith("/static/"), url
    return STATIC / url.removeprefix("/static/")


def _locked_bpmn_js_version() -> str:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    return lock["packages"]["node_modules/bpmn-js"]["version"]


@pytest.fixture
def vendored() -> Path:
    if not VIEWER.is_file():
        require("api/static/vendor", "run bash scripts/vendor-js (needs npm)")
    return VENDOR


def test_package_json_pins_bpmn_js_and_runs_nothing():
    package = json.loads((ROOT / "package.json").read_text())
    assert package["private"] is True
    assert not package.get("scripts"), "npm ci must run no project scripts"
    pinned = package["dependencies"]["bpmn-js"]
    assert re.fullmatch(r"1[78]\.\d+\.\d+", pinned), f"bpmn-js must be pinned exactly: {pinned}"
    assert _locked_bpmn_js_version() == pinned


def test_vendored_files_exist_and_match_the_lock(vendored):
    for url in STYLESHEETS + SCRIPTS:
        assert _static_file(url).is_file(), url
    assert (vendored / "LICENSE").is_file()
    head = VIEWER.read_text(encoding="utf-8")[:300]
    assert f"bpmn-navigated-viewer v{_locked_bpmn_js_version()} " in head, (
        "api/static/vendor is stale: run bash scripts/vendor-js")
    # The UMD bundle defines the global diagram.js uses.
    assert ".BpmnJS=" in VIEWER.read_text(encoding="utf-8")
    assert "window.BpmnJS" in DIAGRAM_JS.read_text()


def test_vendored_css_references_resolve(vendored):
    for url in STYLESHEETS:
        css = _static_file(url)
        for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text()):
            if ref.startswith("data:") or ref.startswith("#"):
                continue
            assert not re.match(r"[a-z]+:|//", ref), f"{css.name} loads from elsewhere: {ref}"
            target = (css.parent / ref.split("?")[0].split("#")[0]).resolve()
            assert target.is_file(), f"{css.name}: {ref} is not vendored"


def test_diagram_js_names_the_files_that_exist():
    text = DIAGRAM_JS.read_text()
    named = re.findall(r"/static/[\w./-]+\.(?:js|css)", text)
    assert set(SCRIPTS) <= set(named)
    script = (ROOT / "scripts" / "vendor-js").read_text()
    for url in named:
        if url.startswith("/static/vendor/"):
            # vendor-js copies it (dist/<path> -> vendor/bpmn-js/<path>).
            assert url.removeprefix("/static/vendor/bpmn-js/") in script, url
        else:
            assert _static_file(url).is_file(), url


def test_diagram_js_is_csp_clean():
    """Nothing that script-src 'self' / style-src 'self' would block."""
    text = re.sub(r"/\*.*?\*/", "", DIAGRAM_JS.read_text(), flags=re.S)
    for pattern in [r"\beval\s*\(", r"new\s+Function", r"innerHTML", r"insertAdjacentHTML",
                    r"\.style\b", r"['\"]style['\"]", r"<style", r"cssText",
                    r"setTimeout\(\s*['\"]", r"https?://"]:
        assert not re.search(pattern, text), f"diagram.js: {pattern}"


def test_marker_classes_are_styled():
    js = DIAGRAM_JS.read_text()
    css = DIAGRAM_CSS.read_text()
    for marker in ("virta-done", "virta-active"):
        assert f"'{marker}'" in js
        assert re.search(rf"\.djs-shape\.{marker}\b", css), marker
        assert re.search(rf"\.djs-connection\.{marker}\b", css), marker
    for attribute in ("data-bpmn-url", "data-completed", "data-active", "data-flows",
                      "data-error"):
        assert attribute in js, attribute
    assert "attr(data-error)" in css, "the no-JavaScript fallback shows data-error"
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", css)


def test_templates_load_the_diagram_files_in_order():
    """Each template that has the diagram loads the stylesheets and scripts, in order."""
    templates = [p for p in (ROOT / "api" / "templates").rglob("*.html")
                 if "js/diagram.js" in p.read_text()]
    if not templates:
        pytest.skip("no template shows the diagram yet")
    for template in templates:
        text = template.read_text()
        positions = []
        for url in STYLESHEETS + SCRIPTS:
            # A literal /static/... URL or url_for('static', path=...).
            match = re.search(re.escape(url.removeprefix("/static/")), text)
            assert match, f"{template.name} does not load {url}"
            positions.append(match.start())
        scripts = positions[len(STYLESHEETS):]
        assert scripts == sorted(scripts), f"{template.name}: the viewer must precede diagram.js"
        for ref in re.findall(r"vendor/[\w./-]+", text):
            assert (STATIC / ref).is_file() or not VIEWER.is_file(), (
                f"{template.name} loads {ref}, which scripts/vendor-js does not copy")
        assert 'id="diagram"' in text and "data-bpmn-url" in text and "data-error" in text
