"""The API reference page lists every public module, as the generator writes it."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_generator():
    spec = importlib.util.spec_from_file_location(
        "gen_api_reference", ROOT / "scripts" / "gen_api_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_page_is_current():
    generator = load_generator()
    page = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    assert page == generator.render(), (
        "book/api.md is out of date: run python scripts/gen_api_reference.py"
    )


def test_every_public_module_has_a_section():
    generator = load_generator()
    page = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    modules = generator.public_modules()
    assert "mtlbook.multitask.aggregators" in modules
    assert not [m for m in modules if "._" in m]
    for module in modules:
        assert f".. automodule:: {module}\n" in page
