"""Fixtures for the store tests. `store_helpers.py` beside this file is importable from
the tests and from the processes they spawn (spawned children inherit sys.path)."""

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
