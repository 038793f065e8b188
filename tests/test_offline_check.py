"""The offline check flags remote loads and lets plain links through."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_offline_html.py"
spec = importlib.util.spec_from_file_location("check_offline_html", SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def test_remote_script_stylesheet_font_and_image_are_flagged() -> None:
    page = """
    <script src="https://cdn.example.org/mathjax.js"></script>
    <link rel="stylesheet" href="//fonts.example.org/css">
    <style>@font-face { src: url('https://fonts.example.org/a.woff2') }</style>
    <img src="http://example.org/a.png">
    """
    assert len(check.remote_loads(page)) == 4


def test_links_and_local_files_are_fine() -> None:
    page = """
    <a href="https://arxiv.org/abs/1703.03400">paper</a>
    <script src="../_static/mathjax/MathJax.js"></script>
    <link rel="canonical" href="https://example.org/book/">
    <img src="_images/fig.png">
    """
    assert check.remote_loads(page) == []


def test_main_reports_a_missing_site(tmp_path: Path) -> None:
    assert check.main(str(tmp_path / "nope")) == 2
    (tmp_path / "index.html").write_text('<script src="https://x.org/a.js"></script>')
    assert check.main(str(tmp_path)) == 1
    (tmp_path / "index.html").write_text("<p>offline</p>")
    assert check.main(str(tmp_path)) == 0
