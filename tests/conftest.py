"""Fixtures shared by every test folder: unit (Flask test client), integration (local mode)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
