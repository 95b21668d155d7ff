import sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture
def root(): return ROOT

@pytest.fixture
def venv_bin(): return Path(sys.executable).parent
