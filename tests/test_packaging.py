"""Packaging: `import workbench` stays light, and the wheel carries the tag files."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10, which pyproject.toml allows: the same parser, as tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "open_clip", "umap", "transformers", "plotly", "ipywidgets")


LAZY = ("workbench.generation", "workbench.embeddings", "workbench.widgets", "workbench.maps")


def test_import_workbench_does_not_import_heavy_libraries():
    code = (f"import sys, workbench, workbench.prompts, workbench.cli, {', '.join(LAZY)}; "
            f"assert 'ImageGenerator' in dir(workbench.generation) and 'Composer' in dir(workbench.widgets); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


@pytest.mark.parametrize("package", LAZY)
def test_every_lazy_export_is_there(package):
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name).__name__ == name
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'Nope'"):
        module.Nope  # noqa: B018


DATA = ("*.yaml", "*.json", "*.safetensors", "*.txt", "*.md", "*.png")  # pyproject's package-data patterns


def test_every_package_and_data_folder_is_listed_in_pyproject():
    """A folder left out of `packages` is silently left out of the wheel (and setuptools warns on install)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    files = list((ROOT / "workbench").rglob("__init__.py"))
    files += [f for pattern in DATA for f in (ROOT / "workbench").rglob(pattern)]
    found = {".".join(f.parent.relative_to(ROOT).parts) for f in files if "__pycache__" not in f.parts}
    found |= {"workbench.style_tags." + ".".join(f.parent.relative_to(ROOT / "style_tags").parts)
              for pattern in DATA for f in (ROOT / "style_tags").rglob(pattern) if f.parent != ROOT / "style_tags"}
    assert found <= listed, f"add to pyproject [tool.setuptools] packages: {sorted(found - listed)}"


@pytest.mark.slow
def test_wheel_carries_the_tag_files_and_the_model_and_finds_them(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v",
                            "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, text=True)
    log = build.stdout + build.stderr
    assert "would be ignored" not in log, "setuptools warns about a folder left out"
    assert "Warning:" not in log, "the build warns: " + log[max(0, log.index("Warning:") - 200):][:800]
    wheel = next(tmp_path.glob("prompt_workbench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "workbench/style_tags/render_engines.yaml" in names
    assert "workbench/style_tags/policy/opt_out.yaml" in names
    shipped = {str(p.relative_to(ROOT)) for p in (ROOT / "workbench/toyworld/model").rglob("*") if p.is_file()}
    assert shipped and shipped <= set(names), f"model files missing from the wheel: {sorted(shipped - set(names))}"
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (f"import workbench, workbench.prompts as p; assert workbench.__file__.startswith({str(site)!r}), "
            "workbench.__file__; print(len(p.TagLibrary.default()), p.compose('a fox', ['decades:1960s']).prompt)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("a fox, 1960s")
