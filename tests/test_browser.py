"""Every page of the built book, loaded in a real browser (headless Chromium).

Runs ``scripts/browser_check.py`` over http and file:// once for the module and
asserts that no page logs a console error, fails or leaves the machine for a
request, shows a broken image or leaves math untypeset. Clipped boxes (wider
than their column without scrolling) are reported in the -v output and in
``_build/browser-report.json``, and asserted to be zero as well.

It runs when named (``make browser``, the last step of ``make test``, runs
``pytest tests/test_browser.py`` after ``make build-book``); a plain
``pytest tests`` (``make unit``, before the build) skips it, with the reason.
It also skips when the book is not built or Playwright or the system Chromium
is missing. With ``MTLBOOK_REQUIRE_BROWSER=1`` (set by .ci/run)
a missing browser is a failure instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("MTLBOOK_SITE", ROOT / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
REPORT = ROOT / "_build" / "browser-report.json"
REQUIRE = os.environ.get("MTLBOOK_REQUIRE_BROWSER") == "1"

sys.path.insert(0, str(ROOT / "scripts"))
import browser_check  # noqa: E402

pytestmark = pytest.mark.slow


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"MTLBOOK_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _named(config: pytest.Config) -> bool:
    """Run only when asked: this file on the command line, or MTLBOOK_BROWSER=1."""
    if os.environ.get("MTLBOOK_BROWSER") == "1":
        return True
    return any(
        Path(arg.split("::")[0]).name == Path(__file__).name for arg in config.args
    )


@pytest.fixture(scope="module")
def reports(request) -> list[browser_check.PageReport]:
    if not _named(request.config):
        # `make unit` runs before the build: the site may be missing or stale.
        pytest.skip(
            "the browser check runs after the book build: `make browser` (the last "
            "step of `make test`) or `pytest tests/test_browser.py`"
        )
    if not (SITE / "index.html").exists():
        # Not a missing tool: the site is built later in `make test`.
        pytest.skip(f"{SITE}/index.html is not built yet; `make browser` builds it")
    if importlib.util.find_spec("playwright") is None:
        _unavailable("playwright is not installed (pip install -r requirements.txt)")
    if browser_check.find_chromium() is None:
        _unavailable("no system Chromium (apt-get install -y chromium)")
    result = browser_check.run(SITE, screenshots=SCREENSHOTS)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps([asdict(r) for r in result], indent=1))
    print("\n" + browser_check.summary(result))
    return result


def _listing(reports, key: str) -> str:
    return "\n".join(
        f"  {r.mode} {r.page}: {item}" for r in reports for item in getattr(r, key)
    )


def test_every_page_was_loaded(reports):
    pages = browser_check.list_pages(SITE)
    assert "index.html" in pages and "search.html" in pages
    assert {(r.mode, r.page) for r in reports} >= {
        (mode, page) for mode in ("http", "file") for page in pages
    }


@pytest.mark.parametrize("key", [*browser_check.STRICT, "clipped", "cjk_font"])
def test_no_page_has(reports, key):
    found = _listing(reports, key)
    assert not found, f"{key}:\n{found}"


def test_screenshots_saved(reports):
    for _, _, name in browser_check.SCREENSHOTS:
        shot = SCREENSHOTS / name
        assert shot.exists() and shot.stat().st_size > 10_000, shot


# Figures without a number and caption, and figures shown so narrow that their
# tick labels fall below 9 px, counted over every page and mode when this test
# was written. The counts may only fall: a new figure must be numbered,
# captioned and readable.
FIGURE_DEBT = {"unnumbered_figures": 78, "small_text": 28}


@pytest.mark.parametrize("key", sorted(FIGURE_DEBT))
def test_figure_debt_only_shrinks(reports, key):
    found = sum(len(getattr(r, key)) for r in reports)
    assert found <= FIGURE_DEBT[key], f"{key}: {found} > {FIGURE_DEBT[key]}:\n" + (
        _listing(reports, key)
    )


def test_chinese_needs_a_cjk_font_in_ci():
    if REQUIRE and not browser_check.CJK_FONT_INSTALLED:
        pytest.fail("MTLBOOK_REQUIRE_BROWSER=1 but no CJK font (fonts-noto-cjk)")
    if not browser_check.CJK_FONT_INSTALLED:
        pytest.skip("no CJK font installed: the glossary's face is not checked")
