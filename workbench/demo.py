"""The main job, end to end and offline: `workbench demo --out DIR` (also `make demo`).

Runs the workbench's journey on the embedded toy-world model and writes an HTML
report (grids, map, charts, executed notebooks) into DIR. Each step is a function
that adds a section to the report; a step that fails is reported in the page and on
stderr, and the others still run, so one broken part never hides the rest.
"""

from __future__ import annotations

import html
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from workbench.threads import available_cores

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


@dataclass
class Section:
    title: str
    body: str = ""  # trusted HTML built by the step, user text escaped
    seconds: float = 0.0
    error: str = ""


@dataclass
class Report:
    out: Path
    sections: list[Section] = field(default_factory=list)

    def write(self) -> Path:
        parts = []
        for s in self.sections:
            status = f"<p class='err'>failed: {html.escape(s.error)}</p>" if s.error else ""
            parts.append(f"<section><h2>{html.escape(s.title)} <small>{s.seconds:.1f} s</small></h2>{status}{s.body}</section>")
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Prompt Workbench demo</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
section{{margin-bottom:2.5em}} small{{color:#888;font-weight:normal}} .err{{color:#c62828}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}
img{{image-rendering:pixelated;max-width:100%}} code{{background:#f4f4f4;padding:1px 4px}}</style></head>
<body><h1>Prompt Workbench: demo report</h1>
<p>Made offline on the embedded toy-world model by <code>workbench demo</code>.</p>
{''.join(parts)}</body></html>"""
        path = self.out / "index.html"
        path.write_text(page, encoding="utf-8")
        return path


def step_compose(out: Path) -> str:
    from workbench.prompts import compose
    from workbench.prompts.templates import expand

    rows = []
    examples = [("a lighthouse on a cliff", ["render_engines:octane-render", "decades:1960s"]),
                ("a red circle on a white background", ["mediums:lino-cut"]),
                ("a fox in the snow", ["mediums:wood-cut", "film:ilford-hp5", "lighting:golden-hour"])]
    for subject, tags in examples:
        c = compose(subject, tags)
        rows.append(f"<tr><td>{html.escape(subject)}</td><td>{html.escape(', '.join(tags))}</td>"
                    f"<td>{html.escape(c.prompt)}</td><td>{c.tokens}</td></tr>")
    prompts = expand("a {red|blue} {circle|star}, __decades__", n=8)
    try:
        compose("a castle by greg rutkowski")
        refusal = "(not refused: check the policy files)"
    except ValueError as err:
        refusal = str(err)
    return ("<table><tr><th>subject</th><th>tags</th><th>composed prompt</th><th>tokens</th></tr>" + "".join(rows)
            + "</table><p>Template <code>a {red|blue} {circle|star}, __decades__</code> expands to "
            + html.escape("; ".join(prompts)) + " ...</p>"
            + f"<p>Refused: <i>{html.escape(refusal)}</i></p>")


def _img(path: Path, out: Path, alt: str) -> str:
    return f"<img src='{html.escape(str(path.relative_to(out)))}' alt='{html.escape(alt)}'>"


def _generator(out: Path):
    from workbench.generation.engine import ImageGenerator

    return ImageGenerator(store=out / "store", progress=False)


def step_variations(out: Path) -> str:
    from workbench.embeddings.clip import ClipEmbedder
    from workbench.generation.grids import variation_grid
    from workbench.generation.variations import rerank
    from workbench.prompts import compose

    gen = _generator(out)
    prompt = compose("a red star on a light blue background", ["render_engines:octane-render"])
    grid = variation_grid(gen, prompt, "0-8")
    grid_path = grid.save(out / "variations.png")
    ranked = rerank(gen, ClipEmbedder(store=gen.store, progress=False), prompt, seeds="0-15", keep=4)
    rerank_path = out / "rerank.png"
    ranked.image().save(rerank_path)
    seconds = sum(r.record.duration_s for r in grid.results)
    return (f"<p>{html.escape(prompt.prompt)}: seeds 0-8, {grid.results[0].request.steps} steps, guidance "
            f"{grid.results[0].request.guidance} ({seconds:.1f} s of model time).</p>"
            + _img(grid_path, out, "3x3 variation grid")
            + "<p>CLIP rerank: 16 candidates, the best 4 kept (green), the rest still shown (red).</p>"
            + _img(rerank_path, out, "reranked candidates"))


def step_comparison(out: Path) -> str:
    from workbench.generation.grids import compare_modifiers

    gen = _generator(out)
    refs = ["render_engines:octane-render", "film:ilford-hp5", "mediums:watercolor", "artists:georges-seurat",
            "artists:piet-mondrian", "decades:1980s"]
    # Red, not yellow: black-and-white film turns yellow on white into pale gray on white, so the
    # film row showed almost nothing (the world's own renders too) and read as a failure
    grid = compare_modifiers(gen, "a red heart on a white background", refs, "0-3")
    path = grid.save(out / "comparison.png")
    return "<p>Same subject and seeds in every row; each row adds one modifier.</p>" + _img(path, out, "comparison")


def step_map(out: Path) -> str:
    from workbench.embeddings.clip import ClipEmbedder
    from workbench.maps.figures import export_html, map_figure
    from workbench.maps.points import points_from_store
    from workbench.maps.projection import UMAPProjection, centre_modalities

    gen = _generator(out)
    points = points_from_store(gen.store, ClipEmbedder(store=gen.store, progress=False))
    layout = UMAPProjection().fit_transform(centre_modalities(points.vectors, points.is_image))
    path = export_html(map_figure(points, layout, colour_by="modifier",
                                  title="prompts and images of this demo (UMAP, modalities centred)"), out / "map.html")
    n_images = int(points.is_image.sum())
    return (f"<p>{n_images} images and {len(points.points) - n_images} prompts embedded with the toy-world CLIP and "
            f"placed by UMAP: <a href='{path.name}'>open the map</a> (hover for prompts; standalone, offline).</p>")


def step_bias(out: Path) -> str:
    from workbench.bias import toy_world_check

    gen = _generator(out)
    probe, checked = toy_world_check(gen, seeds=range(40), roles=["doctor", "nurse", "teacher"])
    rows = "".join(f"<tr><td>{html.escape(c['role'])}</td><td>{c['planted']:.0%}</td><td>{c['measured']:.0%} "
                   f"[{c['low']:.0%}, {c['high']:.0%}]</td></tr>" for c in checked)
    chart = out / "bias.html"
    probe.figure("blue").write_html(chart, include_plotlyjs=True, full_html=True)  # offline: plotly.js inline
    grid_path = out / "bias_doctor.png"
    probe.grid("doctor").save(grid_path)
    guidance = probe.cells[0].results[0].request.guidance
    return (f"<p>Share of blue figures per role (toy world oracle; 40 seeds each at guidance {guidance:g}, where "
            "the model samples the distribution it learnt; 95 % Wilson interval).</p>"
            "<table><tr><th>role</th><th>planted</th><th>measured</th></tr>" + rows + "</table>"
            "<p><a href='bias.html'>chart</a></p>" + _img(grid_path, out, "doctor images"))


# Executed two at a time, each kernel on half the cores: kernel starts, imports, numba and
# plotly are single-threaded, so two lanes finish sooner than one (on the 2-core machine the
# notebooks took 300 s one at a time, 134 s two at a time). The bias probe generates the most:
# it starts first.
LANES = 2
LONGEST_FIRST = ("06_bias_probe.ipynb",)


@contextmanager
def _kernel_config():
    """Kernels talk over Unix sockets in a private folder where there are any, not TCP ports.

    Two kernels starting at once can be handed the same free TCP port (seen: "Address already
    in use", and the notebook failed). A socket path is unique, and nothing else can connect.
    The folder is absolute: the kernel runs in the notebooks' folder, the client does not.
    """
    from traitlets.config import Config

    if os.name != "posix":
        yield Config()
        return
    with tempfile.TemporaryDirectory(prefix="wb-kernel-") as folder:
        yield Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(folder, "kernel")}})


def _execute_notebook(path: Path, target: Path, env: dict) -> str:
    """Run one notebook in a fresh kernel; keep the executed copy (.ipynb and HTML) even when it fails."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    status = "ok"
    # The kernel's own stderr (start-up notices, crashes) goes to a log beside the executed copy.
    with open(target / f"{path.stem}.kernel.log", "w", encoding="utf-8") as log, _kernel_config() as config:
        try:
            NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
                           config=config).execute(env=env, stdout=log, stderr=log)
        except Exception as err:  # keep the partial notebook: it shows where it stopped
            status = f"failed: {type(err).__name__} (kernel log: {path.stem}.kernel.log)"
    nbformat.write(nb, target / path.name)
    quiet = logging.getLogger("workbench.demo.nbconvert")  # not its per-image "alt text is missing" notices
    quiet.setLevel(logging.ERROR)
    body, _ = HTMLExporter(log=quiet).from_notebook_node(nb)
    (target / f"{path.stem}.html").write_text(body, encoding="utf-8")
    return (f"<tr><td><a href='notebooks/{path.stem}.html'>{html.escape(path.name)}</a></td>"
            f"<td>{html.escape(status)}</td><td>{time.perf_counter() - start:.1f} s</td></tr>")


def _kernel_env(out: Path) -> dict:
    """The notebook kernels' environment: the demo's store, a share of the cores, charts that export."""
    env = dict(os.environ, WORKBENCH_STORE=str(out / "store"))  # the kernels share the demo's store (multi-process safe)
    env.setdefault("WORKBENCH_THREADS", str(max(1, available_cores() // LANES)))  # the lanes must not fight for cores
    # Charts also as HTML with plotly.js inline, so the executed copies show them offline
    # (nbconvert cannot draw plotly's own JSON output, and the report must not need a CDN).
    env.setdefault("PLOTLY_RENDERER", "plotly_mimetype+notebook")
    return env


def step_notebooks(out: Path) -> str:
    """Execute every notebook in a fresh kernel and keep the executed copies (HTML and .ipynb)."""
    from concurrent.futures import ThreadPoolExecutor

    target = out / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    paths = sorted(NOTEBOOK_DIR.glob("*.ipynb"), key=lambda p: (p.name not in LONGEST_FIRST, p.name))
    if not paths:  # an installed wheel: the notebooks ship with the source checkout only
        raise FileNotFoundError(f"no teaching notebooks in {NOTEBOOK_DIR}; they come with the source checkout "
                                "(git clone), not with the installed package")
    env = _kernel_env(out)
    with ThreadPoolExecutor(LANES) as pool:
        rows = dict(zip(paths, pool.map(lambda p: _execute_notebook(p, target, env), paths)))
    return (f"<p>{LANES} at a time, each kernel on {env['WORKBENCH_THREADS']} thread(s).</p>"
            "<table><tr><th>notebook</th><th>status</th><th>time</th></tr>"
            + "".join(rows[p] for p in sorted(paths)) + "</table>")


STEPS: list[tuple[str, Callable[[Path], str]]] = [
    ("Compose prompts", step_compose),
    ("Seeded variations and CLIP rerank", step_variations),
    ("Modifiers side by side", step_comparison),
    ("Prompts and images on one map", step_map),
    ("Bias probe", step_bias),
    ("Notebooks, executed", step_notebooks),
]


def run_demo(out: str | Path, steps=None) -> Report:
    from tqdm.auto import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out)
    for title, step in tqdm(steps or STEPS, desc="demo", unit="step"):
        start = time.perf_counter()
        section = Section(title)
        try:
            section.body = step(out)
        except Exception as err:
            section.error = f"{type(err).__name__}: {err}"
            traceback.print_exc()
        section.seconds = time.perf_counter() - start
        report.sections.append(section)
        report.write()  # after every step: an interrupted demo still leaves a readable report
    return report


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the offline demo on the embedded model and write an HTML report")
    p.add_argument("--out", default="demo-out", help="folder for the report (default: demo-out)")

    def run(args) -> int:
        start = time.perf_counter()
        report = run_demo(args.out)
        failed = [s.title for s in report.sections if s.error]
        print(f"demo finished in {time.perf_counter() - start:.0f} s; open the report: {(report.out / 'index.html').resolve()}")
        if failed:
            print(f"workbench: error: these demo steps failed: {', '.join(failed)} (details in the report)", file=sys.stderr)
        return 1 if failed else 0

    p.set_defaults(func=run)
