"""Every Python package under lipc/ is listed in pyproject.toml (the list is explicit because
emit/ and grammar/ are mapped into lipc), so a plain `pip install .` ships all of them."""
import pytest
from pathlib import Path

tomllib = pytest.importorskip("tomllib")
ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_installed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "lipc").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"
    assert {"lipc.emit", "lipc.grammar"} <= listed
