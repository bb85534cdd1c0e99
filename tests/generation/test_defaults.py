"""A model's own steps and guidance (generation_defaults.json): read, used unless told, recorded."""

import json
import shutil

import pytest

from workbench.cli import main
from workbench.datafile import DataFileError
from workbench.generation.defaults import (
    FILE,
    KNOWN_MODELS,
    GenerationDefaults,
    defaults_for,
    known_defaults,
    read_defaults,
    write_defaults,
)
from workbench.generation.engine import ImageGenerator
from workbench.generation.loading import load_model


@pytest.fixture(scope="module")
def model_with_defaults(tiny_model_dir, tmp_path_factory):
    """The tiny model, copied, with its own defaults: 3 steps at guidance 2.5."""
    folder = tmp_path_factory.mktemp("tiny-with-defaults") / "model"
    shutil.copytree(tiny_model_dir, folder)
    write_defaults(folder, steps=3, guidance=2.5)
    return folder


def test_a_folder_without_the_file_gets_the_workbench_defaults(tiny_model, tiny_model_dir):
    assert read_defaults(tiny_model_dir) == GenerationDefaults(25, 7.5, "")
    assert tiny_model.defaults == GenerationDefaults(25, 7.5, "")
    request = ImageGenerator(tiny_model, progress=False).requests("a red circle", seeds=0)[0]
    assert (request.steps, request.guidance) == (25, 7.5)


def test_requests_use_the_model_defaults_unless_told(model_with_defaults):
    gen = ImageGenerator(load_model(model_with_defaults, device="cpu"), progress=False)
    assert (gen.defaults.steps, gen.defaults.guidance) == (3, 2.5)
    assert gen.defaults.source.endswith(FILE)
    default, told = gen.requests("a red circle", seeds=0)[0], gen.requests("a red circle", seeds=0, guidance=9.0)[0]
    assert (default.steps, default.guidance) == (3, 2.5)
    assert (told.steps, told.guidance) == (3, 9.0)
    # The request holds the value used, so it is the same image (and store key) as asking for it outright
    explicit = gen.requests("a red circle", seeds=0, steps=3, guidance=2.5)[0]
    assert default.key("h") == explicit.key("h") != told.key("h")


def test_widgets_and_cli_start_from_the_model_defaults(model_with_defaults, tmp_path, capsys):
    from workbench.widgets.generation_state import ModifierComparisonState, VariationGridState

    assert (VariationGridState(model=str(model_with_defaults)).guidance, VariationGridState().guidance) == (2.5, 5.0)
    state = ModifierComparisonState("a red circle", model=str(model_with_defaults), steps=7)
    assert (state.steps, state.guidance) == (7, 2.5)
    assert main(["generate", "a red circle", "--seeds", "0", "--out", str(tmp_path), "--model",
                 str(model_with_defaults), "--json"]) == 0
    capsys.readouterr()
    from workbench.store.catalogue import RunStore

    (stored,) = RunStore(tmp_path / "store").images()
    assert (stored.record.request.steps, stored.record.request.guidance) == (3, 2.5)


def test_the_shipped_model_carries_the_guidance_it_is_evaluated_at():
    from workbench.toyworld import models

    assert defaults_for() == defaults_for("toyworld")
    assert (defaults_for().steps, defaults_for().guidance) == (models.INFERENCE_STEPS, models.INFERENCE_GUIDANCE)
    assert defaults_for("org/some-hub-id") == GenerationDefaults()


BAD_FILES = [
    ("unknown key", '{\n  "guidance_scale": 5,\n  "cfg": 7\n}', 3, r"unknown key 'cfg'.*num_inference_steps"),
    ("key given twice", '{\n  "guidance_scale": 5,\n  "guidance_scale": 7\n}', 2, r"'guidance_scale' is given twice"),
    ("negative guidance", '{\n  "guidance_scale": -1\n}', 2, r"guidance_scale must be a number, 0 or more"),
    ("guidance not a number", '{"guidance_scale": NaN}', 1, r"guidance_scale must be a number, 0 or more"),
    ("guidance as text", '{"guidance_scale": "high"}', 1, r"guidance_scale must be a number"),
    ("fractional steps", '{\n\n  "num_inference_steps": 2.5\n}', 3, r"num_inference_steps must be a whole number"),
    ("zero steps", '{"num_inference_steps": 0}', 1, r"from 1 to 1000"),
    ("not JSON", '{\n  "guidance_scale": 5,,\n}', 2, r"not valid JSON"),
    ("a list, not an object", '[5, 25]', 1, r"must be a JSON object"),
]


@pytest.mark.parametrize("text,line,pattern", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_defaults_file_names_file_and_line_and_stops_the_load(tmp_path, text, line, pattern):
    (tmp_path / FILE).write_text(text)
    with pytest.raises(DataFileError, match=pattern) as err:
        load_model(tmp_path, device="cpu")  # before the folder is even looked at as a model
    assert (err.value.path, err.value.line) == (str(tmp_path / FILE), line)


def test_numbers_as_json_writes_them(tmp_path):
    (tmp_path / FILE).write_text('{"num_inference_steps": 4, "guidance_scale": 1e-05}')  # json.dumps(0.00001)
    assert read_defaults(tmp_path).guidance == 1e-05
    (tmp_path / FILE).write_text('{"guidance_scale": 1E1}')
    assert read_defaults(tmp_path) == GenerationDefaults(25, 10.0, str(tmp_path / FILE))


def test_a_single_file_takes_the_defaults_of_its_config_folder(tmp_path):
    checkpoint, config = tmp_path / "model.safetensors", tmp_path / "config"
    checkpoint.write_bytes(b"")
    config.mkdir()
    assert defaults_for(checkpoint) == defaults_for(checkpoint, config) == GenerationDefaults()
    write_defaults(config, 4, 0.0)
    assert (defaults_for(checkpoint, config).steps, defaults_for(checkpoint, config).guidance) == (4, 0.0)


def test_written_defaults_read_back(tmp_path):
    path = write_defaults(tmp_path, 30, 4)
    assert json.loads(path.read_text()) == {"num_inference_steps": 30, "guidance_scale": 4.0}
    assert read_defaults(tmp_path) == GenerationDefaults(30, 4.0, str(path))


# -- hub ids: known_models.yaml stands in for the file a hub download never has --------------


def test_hub_ids_take_the_defaults_their_model_cards_give():
    turbo = defaults_for("stabilityai/sd-turbo")
    assert (turbo.steps, turbo.guidance) == (1, 0.0)
    assert turbo.source.startswith(str(KNOWN_MODELS))
    assert defaults_for("StabilityAI/SD-Turbo") == turbo  # the hub resolves ids in any case


def test_widgets_start_a_known_hub_model_at_its_defaults_without_loading_it():
    from workbench.widgets.generation_state import VariationGridState

    state = VariationGridState(model="SimianLuo/LCM_Dreamshaper_v7")
    assert (state.steps, state.guidance) == (4, 8.0)


def test_a_hub_cache_folder_is_known_by_its_id_unless_it_carries_its_own_file(tmp_path):
    snapshot = tmp_path / "hub" / "models--stabilityai--sd-turbo" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    assert defaults_for(snapshot) == defaults_for("stabilityai/sd-turbo")
    write_defaults(snapshot, 4, 0.0)
    assert read_defaults(snapshot) == defaults_for(snapshot) != defaults_for("stabilityai/sd-turbo")
    other = tmp_path / "hub" / "models--org--unknown" / "snapshots" / "0123abc"
    other.mkdir(parents=True)
    assert defaults_for(other) == GenerationDefaults()


def test_every_known_model_names_its_card():
    from workbench.datafile import entry_list, load_yaml

    top, loader = load_yaml(KNOWN_MODELS)
    entries = entry_list(top, "models", loader)
    assert len(entries) >= 3
    for entry in entries:
        assert entry.values["card"] == f"https://huggingface.co/{entry.values['hub_id']}"
        assert known_defaults(entry.values["hub_id"]).source == f"{KNOWN_MODELS}:{entry.line}"


GOOD_ENTRY = "  - hub_id: org/fast\n    num_inference_steps: 2\n"
BAD_REGISTRIES = [
    ("not a list", "models: org/fast\n", 1, r"'models' must be a list"),
    ("no models key", "model:\n" + GOOD_ENTRY, 1, r"unknown key 'model'"),
    ("unknown key", "models:\n  - hub_id: org/fast\n    cfg: 2\n", 3, r"unknown key 'cfg'.*guidance_scale"),
    ("no hub id", "models:\n  - guidance_scale: 2\n", 2, r"missing 'hub_id'"),
    ("a path, not a hub id", "models:\n  - hub_id: models/sd/turbo\n    guidance_scale: 0\n", 2,
     r"hub_id must be a hub id like 'org/name'"),
    ("listed twice", "models:\n" + GOOD_ENTRY + "  - hub_id: Org/Fast\n    guidance_scale: 0\n", 4,
     r"'Org/Fast' is listed twice \(first at .*:2\)"),
    ("sets nothing", "models:\n  - hub_id: org/fast\n    card: https://example.org\n", 2, r"sets neither"),
    ("negative guidance", "models:\n  - hub_id: org/fast\n\n    guidance_scale: -1\n", 4,
     r"guidance_scale must be a number, 0 or more"),
    ("guidance .nan", "models:\n  - hub_id: org/fast\n    guidance_scale: .nan\n", 3, r"guidance_scale must be"),
    ("steps as text", "models:\n  - hub_id: org/fast\n    num_inference_steps: four\n", 3,
     r"num_inference_steps must be a whole number"),
    ("steps yes", "models:\n  - hub_id: org/fast\n    num_inference_steps: yes\n", 3, r"not True"),
]


@pytest.mark.parametrize("text,line,pattern", [c[1:] for c in BAD_REGISTRIES], ids=[c[0] for c in BAD_REGISTRIES])
def test_bad_known_models_file_names_file_and_line(tmp_path, text, line, pattern):
    path = tmp_path / "known_models.yaml"
    path.write_text(text)
    with pytest.raises(DataFileError, match=pattern) as err:
        known_defaults("org/fast", registry=path)
    assert (err.value.path, err.value.line) == (str(path), line)
