"""Shared fixtures: tiny tag files written into tmp_path, the shipped library and policy."""

from __future__ import annotations

import os
import textwrap

import pytest

# Keep numba's compiled kernels between runs (umap); a writable folder inside the checkout.
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub


@pytest.fixture
def write(tmp_path):
    """write("name.yaml", text) -> path, with the text dedented."""

    def _write(name: str, text: str | bytes):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def library():
    from workbench.prompts.compose import default_library

    return default_library()


@pytest.fixture(scope="session")
def policy():
    from workbench.prompts.compose import default_policy

    return default_policy()
