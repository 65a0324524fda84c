from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


# the four published LipBaB networks (copied from the project's shared/ folder with their README:
# source, format and reference values), so a clone of the repository alone runs every test
LIPBAB_NETS = ROOT / "tests" / "data" / "lipbab_nets"


@pytest.fixture
def examples() -> Path:
    return EXAMPLES
