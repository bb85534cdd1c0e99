"""Every teaching notebook runs top to bottom in a fresh kernel, inside a time budget.

Each notebook is copied into tmp_path and run there (cwd = the copy), with
WORKBENCH_STORE pointing into tmp_path, so nothing is written into notebooks/.
Notebooks that read WORKBENCH_MODEL need the embedded toy-world model and skip
while its weights are not trained (unless WORKBENCH_MODEL names another model).
The executed copies are kept in test-artifacts/notebooks/ for a look after a failure.

    .venv/bin/python -m pytest tests/test_notebooks.py -m slow
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"
BUDGET_S = int(os.environ.get("WORKBENCH_NOTEBOOK_BUDGET", "300"))  # per notebook, kernel start included
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def needs_toy_model(path: Path) -> bool:
    """A notebook that reads WORKBENCH_MODEL (the one line to change for a real model) runs a model."""
    return "WORKBENCH_MODEL" in path.read_text(encoding="utf-8")


def skip_reason(path: Path) -> str | None:
    if not needs_toy_model(path) or os.environ.get("WORKBENCH_MODEL"):
        return None
    from workbench.toyworld.paths import MODEL_DIR, is_trained

    if not is_trained():
        return (f"{path.name} needs the embedded toy-world model, whose weights are not in {MODEL_DIR} yet "
                "(train it, or set WORKBENCH_MODEL to another model)")
    return None


def copy_notebooks(dest: Path) -> Path:
    """The notebooks folder (and anything beside the notebooks) without run outputs or checkpoints."""
    shutil.copytree(NOTEBOOK_DIR, dest, ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints", "__pycache__"))
    return dest


def fail(name: str, index: int, cell, what: str, detail: str):
    """Fail naming the notebook, the cell (index among all cells, as in JupyterLab) and its traceback."""
    source = "\n".join("    " + line for line in cell.source.splitlines())
    detail = re.sub(r"\x1b\[[0-9;]*m", "", detail)  # the kernel's traceback comes coloured
    pytest.fail(f"{name}: cell {index} {what}\n--- cell source ---\n{source}\n--- detail ---\n{detail}", pytrace=False)


@pytest.mark.slow
@pytest.mark.timeout(BUDGET_S + 120)  # a backstop; the budget below fails first, naming the cell
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path):
    reason = skip_reason(path)
    if reason:
        pytest.skip(reason)
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # 1. A private copy and a private store.
    workdir = copy_notebooks(tmp_path / "notebooks")
    env = dict(os.environ, WORKBENCH_STORE=str(tmp_path / "store"), MPLBACKEND="Agg")
    nb = nbformat.read(workdir / path.name, as_version=4)

    # 2. Cell by cell in one fresh kernel, each cell given what is left of the budget.
    client = NotebookClient(nb, kernel_name="python3", timeout=BUDGET_S, allow_errors=False,
                            resources={"metadata": {"path": str(workdir)}})
    started = time.monotonic()
    timings = []
    try:
        with client.setup_kernel(env=env):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                left = BUDGET_S - (time.monotonic() - started)
                if left < 1:
                    fail(path.name, index, cell, "was not reached",
                         f"the {BUDGET_S} s budget was spent; cell times: {timings}")
                client.timeout = int(left)
                t0 = time.monotonic()
                try:
                    client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
                except CellTimeoutError as err:
                    fail(path.name, index, cell, f"ran past the {BUDGET_S} s notebook budget",
                         f"{err}\ncell times so far: {timings}")
                except CellExecutionError as err:
                    fail(path.name, index, cell, f"raised {err.ename}", str(err))
                except DeadKernelError as err:
                    fail(path.name, index, cell, "killed the kernel", str(err))
                timings.append((index, round(time.monotonic() - t0, 1)))
            client.set_widgets_metadata()
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, ARTIFACTS / path.name)

    # 3. Belt and braces: no error output slipped through (e.g. printed by a widget callback).
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: error outputs in cells {errors}"
    # Slowest cells, shown with -rA / on failure: helps keep the notebook inside its budget.
    print(f"{path.name}: {time.monotonic() - started:.1f} s; slowest cells {sorted(timings, key=lambda t: -t[1])[:3]}")


def test_notebooks_are_found():
    """The glob above is what parametrizes the test; an empty folder would silently test nothing."""
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"
    names = [p.name for p in NOTEBOOKS]
    assert "01_compose_prompts.ipynb" in names, names


def test_notebooks_are_kept_without_outputs():
    """Notebooks live in git without outputs (tools/make_notebooks.py writes them); the demo makes executed copies."""
    import nbformat

    dirty = [p.name for p in NOTEBOOKS
             if any(c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))
                    for c in nbformat.read(p, as_version=4).cells)]
    assert not dirty, f"notebooks saved with outputs: {dirty}; regenerate with python tools/make_notebooks.py"


def test_notebooks_are_what_their_script_writes():
    """tools/make_notebooks.py is the notebooks' source; an edit made to a notebook alone would be
    undone by the next regeneration."""
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "tools" / "make_notebooks.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert sorted(script.NOTEBOOKS) == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        committed = [(c.cell_type, c.source) for c in nbformat.read(path, as_version=4).cells]
        written = [(c.cell_type, c.source) for c in script.build(path.name).cells]
        assert committed == written, f"{path.name} differs from tools/make_notebooks.py; edit the script and rerun it"
