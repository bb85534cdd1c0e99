"""Make UMAP fast from the first map: a persistent numba cache and a background warm-up.

umap-learn is compiled by numba the first time it runs in a process. Measured on a 2-core
machine: `import umap` takes 13 s without a numba cache, and the first fit adds 10-40 s
of compilation, because umap's own layout kernels are not cached on disk. Two remedies:

1. `use_persistent_cache()` points `NUMBA_CACHE_DIR` at a writable folder (unless the
   user already set it), so pynndescent's kernels compile once per machine, not once per
   kernel start. `import_umap()` also switches on disk caching for umap's kernels (the
   maintainers' preferred fix, umap#1090), so a warm first fit takes ~1.5 s, not ~6 s.
2. `warm_up()` imports umap and fits a tiny map in a background thread, so by the time
   the user asks for a UMAP the compilation is done, and the notebook never waits on it.

    from workbench.maps import warm_up
    warming = warm_up()          # returns at once; warming.status is a line for a badge
    warming.wait()               # only if you want to block

Nothing here imports numba or umap at module import time.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "NUMBA_CACHE_DIR"
UMAP_MODULES = ("umap.umap_", "umap.layouts", "umap.utils", "umap.spectral", "umap.distances", "umap.sparse")

_import_lock = threading.Lock()
_umap = None
_warm: WarmUp | None = None


def default_cache_folder() -> Path:
    """~/.cache/prompt-workbench/numba (or under $XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "prompt-workbench" / "numba"


def private_temp_folder() -> Path:
    """A cache folder in the shared temp folder that only this user can write: numba reads its
    index files back with pickle, so a folder another user made (or can write) would run their
    code. The named per-user folder is reused only when it is ours and closed to others;
    otherwise a fresh one is made (no cache carried over, but nothing planted either)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    folder = Path(tempfile.gettempdir()) / f"prompt-workbench-numba-{uid if uid is not None else 0}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
        if uid is None or (stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o022):
            return folder
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="prompt-workbench-numba-"))


def use_persistent_cache() -> Path:
    """Point numba's on-disk cache at a writable folder (the user's NUMBA_CACHE_DIR wins); returns it.

    Must run before numba compiles anything it should cache; `import_umap()` calls it first.
    """
    folder = Path(os.environ.get(ENV) or default_cache_folder())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError:  # read-only home (containers): a per-user temp folder still beats no cache
        folder = private_temp_folder()
    os.environ[ENV] = str(folder)
    if "numba" in sys.modules:  # numba read the variable at its import; later cache lookups use config
        sys.modules["numba"].config.CACHE_DIR = str(folder)
    return folder


def import_umap():
    """`import umap` with the persistent cache set and umap's kernels cached on disk (thread-safe)."""
    global _umap
    with _import_lock:
        if _umap is None:
            use_persistent_cache()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # tqdm/TensorFlow notices on import
                    import umap
            except ImportError as err:
                raise ImportError(f"UMAP maps need umap-learn ({err}); install it with `pip install umap-learn`, "
                                  "or use projection='pca'") from None
            cache_umap_kernels()
            _umap = umap
    return _umap


def cache_umap_kernels() -> int:
    """Switch on numba's disk cache for umap's module-level kernels; returns how many.

    umap-learn compiles its layout kernels with `cache=False`, so every new process pays
    for them again. A function compiled twice (parallel and serial twins of one Python
    function) would share one cache file, so only the parallel twin is cached; the serial
    one (used by seeded fits) still compiles once per process. Best effort: any
    failure leaves umap exactly as it was.
    """
    try:
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher
    except ImportError:
        return 0
    by_function: dict[int, list] = {}
    for name in UMAP_MODULES:
        module = sys.modules.get(name)
        for obj in vars(module).values() if module else ():
            if isinstance(obj, Dispatcher) and isinstance(getattr(obj, "_cache", None), NullCache):
                by_function.setdefault(id(obj.py_func), []).append(obj)
    enabled = 0
    for twins in by_function.values():
        twins = list({id(d): d for d in twins}.values())
        if len(twins) > 1:
            twins = [d for d in twins if d.targetoptions.get("parallel")][:1] if len(twins) == 2 else []
        for dispatcher in twins:
            try:
                dispatcher.enable_caching()
                enabled += 1
            except Exception as err:  # noqa: BLE001 - an optimisation must never break the map
                log.debug("numba cache not enabled for %s: %s", dispatcher, err)
    return enabled


class WarmUp:
    """A warm-up running (or done) in a background thread: `done`, `seconds`, `error`, `status`."""

    def __init__(self):
        self.started = time.perf_counter()
        self.seconds: float | None = None
        self.error: str = ""
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def status(self) -> str:
        """One line for a badge in the map's toolbar."""
        if self.error:
            return f"UMAP warm-up failed: {self.error}"
        if self.done:
            return f"UMAP ready (warmed up in {self.seconds:.1f} s)"
        cached = any(Path(os.environ.get(ENV) or default_cache_folder()).glob("umap*/*.nbi"))
        return "warming up UMAP" + ("…" if cached else " (first time on this machine: about a minute)…")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the warm-up is over (True), or `timeout` seconds passed (False)."""
        return self._done.wait(timeout)

    def run(self, random_state: int | None = None) -> WarmUp:
        try:
            compile_kernels(random_state)
        except Exception as err:  # noqa: BLE001 - reported in `status`; the real fit will raise properly
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self.seconds = time.perf_counter() - self.started
            self._done.set()
        return self


def compile_kernels(random_state: int | None = None) -> None:
    """Import umap and fit tiny maps, so that every kernel a real map with this `random_state` uses
    is compiled."""
    import numpy as np

    from workbench.maps.projection import UMAPProjection

    import_umap()
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    X = (centres[rng.integers(0, 4, 80)] + 0.3 * rng.normal(size=(80, 16))).astype(np.float32)
    projection = UMAPProjection(n_neighbors=8, n_epochs=20).fit(X)
    projection.add_points(X[:5] + 0.01, refit=True, n_epochs=5)  # the refit path (array init)
    if random_state is not None:
        UMAPProjection(n_neighbors=8, n_epochs=20, random_state=random_state).fit(X)


def warm_up(background: bool = True, random_state: int | None = None) -> WarmUp:
    """Compile UMAP's kernels now, in a background thread by default; the same handle on later calls.

    Call it at kernel start (the LatentMap widget does). Pass the `random_state` your maps use: a
    whole number also compiles the single-threaded kernel that seeded fits use.
    """
    global _warm
    with _import_lock:
        if _warm is not None and not _warm.error:
            return _warm
        _warm = WarmUp()
        warming = _warm
    if background:
        warming._thread = threading.Thread(target=warming.run, args=(random_state,), name="umap-warm-up",
                                           daemon=True)
        warming._thread.start()
    else:
        warming.run(random_state)
    return warming
