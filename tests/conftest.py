import sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture
def root(): return ROOT

@pytest.fixture
def venv_bin(): return Path(sys.executable).parent


# `make test` runs pytest in two workers (pytest-xdist, one file per worker at a time, in collection order). The files
# whose tests take minutes go first, so that neither worker starts one of them when the other is nearly done.
SLOW_FIRST = ("test_cli.py", "test_wheel.py", "test_faults.py")

def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))     # a stable sort: the rest keep their order
