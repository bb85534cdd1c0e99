"""Drive JupyterLab in a Playwright page the way a user does, Galata-style (sync API).

    notebook = NotebookPage.open(context, server, "01_compose_prompts.ipynb", artifacts)
    notebook.run_all()            # Run menu > Run All Cells, then wait for every cell to finish
    notebook.save()               # Ctrl+S, then wait until the document is clean
    notebook.saved_errors()       # error outputs in the .ipynb on disk
    notebook.widget_problems()    # widget outputs that failed to render
    notebook.screenshot("01")     # the whole notebook, as one tall PNG

Actions go through the UI (menus, keys, clicks); state is read from the DOM, and from
`window.jupyterapp` (the server runs with --LabApp.expose_app_in_browser=True, as Galata does).
Each notebook gets its own page and its own JupyterLab workspace, so no tab is restored into another.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path
from urllib.parse import quote

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_FAILURES = ("Error displaying widget", "Loading widget...")
VIEWPORT = {"width": 1400, "height": 900}

# The open notebook's panel, its kernel status and the prompt of every code cell.
_STATE_JS = """(name) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return {ready: false, why: 'JupyterLab is not loaded'};
  const panel = app.shell.currentWidget;
  if (!panel || !panel.context || panel.context.path !== name) return {ready: false, why: 'notebook not current'};
  const kernel = panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  const prompts = Array.from(panel.node.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))
                       .map(p => p.textContent.trim());
  let errors = 0;
  for (const cell of panel.content.widgets) {
    if (cell.model.type !== 'code') continue;
    for (let i = 0; i < cell.model.outputs.length; i++) {
      if (cell.model.outputs.get(i).type === 'error') errors += 1;
    }
  }
  return {ready: panel.context.isReady && panel.content.widgets.length > 0, id: panel.id,
          kernel: kernel ? kernel.status : 'none', dirty: panel.context.model.dirty, prompts, errors};
}"""


class NotebookPage:
    def __init__(self, page, server, name: str, artifacts: Path):
        self.page, self.server, self.name, self.artifacts = page, server, name, artifacts
        self.stem = Path(name).stem
        self.console: list[str] = []  # browser console errors and uncaught exceptions, for failure messages
        page.on("console", lambda m: m.type == "error" and self.console.append(m.text[:300]))
        page.on("pageerror", lambda e: self.console.append(f"uncaught: {str(e)[:300]}"))
        self.panel_id = ""
        self.timings: dict[str, float] = {}

    # --- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, context, server, name: str, artifacts: Path, timeout_s: float = 120) -> NotebookPage:
        page = context.new_page()
        page.set_default_timeout(60_000)
        notebook = cls(page, server, name, artifacts)
        with notebook.step("open the notebook and wait for an idle kernel"):
            t0 = time.monotonic()
            workspace = "wb-" + re.sub(r"[^A-Za-z0-9_-]", "-", notebook.stem)
            page.goto(f"{server.url}/lab/workspaces/{workspace}/tree/{quote(name)}?token={server.token}&reset",
                      wait_until="domcontentloaded", timeout=timeout_s * 1000)
            page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell)", timeout=timeout_s * 1000)
            page.evaluate("async () => { await window.jupyterapp.started; await window.jupyterapp.restored; }")
            state = notebook.wait_for(lambda s: s.get("ready") and s["kernel"] == "idle", timeout_s,
                                      "the notebook to open with an idle kernel")
            notebook.panel_id = state["id"]
            # More room for the notebook: fold the file browser away (the screenshots show the work).
            page.evaluate("() => window.jupyterapp.shell.collapseLeft && window.jupyterapp.shell.collapseLeft()")
            notebook.timings["open"] = time.monotonic() - t0
        return notebook

    @property
    def panel(self):
        return self.page.locator(f'[id="{self.panel_id}"]')

    def state(self) -> dict:
        return self.page.evaluate(_STATE_JS, self.name)

    def wait_for(self, condition, timeout_s: float, what: str, stable_polls: int = 1) -> dict:
        """Poll the notebook's state until `condition(state)` holds `stable_polls` times in a row."""
        deadline, hits, state = time.monotonic() + timeout_s, 0, {}
        while time.monotonic() < deadline:
            state = self.state()
            hits = hits + 1 if condition(state) else 0
            if hits >= stable_polls:
                return state
            self.page.wait_for_timeout(500)
        raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last state: {state}")

    # --- acting like a user ----------------------------------------------------------------------
    def run_all(self, timeout_s: float = 300) -> dict:
        """Run > Run All Cells, then wait until no cell is queued or running and the kernel is idle."""
        with self.step("run all cells"):
            t0 = time.monotonic()
            self.menu("Run", "Run All Cells")

            def finished(s):
                numbered = [p for p in s["prompts"] if re.fullmatch(r"\[\d+\]:", p)]
                busy = any("*" in p for p in s["prompts"])
                all_ran = len(numbered) == len(s["prompts"])
                return s["kernel"] == "idle" and not busy and numbered and (all_ran or s["errors"])

            # Three quiet polls in a row: the kernel goes idle for a moment between two cells.
            state = self.wait_for(finished, timeout_s, "all cells to finish", stable_polls=3)
            self.timings["run all"] = time.monotonic() - t0
            return state

    def menu(self, *path: str) -> None:
        """Click through the main menu bar, e.g. menu("Run", "Run All Cells")."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(path[0])}$")).click()
        for label in path[1:]:
            self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(label)}$")).first.click()

    def save(self, timeout_s: float = 60) -> dict:
        """Ctrl+S in the notebook, then wait until the document is no longer dirty."""
        with self.step("save the notebook"):
            self.panel.locator(".jp-Notebook").first.focus()
            self.page.keyboard.press("Control+s")
            return self.wait_for(lambda s: not s["dirty"], timeout_s, "the notebook to be saved")

    # --- checks -----------------------------------------------------------------------------------
    def saved_notebook(self) -> dict:
        return json.loads((self.server.root / self.name).read_text(encoding="utf-8"))

    def saved_errors(self) -> list[str]:
        """Error outputs in the notebook as saved on disk: 'cell N: Ename: value' each."""
        problems = []
        for index, cell in enumerate(self.saved_notebook()["cells"]):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    problems.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
        return problems

    def unexecuted_cells(self) -> list[int]:
        return [i for i, c in enumerate(self.saved_notebook()["cells"])
                if c["cell_type"] == "code" and "".join(c["source"]).strip() and not c.get("execution_count")]

    def widget_outputs_saved(self) -> int:
        return sum(WIDGET_MIME in o.get("data", {}) for c in self.saved_notebook()["cells"]
                   for o in c.get("outputs", []))

    def widget_problems(self, grace_s: float = 30) -> list[str]:
        """Outputs still at "Loading widget..." after `grace_s`, or showing "Error displaying widget",
        and widget outputs of the saved notebook that have no widget view on the page."""
        outputs = self.panel.locator(".jp-OutputArea-output")
        deadline = time.monotonic() + grace_s
        while True:
            texts = outputs.all_inner_texts()
            bad = [(i, t) for i, t in enumerate(texts) if any(f in t for f in WIDGET_FAILURES)]
            if not bad or time.monotonic() > deadline:
                break
            self.page.wait_for_timeout(1000)
        problems = [f"output {i}: {t.strip()[:200]!r}" for i, t in bad]
        # ipywidgets' renderer is a bare panel (no data-mime-type); every widget view has .jupyter-widgets.
        shown = self.panel.locator(".jp-OutputArea-output:has(.jupyter-widgets)").count()
        saved = self.widget_outputs_saved()
        if shown < saved:
            problems.append(f"{saved} widget outputs in the saved notebook but {shown} widget views on the page")
        return problems

    # --- evidence ---------------------------------------------------------------------------------
    def screenshot(self, name: str, whole_notebook: bool = True, path: Path | None = None) -> Path:
        """A PNG of the page; with whole_notebook the viewport grows so every cell is on it."""
        path = path or self.artifacts / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = dict(self.page.viewport_size or VIEWPORT)
        if whole_notebook:
            extra = self.page.evaluate("""(id) => {
                const panel = document.getElementById(id);
                const outer = panel && panel.querySelector('.jp-WindowedPanel-outer');
                const cells = panel ? panel.querySelectorAll('.jp-Cell') : [];
                if (!outer || !cells.length) return 0;
                const end = cells[cells.length - 1].getBoundingClientRect().bottom;  // not the scroll-past-end room
                return end - outer.getBoundingClientRect().top + outer.scrollTop + 24 - outer.clientHeight; }""",
                self.panel_id)
            self.page.set_viewport_size({"width": size["width"], "height": int(min(size["height"] + max(extra, 0), 12_000))})
            self.scroll_to_top()
            self.page.wait_for_timeout(800)  # let JupyterLab lay out at the new size
        try:
            self.page.screenshot(path=str(path), full_page=True)
        finally:
            if whole_notebook:
                self.page.set_viewport_size(size)
                self.page.wait_for_timeout(800)  # JupyterLab re-lays out (and may re-scroll) after a resize
        return path

    def scroll_to_top(self) -> None:
        self.page.evaluate("""(id) => {
            const outer = document.getElementById(id).querySelector('.jp-WindowedPanel-outer');
            if (outer) outer.scrollTop = 0; }""", self.panel_id)

    @contextlib.contextmanager
    def step(self, what: str):
        """Name the step in any failure, with a screenshot and the browser console errors."""
        try:
            yield
        except Exception as err:
            shot = ""
            with contextlib.suppress(Exception):
                shot = str(self.screenshot(f"{self.stem}-FAILED", whole_notebook=False))
            console = "\n  ".join(self.console[-10:]) or "(none)"
            raise AssertionError(f"{self.name}: could not {what}: {err}\n"
                                 f"screenshot: {shot or '(none)'}\nbrowser console errors:\n  {console}") from err

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.page.close()
