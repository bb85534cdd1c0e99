"""Fixtures for the browser tests: a JupyterLab server on a temp copy of the notebooks, and headless Chromium.

Chromium is Debian's (`bash tests/setup_browser.sh` installs it as root); Playwright is pointed at it
and never downloads a browser of its own. Without it, or without the playwright package, the tests skip;
with WORKBENCH_REQUIRE_BROWSER=1 (CI sets it in .ci/run) they fail instead, so CI cannot pass without them.

    .venv/bin/python -m pytest tests/browser -m browser
    WORKBENCH_UPDATE_SCREENSHOT=1 .venv/bin/python -m pytest tests/browser -k composer   # also docs/screenshot.png

Screenshots land in test-artifacts/browser/ (gitignored), also on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from lab_driver import VIEWPORT, NotebookPage

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
BUDGET_S = int(os.environ.get("WORKBENCH_NOTEBOOK_BUDGET", "300"))  # Run All Cells, per notebook (as tests/test_notebooks.py)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# User settings for the test server: no toasts or news over the notebook, every cell attached to the DOM
# (windowing would leave off-screen outputs out of the page), widget state not saved into the file.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False,
                                                    "doNotDisturbMode": True},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": False},
}


REQUIRE_BROWSER = "WORKBENCH_REQUIRE_BROWSER"  # set (not "0"): a missing browser fails the tests, not skips them


def find_chromium() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_required() -> bool:
    return os.environ.get(REQUIRE_BROWSER, "") not in ("", "0")


def skip_or_fail(reason: str, fix: str) -> None:
    """Skip on a developer's machine; fail where the browser tests are required (CI), so they never vanish."""
    if browser_required():
        pytest.fail(f"{reason}; {REQUIRE_BROWSER} is set, so the browser tests must run: "
                    f"{fix} or unset {REQUIRE_BROWSER}", pytrace=False)
    pytest.skip(f"{reason}; {fix}")


@pytest.fixture(scope="session")
def chromium_path():
    path = find_chromium()
    if path is None:
        skip_or_fail("no chromium: the browser tests use Debian's chromium (looked for /usr/bin/chromium, then "
                     "`chromium` and `chromium-browser` on PATH)", "run `sudo bash tests/setup_browser.sh`")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("the playwright package is not installed", "run `pip install -e '.[dev]'`")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    url: str
    token: str
    root: Path  # the server's root_dir: the temp copy of the notebooks
    log: Path
    process: subprocess.Popen

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self, path: str | None = None) -> None:
        """End the sessions (and their kernels) of one notebook, or of all; frees the 2 cores for the next."""
        for session in self.api("/api/sessions"):
            if path is None or session.get("path") == path:
                self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def lab_server(chromium_path, tmp_path_factory):
    """`jupyter lab` on localhost, rooted at a temp copy of notebooks/; stopped (terminate, wait, kill) at the end."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root, ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints", "__pycache__"))
    settings = base / "user-settings"
    for plugin, values in LAB_SETTINGS.items():
        file = settings / f"{plugin}.jupyterlab-settings"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(values), encoding="utf-8")
    (base / "workspaces").mkdir()

    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, WORKBENCH_STORE=str(base / "store"), JUPYTER_CONFIG_DIR=str(base / "config"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"), MPLBACKEND="Agg")
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--ServerApp.open_browser=False", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly", "--LabApp.expose_app_in_browser=True",
               f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={base / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    log = base / "jupyterlab.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = LabServer(f"http://127.0.0.1:{port}", token, root, log, process)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode} before answering; log {log}:\n"
                            f"{server.log_tail()}")
            try:
                server.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer on {server.url} within 120 s; log {log}:\n"
                                f"{server.log_tail()}")
                time.sleep(0.5)
        yield server
    finally:
        with contextlib.suppress(OSError, ValueError):  # kernels end with the server anyway
            if process.poll() is None:
                server.shutdown_kernels()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser_context(chromium_path, tmp_path_factory):
    """Headless Debian chromium with a fresh profile, driven by Playwright (sync API)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium_path, headless=True,
            args=CHROMIUM_ARGS, viewport=VIEWPORT, device_scale_factor=1)
        try:
            yield context
        finally:
            context.close()


class Lab:
    """Opens, runs and saves each notebook once per session; later tests reuse the live page and kernel."""

    def __init__(self, server: LabServer, context):
        self.server, self.context = server, context
        self.notebooks: dict[str, NotebookPage] = {}
        self.failures: dict[str, str] = {}

    def run(self, name: str, keep: bool = True) -> NotebookPage:
        """The notebook opened and run to the end (Run All Cells) and saved; raises if that failed before."""
        if name in self.failures:
            pytest.fail(f"{name} did not run in JupyterLab earlier in this session:\n{self.failures[name]}")
        if name in self.notebooks:
            return self.notebooks[name]
        notebook = None
        try:
            notebook = NotebookPage.open(self.context, self.server, name, ARTIFACTS)
            notebook.run_all(timeout_s=BUDGET_S)
            notebook.save()
        except AssertionError as err:
            self.failures[name] = str(err)
            # A notebook that ran past its budget keeps computing: stop it, or it slows every later test.
            if notebook is not None:
                notebook.close()
            with contextlib.suppress(OSError, ValueError):
                self.server.shutdown_kernels(name)
            raise
        if keep:
            self.notebooks[name] = notebook
        return notebook

    def release(self, name: str) -> None:
        """Close the notebook's page and end its kernel."""
        notebook = self.notebooks.pop(name, None)
        if notebook is not None:
            notebook.close()
        with contextlib.suppress(OSError, ValueError):
            self.server.shutdown_kernels(name)


@pytest.fixture(scope="module")  # end every notebook kernel before other test modules run
def lab(lab_server, browser_context):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lab = Lab(lab_server, browser_context)
    yield lab
    for name in list(lab.notebooks):
        lab.release(name)
