"""The numba cache and the background warm-up; importing the map modules stays light."""

import subprocess
import sys


def test_importing_the_map_modules_pulls_in_no_heavy_library():
    code = ("import sys, workbench.maps, workbench.maps.state, workbench.maps.points, workbench.maps.projection, "
            "workbench.maps.commands, workbench.maps.warmup\n"
            "heavy = [m for m in ('umap', 'numba', 'torch', 'plotly', 'ipywidgets') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_persistent_cache_folder(monkeypatch, tmp_path):
    from workbench.maps.warmup import ENV, use_persistent_cache

    if "numba" in sys.modules:  # keep the session's numba cache folder as it was
        monkeypatch.setattr(sys.modules["numba"].config, "CACHE_DIR", sys.modules["numba"].config.CACHE_DIR)
    monkeypatch.setenv(ENV, str(tmp_path / "mine"))
    assert use_persistent_cache() == tmp_path / "mine" and (tmp_path / "mine").is_dir()
    monkeypatch.delenv(ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert use_persistent_cache() == tmp_path / "xdg" / "prompt-workbench" / "numba"


def test_the_temp_fallback_is_never_a_folder_others_can_write(monkeypatch, tmp_path):
    """numba unpickles its index files: a shared temp folder another user made or can write
    would run their code in ours."""
    import os
    import tempfile

    from workbench.maps.warmup import private_temp_folder

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine = private_temp_folder()
    assert mine.parent == tmp_path and mine.stat().st_mode & 0o777 == 0o700
    assert private_temp_folder() == mine  # reused while it is ours and closed to others
    os.chmod(mine, 0o777)  # as a folder another user planted would be
    other = private_temp_folder()
    assert other != mine and other.parent == tmp_path and other.stat().st_mode & 0o777 == 0o700


def test_warm_up_runs_in_the_background_and_caches_umaps_kernels():
    from workbench.maps.warmup import import_umap, warm_up

    warming = warm_up()
    assert warm_up() is warming  # one warm-up per process
    assert warming.wait(300) and warming.error == "" and warming.status.startswith("UMAP ready")
    import_umap()
    from numba.core.caching import NullCache
    from umap import layouts

    assert not isinstance(layouts._nb_optimize_layout_euclidean_single_epoch_parallel._cache, NullCache)
    # the serial twin shares the Python function, so it must not share its cache file
    assert isinstance(layouts._nb_optimize_layout_euclidean_single_epoch._cache, NullCache)


def test_a_failed_warm_up_reports_and_can_be_retried(monkeypatch):
    from workbench.maps import warmup

    monkeypatch.setattr(warmup, "_warm", None)
    monkeypatch.setattr(warmup, "compile_kernels", lambda random_state=None: 1 / 0)
    failed = warmup.warm_up(background=False)
    assert failed.done and failed.status == "UMAP warm-up failed: ZeroDivisionError: division by zero"
    monkeypatch.setattr(warmup, "compile_kernels", lambda random_state=None: None)
    assert warmup.warm_up(background=False) is not failed


def test_package_exports_resolve():
    from workbench import maps

    assert set(maps.__all__) == set(maps._EXPORTS)
    assert all(callable(getattr(maps, name)) for name in maps.__all__)
