"""Load every page of the built book in a real browser (headless Chromium).

Each page is opened at 1280 px over http (a local server on 127.0.0.1) and over
file://, in a fresh browser profile (a first visit), and after MathJax has
finished typesetting the check records:

* console errors and uncaught exceptions;
* failed requests (network errors, CORS refusals, HTTP status >= 400);
* requests to anything but the loopback server, file:, data: or blob:;
* images that did not decode (naturalWidth == 0);
* math left untypeset (``$$``, ``\\(``, ``\\[`` in text outside code, or a
  MathJax script element that MathJax never rendered) and MathJax errors;
* boxes wider than their column: display math, tables, code blocks and
  outputs whose content overflows. A box that overflows with ``overflow-x``
  ``auto``/``scroll`` *scrolls* (fine); any other one is *clipped* or spills;
* figures without a number and caption: every image in the text must sit in a
  ``<figure>`` whose caption carries a number, so the prose can refer to it;
* small text in figures: the book's style draws tick labels at 10 pt with
  100 dpi (13.9 px in the image); an image shown narrower than its natural
  width scales them down, and below 9 px on screen they are reported;
* Chinese in a Japanese face: where a CJK font is installed, the text marked
  ``lang="zh-Hans"`` must render in a Simplified Chinese face (asked of the
  browser itself through the DevTools protocol: the platform fonts used).

It drives the system Chromium (Debian: ``apt-get install chromium``) through
Playwright; ``playwright install`` is never needed.

Usage::

    python scripts/browser_check.py _build/html [--screenshots DIR] [--json FILE]

Exit status 0 when no page has a console error, failed or remote request,
broken image or untypeset math; 1 otherwise; 2 when it cannot run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

VIEWPORT = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}
# What every page must pass for exit status 0 (clipped boxes: reported here,
# asserted by tests/test_browser.py).
STRICT = (
    "console_errors",
    "failed_requests",
    "remote_requests",
    "broken_images",
    "raw_math",
    "math_errors",
)
# Readability findings: reported here, asserted by tests/test_browser.py.
READABILITY = ("clipped", "unnumbered_figures", "small_text", "cjk_font")
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads"}
CHROMIUM_CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
)


def find_chromium() -> str | None:
    """The system Chromium: $MTLBOOK_CHROMIUM, else the usual Debian paths."""
    env = os.environ.get("MTLBOOK_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for cand in CHROMIUM_CANDIDATES:
        if Path(cand).exists():
            return cand
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def list_pages(root: Path) -> list[str]:
    """Every HTML page of the site (search.html and genindex.html included)."""
    pages = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIP_DIRS:
            continue
        pages.append(rel.as_posix())
    return pages


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on a free loopback port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class PageReport:
    page: str
    mode: str  # "http", "file", or "http@390" for a screenshot at that width
    seconds: float = 0.0
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    remote_requests: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    raw_math: list[str] = field(default_factory=list)
    math_errors: list[str] = field(default_factory=list)
    clipped: list[str] = field(default_factory=list)
    scrolling: list[str] = field(default_factory=list)
    unnumbered_figures: list[str] = field(default_factory=list)
    small_text: list[str] = field(default_factory=list)
    cjk_font: list[str] = field(default_factory=list)
    mathjax: str = "absent"  # absent | done | timeout

    def problems(self) -> dict[str, list[str]]:
        return {k: getattr(self, k) for k in STRICT if getattr(self, k)}


# Resolves once MathJax 2 has typeset everything it was asked to (or at once
# on a page that does not load MathJax).
_WAIT_MATHJAX = """
async (timeoutMs) => {
  const hasScript = !!document.querySelector('script[src*="MathJax.js"]');
  if (!hasScript) return "absent";
  const t0 = Date.now();
  const sleep = (ms) => new Promise(r => setTimeout(r, ms));
  while (Date.now() - t0 < timeoutMs) {
    const MJ = window.MathJax;
    if (MJ && MJ.Hub && MJ.Hub.queue && MJ.isReady) {
      await new Promise(r => MJ.Hub.Queue(() => r(true)));
      const q = MJ.Hub.queue;
      const todo = [...document.querySelectorAll('script[type^="math/"]')]
        .filter(s => !(s.MathJax && s.MathJax.elementJax));
      if (q.running === 0 && q.pending === 0 && todo.length === 0) return "done";
    }
    await sleep(100);
  }
  return "timeout";
}
"""

# Inspects the typeset page; returns images, raw math and boxes.
_INSPECT = r"""
() => {
  const out = {broken_images: [], raw_math: [], math_errors: [], clipped: [],
               scrolling: []};
  const label = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (el.classList.length) s += "." + [...el.classList].slice(0, 3).join(".");
    const text = (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 50);
    return text ? `${s} "${text}"` : s;
  };
  for (const img of document.images) {
    if (!img.complete || img.naturalWidth === 0) {
      out.broken_images.push(img.currentSrc || img.src || label(img));
    }
  }
  const skip = "code, pre, script, style, textarea, kbd, samp, .highlight, " +
               ".MathJax_Preview, noscript";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const t = n.nodeValue;
    if (!(t.includes("$$") || t.includes("\\(") || t.includes("\\["))) continue;
    const p = n.parentElement;
    if (!p || p.closest(skip)) continue;
    if (p.offsetParent === null && getComputedStyle(p).position !== "fixed") continue;
    out.raw_math.push(label(p) + " :: " + t.trim().slice(0, 80));
  }
  for (const s of document.querySelectorAll('script[type^="math/"]')) {
    if (!(s.MathJax && s.MathJax.elementJax)) {
      out.raw_math.push("untypeset script: " + s.textContent.trim().slice(0, 80));
    }
  }
  for (const e of document.querySelectorAll(
      ".MathJax_Error, .merror, span.noError, mjx-merror")) {
    out.math_errors.push(label(e));
  }
  const boxes = document.querySelectorAll(
    "div.math, .math-wrapper, .MathJax_Display, .MathJax_Display span.math, " +
    "mjx-container[display], " +
    "table, pre, div.highlight, div.cell_output, div.output, " +
    ".pst-scrollable-table-container");
  const seen = new Set();
  for (const el of boxes) {
    if (el.offsetParent === null) continue;
    const cs = getComputedStyle(el);
    const ox = cs.overflowX;
    const scrolls = ox === "auto" || ox === "scroll";
    const over = el.scrollWidth - el.clientWidth;
    // A box wider than its column spills out of it (its parent does not scroll).
    let spill = 0;
    const parent = el.parentElement;
    if (parent) {
      const pcs = getComputedStyle(parent);
      const pscroll = pcs.overflowX === "auto" || pcs.overflowX === "scroll";
      if (!pscroll) {
        const pr = parent.getBoundingClientRect();
        const r = el.getBoundingClientRect();
        const pad = parseFloat(pcs.paddingRight || 0);
        spill = Math.max(0, Math.round(r.right - pr.right - pad));
      }
    }
    if (over > 1 || spill > 1) {
      const key = label(el);
      if (seen.has(key)) continue;
      seen.add(key);
      const sw = el.scrollWidth, cw = el.clientWidth;
      const sp = spill > 1 ? `, spills ${spill}px` : "";
      const desc = `${key} (scrollWidth ${sw} > clientWidth ${cw}${sp}, ` +
                   `overflow-x ${ox})`;
      if (over > 1 && scrolls && spill <= 1) out.scrolling.push(desc);
      else out.clipped.push(desc);
    }
  }
  // An equation number must not sit on top of its equation.
  for (const div of document.querySelectorAll("div.math")) {
    const num = div.querySelector(":scope > span.eqno");
    const mj = div.querySelector(".MathJax_Display .MathJax, mjx-container");
    if (!num || !mj || div.offsetParent === null) continue;
    const n = num.getBoundingClientRect();
    const m = mj.getBoundingClientRect();
    let right = m.right;
    for (let a = mj.parentElement; a && a !== div.parentElement; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (ox !== "visible") right = Math.min(right, a.getBoundingClientRect().right);
    }
    const vertical = m.top < n.bottom && n.top < m.bottom;
    if (vertical && right > n.left + 1 && m.left < n.right) {
      const what = (num.textContent || "").replace("#", "").trim();
      const by = Math.round(right - n.left);
      out.clipped.push(`${label(div)} (equation runs ${by}px under number ${what})`);
    }
  }
  // Figures: numbered, captioned, and not shrunk below readable text.
  out.unnumbered_figures = []; out.small_text = [];
  const tickPx = 10 * 100 / 72;
  for (const img of document.querySelectorAll("article img, main img")) {
    if (img.offsetParent === null) continue;
    if (img.closest("nav, header, .modindextable")) continue;
    const fig = img.closest("figure");
    if (!fig || !fig.querySelector("figcaption .caption-number")) {
      out.unnumbered_figures.push(label(img.parentElement) + " " +
        (img.getAttribute("src") || "").split("/").pop().slice(0, 40));
    }
    const src = img.currentSrc || img.src || "";
    if (img.naturalWidth > 0 && !src.toLowerCase().includes(".svg")) {
      const px = tickPx * img.clientWidth / img.naturalWidth;
      if (px < 9) {
        out.small_text.push(`${src.split("/").pop().slice(0, 40)} shown at ` +
          `${img.clientWidth}/${img.naturalWidth} px: tick labels ${px.toFixed(1)} px`);
      }
    }
  }
  return out;
}
"""


def _cjk_font_installed() -> bool:
    """Whether fontconfig knows a face for Simplified Chinese."""
    fc = shutil.which("fc-list")
    if fc is None:
        return False
    out = subprocess.run(
        [fc, ":lang=zh-cn", "family"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return bool(out.stdout.strip())


CJK_FONT_INSTALLED = _cjk_font_installed()


def _chinese_faces(page) -> list[str]:
    """Problems with the faces Chromium used for the first zh-Hans elements."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    nodes = cdp.send(
        "DOM.querySelectorAll", {"nodeId": root, "selector": '[lang="zh-Hans"]'}
    )["nodeIds"][:5]
    if not nodes:
        return ['no element marked lang="zh-Hans"']
    problems = []
    for node in nodes:
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        names = [f["familyName"] for f in fonts if f.get("glyphCount", 0) > 0]
        if not any(" SC" in n or "Simplified" in n or "Hans" in n for n in names):
            problems.append(f"zh-Hans text rendered in {names}")
    return problems


def _is_local(url: str, mode: str, base: str) -> bool:
    scheme = urlsplit(url).scheme
    if scheme in ("data", "blob", "about", "chrome-error"):
        return True
    if mode == "file":
        return scheme == "file"
    return url.startswith(base)


def _evaluate(page, script: str, arg=None, tries: int = 3):
    """page.evaluate that survives a navigation (index.html redirects)."""
    for attempt in range(tries):
        try:
            return page.evaluate(script, arg)
        except Exception as exc:
            if "context was destroyed" not in str(exc) or attempt == tries - 1:
                raise
            page.wait_for_load_state("load", timeout=60_000)
    return None


def check_page(
    browser,
    url: str,
    page_name: str,
    mode: str,
    base: str,
    viewport: dict | None = None,
    screenshot: Path | None = None,
    mathjax_timeout_s: float = 30.0,
) -> PageReport:
    """Open one page in a fresh context (a first visit) and inspect it."""
    report = PageReport(page=page_name, mode=mode)
    t0 = time.monotonic()
    context = browser.new_context(
        viewport=viewport or VIEWPORT, service_workers="block"
    )
    try:
        page = context.new_page()

        def on_console(msg):
            if msg.type == "error":
                loc = msg.location or {}
                where = loc.get("url", "")
                where = where.rsplit("/", 1)[-1] if where else ""
                report.console_errors.append(
                    f"{msg.text}"
                    + (f" [{where}:{loc.get('lineNumber')}]" if where else "")
                )

        def on_request(req):
            if not _is_local(req.url, mode, base):
                report.remote_requests.append(req.url)

        def on_failed(req):
            report.failed_requests.append(f"{req.url} ({req.failure})")

        def on_response(resp):
            if resp.status >= 400:
                report.failed_requests.append(f"{resp.url} (HTTP {resp.status})")

        page.on("console", on_console)
        page.on(
            "pageerror", lambda exc: report.console_errors.append(f"uncaught: {exc}")
        )
        page.on("request", on_request)
        page.on("requestfailed", on_failed)
        page.on("response", on_response)
        page.goto(url, wait_until="load", timeout=60_000)
        report.mathjax = _evaluate(page, _WAIT_MATHJAX, int(mathjax_timeout_s * 1000))
        with contextlib.suppress(Exception):  # fonts, lazy scripts: let them land
            page.wait_for_load_state("networkidle", timeout=5_000)
        _evaluate(page, "document.fonts ? document.fonts.ready.then(() => true) : true")
        found = _evaluate(page, _INSPECT)
        for key, values in found.items():
            # a 50-character cut can split a UTF-16 surrogate pair (math italics)
            getattr(report, key).extend(
                v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
                for v in values
            )
        if (
            CJK_FONT_INSTALLED
            and mode == "http"
            and page_name.endswith("glossary.html")
        ):
            report.cjk_font.extend(_chinese_faces(page))
        if report.mathjax == "timeout":
            report.raw_math.append(
                f"MathJax did not finish within {mathjax_timeout_s:.0f} s"
            )
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        context.close()
    report.seconds = round(time.monotonic() - t0, 2)
    return report


# Search result snippets are cut from each page's text: raw TeX would show.
SEARCH_QUERIES = ("gradient", "loss")
_RAW_TEX = re.compile(r"\\[()\[\]]|\\(frac|theta|nabla|mathbf|sum)\b|\$")
_SNIPPETS = """
() => new Promise((resolve) => {
  const done = () => [...document.querySelectorAll("#search-results p.context")]
    .map((p) => p.textContent);
  const t0 = Date.now();
  const poll = () => {
    const status = document.querySelector("#search-results .search-summary");
    const found = done();
    if ((status && found.length >= Math.min(5, document.querySelectorAll(
        "#search-results li").length)) || Date.now() - t0 > 20000) resolve(found);
    else setTimeout(poll, 200);
  };
  poll();
})
"""


def check_search(browser, base: str, query: str) -> PageReport:
    """The search page for ``query`` over http: snippets must show no raw TeX."""
    name = f"search.html?q={query}"
    report = check_page(browser, base + name, name, "http", base)
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    try:
        page = context.new_page()
        page.goto(base + name, wait_until="load", timeout=60_000)
        snippets = _evaluate(page, _SNIPPETS)
    finally:
        context.close()
    if not snippets:
        report.raw_math.append(f"no search snippets for {query!r}")
    report.raw_math.extend(
        f"snippet: {text.strip()[:80]}" for text in snippets if _RAW_TEX.search(text)
    )
    return report


# Full-page screenshots kept as artefacts: (page, viewport, file name).
SCREENSHOTS = (
    ("book/reproductions.html", VIEWPORT, "reproductions-1280.png"),
    ("chapters/05_multitask.html", NARROW, "05_multitask-390.png"),
    ("book/glossary.html", VIEWPORT, "glossary-1280.png"),
)


def run(
    site: Path,
    chromium: str | None = None,
    screenshots: Path | None = None,
    modes: tuple[str, ...] = ("http", "file"),
    pages: list[str] | None = None,
    width: int = VIEWPORT["width"],
) -> list[PageReport]:
    """Check every page of ``site`` in each mode; returns one report per load."""
    from playwright.sync_api import sync_playwright

    site = site.resolve()
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("no Chromium found (apt-get install -y chromium)")
    pages = pages if pages is not None else list_pages(site)
    reports: list[PageReport] = []
    with sync_playwright() as p, serve(site) as base:
        browser = p.chromium.launch(
            executable_path=exe,
            args=[
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            for mode in modes:
                for name in pages:
                    url = base + name if mode == "http" else (site / name).as_uri()
                    viewport = {**VIEWPORT, "width": width}
                    reports.append(
                        check_page(browser, url, name, mode, base, viewport=viewport)
                    )
            if "http" in modes and "search.html" in pages:
                reports += [check_search(browser, base, q) for q in SEARCH_QUERIES]
            if screenshots is not None:
                for name, viewport, fname in SCREENSHOTS:
                    if (site / name).exists():
                        shot = check_page(
                            browser,
                            base + name,
                            name,
                            "http",
                            base,
                            viewport=viewport,
                            screenshot=screenshots / fname,
                        )
                        shot.mode = f"http@{viewport['width']}"
                        reports.append(shot)
        finally:
            browser.close()
    return reports


def summary(reports: list[PageReport]) -> str:
    """One line per page and mode: counts of each finding."""
    cols = (*STRICT, *READABILITY, "scrolling")
    short = (
        "console",
        "failed",
        "remote",
        "img",
        "rawmath",
        "mjerr",
        "clipped",
        "nofignum",
        "smalltxt",
        "cjkfont",
        "scrolls",
    )
    width = max([len(r.page) for r in reports] + [4])
    lines = [
        f"{'page':<{width}} mode  " + " ".join(f"{s:>7}" for s in short) + "  secs"
    ]
    for r in reports:
        counts = " ".join(f"{len(getattr(r, c)):>7}" for c in cols)
        lines.append(f"{r.page:<{width}} {r.mode:<5} {counts} {r.seconds:5.1f}")
    return "\n".join(lines)


def details(reports: list[PageReport], include_clipped: bool = True) -> str:
    keys = (*STRICT, *READABILITY) if include_clipped else STRICT
    out = []
    for r in reports:
        for key in keys:
            for item in getattr(r, key):
                out.append(f"{r.mode} {r.page} {key}: {item}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site", nargs="?", default="_build/html")
    ap.add_argument(
        "--screenshots",
        type=Path,
        default=None,
        help="write full-page screenshots here (e.g. _build/screenshots)",
    )
    ap.add_argument("--json", type=Path, default=None, help="write every finding here")
    ap.add_argument("--mode", choices=("http", "file", "both"), default="both")
    ap.add_argument("--page", action="append", help="only this page (repeatable)")
    ap.add_argument("--width", type=int, default=VIEWPORT["width"], help="viewport px")
    args = ap.parse_args(argv)
    site = Path(args.site)
    if not (site / "index.html").exists():
        print(
            f"{site}/index.html missing: build the book first (make build-book)",
            file=sys.stderr,
        )
        return 2
    if find_chromium() is None:
        print("no Chromium: apt-get install -y chromium", file=sys.stderr)
        return 2
    modes = ("http", "file") if args.mode == "both" else (args.mode,)
    t0 = time.monotonic()
    reports = run(
        site,
        screenshots=args.screenshots,
        modes=modes,
        pages=args.page,
        width=args.width,
    )
    print(summary(reports))
    text = details(reports)
    if text:
        print("\n" + text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in reports], indent=1))
    bad = [r for r in reports if r.problems()]
    print(
        f"\n{len(reports)} page loads in {time.monotonic() - t0:.0f} s; "
        f"{len(bad)} with problems; "
        f"{sum(len(r.clipped) for r in reports)} clipped boxes, "
        f"{sum(len(r.unnumbered_figures) for r in reports)} unnumbered figures, "
        f"{sum(len(r.small_text) for r in reports)} small-text figures, "
        f"{sum(len(r.scrolling) for r in reports)} scrolling boxes"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
