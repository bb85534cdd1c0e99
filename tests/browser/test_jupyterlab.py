"""The notebooks in real JupyterLab, in headless Chromium: what a user sees.

Each notebook is opened, run with Run > Run All Cells, saved with Ctrl+S, and checked: no error output
in the saved file, every widget rendered (nothing left at "Loading widget..." or "Error displaying
widget"), and the notebook's own widgets on the page. Then two interactions: a Composer picker change
updates the previewed prompt (01), and a click on a latent-map point shows its image (04).

Screenshots of every notebook go to test-artifacts/browser/; with WORKBENCH_UPDATE_SCREENSHOT=1 the
Composer run also writes the README's docs/screenshot.png.

    .venv/bin/python -m pytest tests/browser -m browser -rA
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from lab_driver import NotebookPage

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
COMPOSER = "01_compose_prompts.ipynb"
MAP = next((n for n in NOTEBOOKS if n.startswith("04_")), None)
README_SCREENSHOT = ROOT / "docs" / "screenshot.png"

# What each notebook must show besides "no error": CSS classes its widgets put on the page.
EXPECTED = {
    "01": [".wb-composer", ".wb-composer-preview", ".wb-picker-decades select"],
    "02": [".wb-variation-grid"],
    "03": [".wb-modifier-comparison"],
    "04": [".js-plotly-plot", ".wb-map-panel"],
}
KEEP_OPEN = {COMPOSER, MAP}  # the interaction tests below reuse these pages and kernels

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def skip_reason(name: str) -> str | None:
    """Notebooks that read WORKBENCH_MODEL run the embedded toy-world model; they wait for its weights."""
    if "WORKBENCH_MODEL" not in (NOTEBOOK_DIR / name).read_text(encoding="utf-8") or os.environ.get("WORKBENCH_MODEL"):
        return None
    from workbench.toyworld.paths import MODEL_DIR, is_trained

    if not is_trained():
        return f"{name} needs the embedded toy-world model, whose weights are not in {MODEL_DIR} yet"
    return None


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", [pytest.param(n, id=Path(n).stem) for n in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab(lab, name):
    if reason := skip_reason(name):
        pytest.skip(reason)
    notebook = lab.run(name)
    try:
        shot = notebook.screenshot(notebook.stem)
        where = f"(screenshot: {shot})"

        errors = notebook.saved_errors()
        assert not errors, f"{name}: cells raised errors {where}:\n  " + "\n  ".join(errors)
        unexecuted = notebook.unexecuted_cells()
        assert not unexecuted, f"{name}: code cells {unexecuted} did not run {where}"

        problems = notebook.widget_problems()
        assert not problems, f"{name}: widgets did not render {where}:\n  " + "\n  ".join(problems)
        for selector in EXPECTED.get(name[:2], []):
            assert notebook.panel.locator(selector).count(), f"{name}: nothing matches {selector!r} on the page {where}"
        print(f"{name}: opened in {notebook.timings['open']:.1f} s, ran in {notebook.timings['run all']:.1f} s")
    finally:
        if name not in KEEP_OPEN:
            lab.release(name)


@pytest.mark.timeout(300)
def test_composer_picker_updates_preview(lab):
    from playwright.sync_api import expect

    notebook = lab.run(COMPOSER)
    try:
        prompt = notebook.panel.locator(".wb-composer-preview .wb-prompt").first
        with notebook.step("see the first composed prompt"):
            expect(prompt).to_contain_text("1960s", timeout=30_000)  # the notebook starts with decades:1960s
            assert "1980s" not in prompt.inner_text()
        with notebook.step("pick 1980s in the Decades picker and see it in the preview"):
            picker = notebook.panel.locator(".wb-picker-decades select").first
            picker.scroll_into_view_if_needed()
            picker.select_option(label=["1960s", "1980s"])  # a multi-select: keep 1960s, add 1980s
            expect(prompt).to_contain_text("1980s", timeout=30_000)
            expect(prompt).to_contain_text("1960s")
            # Show the new pick in the list too (the README screenshot is taken next).
            picker.evaluate("s => { const o = Array.from(s.selectedOptions).pop(); "
                            "if (o) s.scrollTop = o.offsetTop - s.clientHeight + o.offsetHeight + 4; }")
        readme_screenshot(notebook)
    finally:
        lab.release(COMPOSER)


def readme_screenshot(notebook: NotebookPage) -> None:
    """The workbench as the README shows it: notebook 01 with the Composer, after a pick."""
    with notebook.step("take the README screenshot"):
        notebook.scroll_to_top()
        notebook.page.mouse.move(0, 0)  # no hover highlight in the picture
        notebook.page.wait_for_timeout(500)
        shot = notebook.screenshot("readme-screenshot", whole_notebook=False)
        if os.environ.get("WORKBENCH_UPDATE_SCREENSHOT") == "1":
            README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            README_SCREENSHOT.write_bytes(shot.read_bytes())


# The pixel position of one map point: the most isolated clickable point (image points first) inside
# the plot area and below the mode bar, with its prompt and seed read from its hover label. Scattergl
# draws on a canvas, so the point is found from plotly's own axes (l2p + the axis offset).
_MAP_POINT_JS = """([id, scroll]) => {
  const root = document.getElementById(id);
  const panel = root && root.querySelector('.wb-map-panel');
  if (!panel) return {error: 'no .wb-map-panel on the page'};
  let node = panel.parentElement;
  while (node && node !== root.parentElement && !node.querySelector('.js-plotly-plot')) node = node.parentElement;
  const gd = node && node.querySelector('.js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullData) return {error: 'no drawn plotly graph beside .wb-map-panel'};
  if (scroll) {  // centre the graph in the notebook's scroller (scrollIntoView can lose to JupyterLab's own scrolling)
    const outer = root.querySelector('.jp-WindowedPanel-outer');
    if (!outer) { gd.scrollIntoView({block: 'center'}); return {scrolled: 'scrollIntoView'}; }
    const g = gd.getBoundingClientRect(), o = outer.getBoundingClientRect();
    outer.scrollTop += g.top - o.top - Math.max(0, (outer.clientHeight - g.height) / 2);
    return {scrolled: outer.scrollTop};
  }
  const decode = (html) => { const d = document.createElement('div'); d.innerHTML = html; return d.textContent; };
  const L = gd._fullLayout, rect = gd.getBoundingClientRect(), points = [];
  for (const trace of gd._fullData) {
    if (trace.visible !== true || trace.hoverinfo === 'skip' || !String(trace.mode).includes('markers')) continue;
    if (!trace.x || !trace.y) continue;
    const xa = L[trace.xaxis.replace('x', 'xaxis')], ya = L[trace.yaxis.replace('y', 'yaxis')];
    if (!xa || !ya) continue;
    for (let i = 0; i < Math.min(trace.x.length, 400); i++) {
      const px = xa._offset + xa.l2p(trace.x[i]), py = ya._offset + ya.l2p(trace.y[i]);
      if (!isFinite(px) || !isFinite(py)) continue;
      if (px < xa._offset + 6 || px > xa._offset + xa._length - 6) continue;
      if (py < Math.max(ya._offset + 6, 40) || py > ya._offset + ya._length - 6) continue;
      const label = String((Array.isArray(trace.hovertext) ? trace.hovertext[i] : trace.hovertext) || '');
      const parts = label.split('<br>').map(decode);
      const seed = /seed (\\S+)/.exec(parts[1] || '');
      points.push({trace: trace.index, index: i, px, py, prompt: parts[0].replace(/…$/, ''),
                   seed: seed ? seed[1] : null, image: / image /.test(' ' + (parts[1] || ''))});
    }
  }
  if (!points.length) return {error: 'the map has no clickable point inside its plot area'};
  const candidates = points.some(p => p.image) ? points.filter(p => p.image) : points;
  let best = candidates[0], bestGap = -1;
  for (const p of candidates) {
    let gap = Infinity;
    for (const q of points) if (q !== p) gap = Math.min(gap, Math.hypot(p.px - q.px, p.py - q.py));
    if (gap > bestGap) { best = p; bestGap = gap; }
  }
  const x = rect.left + best.px, y = rect.top + best.py, under = document.elementFromPoint(x, y);
  return {...best, x, y, points: points.length, on_plot: !!under && gd.contains(under),
          under: under ? under.tagName + '.' + String(under.className.baseVal ?? under.className) : 'nothing'};
}"""

# The panel's image once it holds a decoded picture (ipywidgets' Image is the <img> itself; an empty
# value still gets a blob: src, so "has a src" alone proves nothing).
_PANEL_IMAGE_JS = """(id) => {
  const img = document.getElementById(id).querySelector('img.wb-map-panel-image, .wb-map-panel-image img');
  return !!(img && img.src && img.complete && img.naturalWidth > 0 && img.offsetWidth > 0);
}"""


@pytest.mark.timeout(600)
def test_latent_map_click_shows_image(lab):
    if MAP is None:
        pytest.skip("notebooks/04_*.ipynb (the latent space map) does not exist yet")
    if reason := skip_reason(MAP):
        pytest.skip(reason)
    notebook = lab.run(MAP)
    try:
        click_map_point(notebook)
    finally:
        lab.release(MAP)


def click_map_point(notebook: NotebookPage) -> None:
    """Click one point of the notebook's LatentMap; its image, prompt and seed must appear in the side panel."""
    from playwright.sync_api import expect

    with notebook.step("click a point of the latent map and see its image in the side panel"):
        for _ in range(3):  # JupyterLab may still be re-laying out (and re-scrolling) after a resize
            scrolled = notebook.page.evaluate(_MAP_POINT_JS, [notebook.panel_id, True])  # the map into view
            notebook.page.wait_for_timeout(1000)  # let JupyterLab and the canvas settle, then measure
            target = notebook.page.evaluate(_MAP_POINT_JS, [notebook.panel_id, False])
            assert "error" not in target, target.get("error")
            if target["on_plot"]:
                break
        assert target["on_plot"], (f"the map point at {target['x']:.0f},{target['y']:.0f} is covered by "
                                   f"{target['under']} (scrolled: {scrolled})")
        notebook.page.mouse.move(target["x"], target["y"])  # plotly finds the point under the mouse on hover
        notebook.page.wait_for_timeout(300)
        notebook.page.mouse.click(target["x"], target["y"])
        notebook.page.wait_for_function(_PANEL_IMAGE_JS, arg=notebook.panel_id, timeout=30_000)
        info = notebook.panel.locator(".wb-map-panel-info").first
        expect(info).to_contain_text(target["prompt"][:40].strip(), timeout=10_000)
        if target["seed"] is not None:
            expect(info).to_contain_text(re.compile(rf"seed\s*{re.escape(target['seed'])}(?!\d)"))
        print(f"clicked point {target['index']} of {target['points']}: {target['prompt'][:60]!r}, seed {target['seed']}")
    notebook.screenshot(f"{notebook.stem}-map-click", whole_notebook=False)
