"""Fail if any built page needs the network to be read.

A page may *link* to the web (citations, launch buttons), but every script,
stylesheet, font, image or iframe it loads must come from the built site.
Usage: python scripts/check_offline_html.py _build/html
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Attributes that make a browser fetch something while rendering the page.
LOADING = re.compile(
    r"<(script|img|iframe|source|audio|video)\b[^>]*\bsrc=[\"']((?:https?:)?//[^\"']+)"
    r"|<link\b[^>]*\bhref=[\"']((?:https?:)?//[^\"']+)[^>]*>"
    r"|@import\s+(?:url\()?[\"']?((?:https?:)?//[^\"')]+)"
    r"|url\([\"']?((?:https?:)?//[^\"')]+)",
    re.IGNORECASE,
)
# <link> elements that only describe the page and fetch nothing.
HARMLESS_LINK_REL = re.compile(r"\brel=[\"'](canonical|author|license)[\"']")


def remote_loads(text: str) -> list[str]:
    """URLs that a page would fetch from another host while rendering."""
    found = []
    for m in LOADING.finditer(text):
        if m.group(3) and HARMLESS_LINK_REL.search(m.group(0)):
            continue
        found.append(next(g for g in m.groups()[1:] if g))
    return found


def main(site: str) -> int:
    root = Path(site)
    if not root.is_dir():
        print(f"{site} is not a directory; build the book first", file=sys.stderr)
        return 2
    problems = []
    pages = sorted(root.rglob("*.html")) + sorted((root / "_static").rglob("*.css"))
    for page in pages:
        for url in remote_loads(page.read_text(errors="ignore")):
            problems.append(f"{page.relative_to(root)}: loads {url}")
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"{len(problems)} remote loads: the book would not read offline")
        return 1
    print(f"offline check: {len(pages)} pages and stylesheets load nothing remote")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "_build/html"))
