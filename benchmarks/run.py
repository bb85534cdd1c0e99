"""Run every benchmark (`make bench`); each writes benchmarks/results/<name>.json.

    python benchmarks/run.py            # all
    python benchmarks/run.py prompts    # only bench_prompts.py
"""

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

if __name__ == "__main__":
    wanted = sys.argv[1:]
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if not wanted or name in wanted:
            importlib.import_module(path.stem).main()
