"""Generation threads: one core left free inside a Jupyter kernel, PyTorch's setting elsewhere."""

import subprocess
import sys

import pytest
import torch

from workbench import threads
from workbench.generation.engine import ImageGenerator


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return monkeypatch


def test_a_script_keeps_pytorchs_setting(clean_env):
    assert not threads.in_jupyter_kernel()
    assert threads.default_threads() is None


def test_a_kernel_leaves_one_core_free(clean_env):
    clean_env.setattr(threads, "in_jupyter_kernel", lambda: True)
    with threads.cpu_threads(2):
        assert threads.default_threads() == 1
    with threads.cpu_threads(1):
        assert threads.default_threads() == 1  # never zero
    with threads.cpu_threads(4):  # a torch.device is read like the string "cpu"
        assert threads.default_threads(torch.device("cpu")) == 3
    assert threads.default_threads("cuda") is None  # a GPU keeps PyTorch's setting


@pytest.mark.parametrize("env,expected", [({"WORKBENCH_THREADS": "3"}, 3), ({"OMP_NUM_THREADS": "2"}, None)])
def test_the_users_choice_wins_in_a_kernel(clean_env, env, expected):
    clean_env.setattr(threads, "in_jupyter_kernel", lambda: True)
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert threads.default_threads() == expected


def test_cpu_threads_restores_the_setting():
    before = torch.get_num_threads()
    with threads.cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), threads.cpu_threads(1):
        raise RuntimeError("generation failed")
    assert torch.get_num_threads() == before


def test_generation_runs_on_the_chosen_threads_and_restores_them(tiny_model, clean_env):
    seen = []
    clean_env.setenv(threads.ENV, "1")
    gen = ImageGenerator(tiny_model, progress=False)
    before = torch.get_num_threads()
    gen.generate(gen.requests("a red circle", seeds=0, steps=2),
                 callback_on_step_end=lambda pipe, step, t, kw: seen.append(torch.get_num_threads()) or kw)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before


def test_an_ipykernel_is_recognised():
    pytest.importorskip("ipykernel")
    from jupyter_client.manager import start_new_kernel

    ask = "from workbench.threads import in_jupyter_kernel; print(in_jupyter_kernel())"
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        reply = client.execute_interactive(ask, timeout=60, output_hook=_collect(out := []))
        assert reply["content"]["status"] == "ok"
        assert "".join(out).strip() == "True"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    script = subprocess.run([sys.executable, "-c", ask], capture_output=True, text=True, check=True)
    assert script.stdout.strip() == "False"


def _collect(out):
    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
    return hook


def test_clip_embeds_on_the_chosen_threads(clean_env):
    from workbench.embeddings.clip import ClipEmbedder

    clean_env.setenv(threads.ENV, "1")
    clip = ClipEmbedder(progress=False)
    seen = []
    encode = clip.model.encode_text
    clip.model.encode_text = lambda ids: seen.append(torch.get_num_threads()) or encode(ids)
    before = torch.get_num_threads()
    clip.embed_texts(["a red circle", "a blue square"])
    assert seen == [1]
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("env,inside", [(None, 2), ("1", 1)])
def test_toyworld_work_runs_on_its_measured_threads_and_gives_them_back(clean_env, tmp_path, env, inside):
    """Training, its estimate and the evaluation run on the recipe's 2 threads or on
    WORKBENCH_THREADS, and leave PyTorch's setting as they found it (a notebook that evaluates)."""
    from workbench.toyworld import evaluate, paths

    if env:
        clean_env.setenv(threads.ENV, env)
    seen = []
    clean_env.setattr(paths, "is_trained", lambda root: seen.append(torch.get_num_threads()) or False)
    with threads.cpu_threads(3):
        with pytest.raises(FileNotFoundError, match="no trained toy-world model"):
            evaluate.evaluate(model_dir=tmp_path)
        with pytest.raises(FileNotFoundError, match="no trained model"):
            train_from(tmp_path)
        assert torch.get_num_threads() == 3
    assert seen == [inside, inside]


def train_from(folder):
    from workbench.toyworld.train import train

    return train(folder / "out", second_cycle=folder)
