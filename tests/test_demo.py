"""The demo's notebook runner: executed copies kept, failures reported with where to look, kernel noise logged."""

import os

import nbformat
import pytest

from workbench.demo import _execute_notebook, _kernel_env

pytestmark = pytest.mark.slow  # starts Jupyter kernels


def notebook(tmp_path, *sources, name="nb"):
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
    return path


def test_a_notebook_runs_and_its_copies_are_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("PLOTLY_RENDERER", raising=False)
    out = tmp_path / "out"
    out.mkdir()
    chart = "import plotly.graph_objects as go\ngo.Figure(go.Bar(x=['a', 'b'], y=[1, 2]))"
    row = _execute_notebook(notebook(tmp_path, "import os; print(os.environ['WORKBENCH_STORE'])", chart), out,
                            _kernel_env(tmp_path))
    assert "<td>ok</td>" in row
    executed = nbformat.read(out / "nb.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == str(tmp_path / "store")  # the kernel got the env
    # the chart carries HTML with plotly.js inline, so the exported copy draws it offline
    data = [o["data"] for o in executed.cells[1].outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(data) == 1 and "Plotly.newPlot" in data[0]["text/html"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in executed.cells[1].outputs)
    assert "window.Plotly = Plotly" in html  # the library itself, inline: no network needed
    assert "Plotly.newPlot" in (out / "nb.html").read_text(encoding="utf-8")
    assert (out / "nb.kernel.log").exists()
    if os.name == "posix":  # Unix sockets, not TCP: the kernel has nothing to warn about
        assert "TCP" not in (out / "nb.kernel.log").read_text(encoding="utf-8")


def test_kernels_started_together_all_run(tmp_path):
    """Two lanes starting kernels at once once drew the same TCP port ("Address already in use")."""
    from concurrent.futures import ThreadPoolExecutor

    out = tmp_path / "out"
    out.mkdir()
    paths = [notebook(tmp_path, f"print({i})", name=f"nb{i}") for i in range(6)]
    with ThreadPoolExecutor(2) as pool:
        rows = list(pool.map(lambda p: _execute_notebook(p, out, dict(os.environ)), paths))
    assert all("<td>ok</td>" in r for r in rows), rows


def test_a_failing_notebook_keeps_what_ran_and_says_where_to_look(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    row = _execute_notebook(notebook(tmp_path, "print('first')", "raise ValueError('boom')", "print('never')"),
                            out, dict(os.environ))
    assert "failed: CellExecutionError (kernel log: nb.kernel.log)" in row
    executed = nbformat.read(out / "nb.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == "first"
    assert executed.cells[1].outputs[0]["ename"] == "ValueError"
    assert not executed.cells[2].outputs
    assert "boom" in (out / "nb.html").read_text(encoding="utf-8")


def test_without_notebooks_the_step_fails_and_says_where_they_are(tmp_path, monkeypatch):
    """An installed wheel has no notebooks/; the report must not show an empty table as a success."""
    import workbench.demo as demo

    monkeypatch.setattr(demo, "NOTEBOOK_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no teaching notebooks in .*nowhere; they come with the source"):
        demo.step_notebooks(tmp_path / "out")
