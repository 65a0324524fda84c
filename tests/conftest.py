import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def shared_dir() -> Path | None:
    """The shared/ folder beside the checkout (CI copies it there), or $LIPC_SHARED."""
    env = os.environ.get("LIPC_SHARED")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared"]:
        if (cand / "lipbab_nets").is_dir():
            return cand
    return None


@pytest.fixture
def examples() -> Path:
    return EXAMPLES
