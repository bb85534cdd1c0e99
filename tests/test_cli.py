"""The `workbench` command: output, JSON, and exit status 2 with a one-line reason on stderr."""

import json

import pytest

from workbench.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compose_prints_prompt_tokens_and_modifiers(capsys):
    code, out, _ = run(capsys, "compose", "a lighthouse", "--tag", "render_engines:octane-render", "--tag", "decades:1960s")
    assert code == 0
    assert "prompt:    a lighthouse, octane render, 1960s" in out
    assert "tokens:    11/75 tokens\n" in out  # CLIP splits "1960s" into five tokens: 1 9 6 0 s
    assert "modifiers: render_engines:octane-render, decades:1960s" in out



def test_version_is_the_package_version_and_the_distributions(capsys):
    from importlib.metadata import version

    import workbench

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"workbench {workbench.__version__}\n"
    assert workbench.__version__ == version("prompt-workbench")  # pyproject.toml says it too

@pytest.mark.parametrize("flag", ["--negative-prompt", "--negative"])
def test_compose_takes_a_negative_prompt_by_diffusers_name_or_short(capsys, flag):
    code, out, _ = run(capsys, "compose", "a lighthouse", flag, "blurry,  text")
    assert code == 0 and "negative:  blurry, text\n" in out


def test_compose_json_is_a_composition(capsys):
    from workbench.prompts import Composition

    code, out, _ = run(capsys, "compose", "a lighthouse", "--tag", "mediums:lino-cut", "--json")
    assert code == 0 and Composition.from_dict(json.loads(out)).modifiers[0].ref == "mediums:lino-cut"


@pytest.mark.parametrize("argv,message", [
    (["compose", "a castle by Greg Rutkowski"], "Greg Rutkowski"),
    (["compose", "a castle", "--tag", "decades:1961s"], "unknown tag '1961s'"),
    (["compose", ""], "subject is empty"),
    (["tags", "list", "--category", "nope"], "unknown category 'nope'"),
    (["toyworld", "train"], "needs --out DIR"),
    (["toyworld", "train", "--out", "unused", "--first-cycle", "no-such-model"],
     "no trained model in no-such-model to resume from"),
    (["toyworld", "train", "--out", "unused", "--second-cycle", "no-such-model"],
     "pass the folder of a run trained up to stage 4b"),
    (["toyworld", "train", "--out", "unused", "--first-cycle", "a", "--second-cycle", "b"], "not both"),
    (["toyworld", "sample", "--out", "sheet", "--n", "2"], "--out is the contact sheet to write, a .png file"),
    (["expand", "a {red|blue"], "does not parse at character 3"),
    (["tags", "export", "--format", "a1111", "--category", "film", "--out", "."], ".: is a directory; check the path"),
    (["toyworld", "bias-check", "--model-dir", "nowhere", "--per-role", "1"], "no trained toy-world model in nowhere"),
    (["toyworld", "bias-check", "--seeds", "100"], "bias-check counts its seeds with --per-role N (seeds 0 to N-1)"),
    (["store", "list", "--store", "x" * 300], "catalogue.sqlite: file name too long; check the path"),
    (["tags", "export", "--format", "a1111", "--category", "film", "--out", "no-folder/styles.csv"],
     "no-folder/styles.csv: no such file or directory; check the path"),  # the file asked for, not our draft
])
def test_mistakes_exit_2_with_reason_on_stderr(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("workbench: error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("argv,message", [
    (["toyworld", "sample", "--out", "s.png", "--n", "0"], "argument --n: must be 1 or more, got 0"),
    (["toyworld", "evaluate", "--prompts", "2"], "argument --prompts: must be 3 or more, got 2"),
    (["toyworld", "evaluate", "--steps", "0"], "argument --steps: must be 1 or more, got 0"),
    (["toyworld", "bias-check", "--per-role", "zero"], "argument --per-role: 'zero' is not a whole number"),
    (["expand", "{a|b}", "--random", "0"], "argument --random: must be 1 or more, got 0"),
    (["toyworld", "bias-check", "--tolerance", "-5"], "argument --tolerance: must be a number, 0 or more, got -5"),
    (["toyworld", "bias-check", "--tolerance", "nan"], "argument --tolerance: must be a number, 0 or more, got nan"),
    (["toyworld", "bias-check", "--guidance", "-2", "--world"], "argument --guidance: must be a number, 0 or more"),
    (["generate", "a fox", "--out", "o", "--guidance", "inf"], "argument --guidance: must be a number, 0 or more"),
    (["generate", "a fox", "--out", "o", "--steps", "0"], "argument --steps: must be 1 or more, got 0"),
    (["compare", "a fox", "--out", "o", "--size", "-8"], "argument --size: must be 8 or more, got -8"),
])
def test_numbers_out_of_range_are_refused_by_the_parser(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, *argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_python_m_toyworld_modules_are_the_workbench_commands(capsys):
    """`python -m workbench.toyworld.train|evaluate` run `workbench toyworld train|evaluate`:
    one parser, one set of flags and errors."""
    from workbench.toyworld import evaluate, train

    assert train.main(["--out", "unused", "--first-cycle", "no-such-model"]) == 2
    assert "no trained model in no-such-model to resume from" in capsys.readouterr().err
    assert evaluate.main(["--model-dir", "no-such-model"]) == 2
    assert "no trained toy-world model in no-such-model" in capsys.readouterr().err


def test_warn_only_composes_and_warns(capsys):
    code, out, err = run(capsys, "compose", "a castle by Greg Rutkowski", "--warn-only")
    assert code == 0 and "a castle by Greg Rutkowski" in out and "warning:" in err


def test_tags_list_by_category(capsys):
    code, out, _ = run(capsys, "tags", "list", "--category", "decades")
    assert code == 0 and out.startswith("decades") and "1960s" in out and "octane" not in out


def test_tags_import_then_use(capsys, tmp_path):
    csv = tmp_path / "styles.csv"
    csv.write_text("name,prompt,negative_prompt\nNoir,\"{prompt}, film noir\",color\n")
    code, out, _ = run(capsys, "tags", "import", str(csv), "--format", "a1111", "--category", "mine",
                       "--out", str(tmp_path / "lib"))
    assert code == 0
    code, out, _ = run(capsys, "--tags-dir", str(tmp_path / "lib"), "compose", "a street", "--tag", "mine:noir", "--json")
    assert json.loads(out)["prompt"] == "a street, film noir"
    assert json.loads(out)["negative_prompt"] == "color"


def test_a_failed_tags_import_leaves_the_folder_as_it_was(capsys, tmp_path):
    """A bad file in a tags folder would break every later load of that folder."""
    csv = tmp_path / "styles.csv"
    csv.write_text("name,prompt,negative_prompt\nNoir,film noir,\n")
    code, _, err = run(capsys, "tags", "import", str(csv), "--format", "a1111", "--category", "My Styles!",
                       "--out", str(tmp_path / "lib"))
    assert code == 2 and "category name 'My Styles!' must be lowercase letters, digits and '_' (e.g. 'my_styles')" in err
    assert not any((tmp_path / "lib").iterdir())
    assert run(capsys, "--tags-dir", str(tmp_path / "lib"), "tags", "list")[0] == 2  # empty folder: said, not skipped


@pytest.mark.parametrize("command", [
    ["tags", "import", "{new}", "--format", "wildcards", "--category", "colours", "--out", "{folder}"],
    ["tags", "export", "--format", "a1111", "--category", "decades", "--out", "{folder}/colours.yaml"],
    ["tags", "export", "--format", "yaml", "--category", "decades", "--out", "{folder}/colours.yaml"],
], ids=["import over a tag file", "export over a styles file", "export over a tag file"])
def test_tags_import_and_export_keep_an_existing_file_unless_forced(capsys, tmp_path, command):
    """The file there may be a hand-edited library, or A1111's own styles.csv: refused, then --force."""
    folder, new = tmp_path / "lib", tmp_path / "colours.txt"
    folder.mkdir()
    mine = folder / "colours.yaml"
    mine.write_text("my hand-edited tags\n")
    new.write_text("green\n")
    argv = [part.format(folder=folder, new=new) for part in command]
    code, _, err = run(capsys, *argv)
    assert code == 2 and f"{mine} already exists; write to another file, or replace it" in err
    assert mine.read_text() == "my hand-edited tags\n"
    assert run(capsys, *argv, "--force")[0] == 0
    assert mine.read_text() != "my hand-edited tags\n" and not list(folder.glob(".*draft"))


def test_toyworld_sample_keeps_notes_beside_the_sheet_unless_forced(capsys, tmp_path):
    """The captions go to FILE.txt: a file of that name is someone's, until --force."""
    notes = tmp_path / "sheet.txt"
    notes.write_text("my notes\n")
    argv = ["toyworld", "sample", "--out", str(tmp_path / "sheet.png"), "--n", "2"]
    code, _, err = run(capsys, *argv)
    assert code == 2 and f"{notes} already exists" in err
    assert notes.read_text() == "my notes\n" and not (tmp_path / "sheet.png").exists()
    code, out, _ = run(capsys, *argv, "--force")
    assert code == 0 and f"captions in {notes}" in out and len(notes.read_text().splitlines()) == 2
    assert (tmp_path / "sheet.png").read_bytes().startswith(b"\x89PNG")


def test_expand_random_is_seeded(capsys):
    _, first, _ = run(capsys, "expand", "a {red|blue|green} __decades__ house", "--random", "5", "--seed", "7")
    _, again, _ = run(capsys, "expand", "a {red|blue|green} __decades__ house", "--random", "5", "--seed", "7")
    assert first == again and len(first.splitlines()) == 5


def test_toyworld_train_quick_names_the_folder_and_its_times(capsys, tmp_path):
    code, out, _ = run(capsys, "toyworld", "train", "--out", str(tmp_path / "toy"), "--quick", "--device", "cpu")
    assert code == 0
    assert f"written to {tmp_path / 'toy'} in " in out and "unet " in out and "{" not in out
    record = json.loads((tmp_path / "toy" / "training.json").read_text())
    assert record["quick"] is True
    import torch  # what decides whether a seed gives the same weights again
    assert record["machine"]["versions"]["torch"] in (torch.__version__, torch.__version__.split("+")[0])
    assert record["machine"]["processor"] and record["machine"]["cores"] >= 1


def test_toyworld_evaluate_passes_its_options_and_prints_the_figures(capsys, monkeypatch):
    import workbench.toyworld.evaluate as evaluate

    seen = {}

    def fake(**kwargs):  # the real evaluation takes minutes; here only the command's wiring is tested
        seen.update(kwargs)
        return {"prompt_seed": kwargs["prompt_seed"], "oracle": {"colour": 0.5}}

    monkeypatch.setattr(evaluate, "evaluate", fake)
    code, out, _ = run(capsys, "toyworld", "evaluate", "--prompt-seed", "5", "--prompts", "40", "--quick")
    assert code == 0 and seen["prompt_seed"] == 5 and seen["n_prompts"] == 40 and seen["quick"] is True
    assert "prompt_seed" in out and "oracle.colour" in out and "0.500" in out
    code, out, _ = run(capsys, "toyworld", "evaluate", "--json")
    assert code == 0 and seen["prompt_seed"] is None and json.loads(out)["prompt_seed"] is None
    assert seen["misses"] is None and seen["overwrite"] is False
    code, out, err = run(capsys, "toyworld", "evaluate", "--json", "--misses", "m.png", "--force")
    assert (seen["misses"], seen["overwrite"]) == ("m.png", True) and json.loads(out)  # stdout stays JSON
    assert "the images the oracle read wrong are drawn in m.png" in err


def test_toyworld_train_estimate_prints_the_estimate_and_trains_nothing(capsys, monkeypatch, tmp_path):
    import workbench.toyworld.estimate as estimate

    monkeypatch.setattr(estimate, "estimate", lambda device=None: {"clip": 600.0, "unet": 3_400.0, "total": 4_000.0})
    code, out, _ = run(capsys, "toyworld", "train", "--estimate", "--out", str(tmp_path / "toy"))
    assert code == 0 and "66.7 min (budget 60 min)" in out and "too slow" in out
    assert not (tmp_path / "toy").exists()


@pytest.mark.parametrize("buffered", [True, False], ids=["block-buffered stdout", "PYTHONUNBUFFERED"])
@pytest.mark.parametrize("argv", [
    ["tags", "list", "--category", "decades"],  # < 8 KB: all of it waits in Python's buffer until the end
    ["expand", "a long prompt of many words, " * 4 + "{red|green|blue|white|black} __artists__", "--cap", "600"],
], ids=["short output", "more than a pipe holds"])
def test_a_reader_that_stops_early_gets_no_traceback(argv, buffered):
    """`workbench tags list | head -1`: the pipe closes while we print; we stop quietly, with the
    status of a program ended by SIGPIPE, as other command-line tools do."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    proc = subprocess.run([sys.executable, "-c", "import sys; from workbench.cli import main; sys.exit(main())",
                           *argv], stdout=write, stderr=subprocess.PIPE, env=env, timeout=60)
    os.close(write)
    err = proc.stderr.decode()
    assert proc.returncode == 141 and not err, err
