"""The catalogue of bad inputs: every one gets a clear error that names the problem and the fix.

Each row is (what the user did, how to do it, the exception, a pattern of its exact message).
Grow this table with every feature.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from workbench.datafile import DataFileError
from workbench.prompts import Policy, PolicyRefusal, TagLibrary, UnknownTagError, compose
from workbench.prompts.interchange import read_a1111_styles
from workbench.prompts.templates import expand

TAG = """category: demo
tags:
  - id: one
    label: One
    prompt: {prompt_line}
    description: A tag.
{extra}"""


def tag_file(tmp_path, text: str | bytes, name="demo.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def load(tmp_path, text):
    return TagLibrary.from_path(tag_file(tmp_path, text))


def _bias():
    import workbench.bias

    return workbench.bias


def _expander(folder):
    from workbench.prompts.templates import TemplateExpander

    return TemplateExpander(wildcard_dirs=[folder])


def _composer():
    from workbench.widgets.composer_state import ComposerState

    return ComposerState("a fox")


def _world_sampler():
    from workbench.toyworld.sampler import WorldSampler

    return WorldSampler()


@functools.cache
def _oracle():
    from workbench.toyworld.oracle import Oracle

    return Oracle()


def _touch(path):
    path.write_bytes(b"")
    return path


def _evaluate():
    from workbench.toyworld.evaluate import evaluate

    return evaluate


def _umap(**kwargs):
    from workbench.maps.projection import UMAPProjection

    return UMAPProjection(n_neighbors=3, **kwargs).fit(np.eye(5, 8))


def _map(**kwargs):
    from workbench.maps.points import MapPoints
    from workbench.maps.state import LatentMapState

    points = MapPoints.build(["a fox", "a cat", "a dog", "a hen"], np.eye(4, 8))
    return LatentMapState(points, background=False, **kwargs)


def _clip(**kwargs):
    from workbench.embeddings.clip import ClipEmbedder

    return ClipEmbedder(progress=False, **kwargs)


@functools.cache
def _toy_clip():
    return _clip()


@functools.cache
def _render_reader():
    from workbench.toyworld.render_oracle import RenderEngineOracle

    return RenderEngineOracle(scenes_per_option=5)


CASES = [
    ("empty subject", lambda t: compose("   "), ValueError,
     r"^subject is empty; describe what the image should show"),
    ("subject is not text", lambda t: compose(None), TypeError, r"^subject must be text, not NoneType"),
    ("unknown tag id", lambda t: compose("a fox", ["decades:1960"]), UnknownTagError,
     r"unknown tag '1960' in category 'decades'; did you mean 1960s"),
    ("unknown category", lambda t: compose("a fox", ["eras:1960s"]), UnknownTagError,
     r"unknown category 'eras'; categories are: "),
    ("tag without category", lambda t: compose("a fox", ["1960s"]), ValueError,
     r"tag reference '1960s' must look like CATEGORY:ID"),
    ("same tag twice", lambda t: compose("a fox", ["decades:1960s", "decades:1960s"]), ValueError,
     r"tag 'decades:1960s' is given twice"),
    ("huge prompt", lambda t: compose("fox " * 5000), ValueError,
     r"prompt is 19,999 characters; the limit is 10,000"),
    ("opted-out artist", lambda t: compose("a fox by greg rutkowski"), PolicyRefusal,
     r"'Greg Rutkowski' asked not to .*source: https://"),
    ("malformed YAML", lambda t: load(t, "category: demo\ntags:\n  - id: [unclosed\n"), DataFileError,
     r"demo.yaml:\d+: not valid YAML"),
    ("empty tag file", lambda t: load(t, ""), DataFileError, r"demo.yaml:1: file is empty"),
    ("top level is a list", lambda t: load(t, "- a\n- b\n"), DataFileError, r"demo.yaml:1: top level must be a mapping"),
    ("unknown key", lambda t: load(t, TAG.format(prompt_line="fox", extra="    colour: red\n")), DataFileError,
     r"demo.yaml:7: unknown key 'colour' in a tag; allowed keys are "),
    ("missing prompt text", lambda t: load(t, TAG.format(prompt_line='""', extra="")), DataFileError,
     r"demo.yaml:3: a tag is missing 'prompt'"),
    ("duplicate id",
     lambda t: load(t, TAG.format(prompt_line="x", extra="  - id: one\n    label: Again\n    prompt: y\n    description: d\n")),
     DataFileError, r"demo.yaml:7: duplicate tag id 'one' \(first at .*demo.yaml:3\)"),
    ("duplicate key", lambda t: load(t, TAG.format(prompt_line="x", extra="    label: Twice\n")), DataFileError,
     r"demo.yaml:7: duplicate key 'label' \(first on line 4\); keep one"),
    ("slot used twice", lambda t: load(t, TAG.format(prompt_line='"{prompt} and {prompt}"', extra="")), DataFileError,
     r"demo.yaml:5: 'prompt' uses the \{prompt\} slot 2 times; use it at most once"),
    ("misspelled slot", lambda t: load(t, TAG.format(prompt_line='"{ Prompt }, noir"', extra="")), DataFileError,
     r"demo.yaml:5: 'prompt' has a misspelled slot; write it exactly as \{prompt\}"),
    ("bad tag id", lambda t: load(t, TAG.replace("id: one", "id: One Two").format(prompt_line="x", extra="")),
     DataFileError, r"demo.yaml:3: tag id 'One Two' must be lowercase letters, digits and '-'"),
    ("non-UTF-8 file", lambda t: load(t, b"category: demo\ntags:\n  - id: caf\xe9\n"), DataFileError,
     r"demo.yaml:3: file is not UTF-8 text; re-save it with UTF-8 encoding"),
    ("missing tag folder", lambda t: TagLibrary.from_path(t / "nope"), DataFileError, r"nope: no such file or folder"),
    ("empty template", lambda t: expand("  "), ValueError, r"^template is empty"),
    ("unknown wildcard", lambda t: expand("__nope__"), ValueError, r"unknown wildcard: __nope__; known wildcards: "),
    ("template with a colour written as #ff0000", lambda t: expand("a house, color #ff0000, {red|blue} roof"),
     ValueError, r"'#' in line 1 of the template starts a comment and would drop '#ff0000, \{red\|blue\} roof'"),
    ("template with a percent sign", lambda t: expand("100% cotton {a|b}"), ValueError,
     r"'%' is template syntax \('%\{...\$\$...\}' wraps text around a prompt\), so it cannot stand as text"),
    ("template with an unclosed brace", lambda t: expand("a {red|blue"), ValueError,
     r"the template 'a \{red\|blue' does not parse at character 3 .*check that every \{ has its \}"),
    ("unknown wildcard with a dot", lambda t: expand("a __film.stocks__ house"), ValueError,
     r"unknown wildcard: __film\.stocks__; known wildcards: "),
    ("wildcard pattern that matches none", lambda t: expand("a __nope*__ house"), ValueError,
     r"a wildcard pattern that matches none: __nope\*__; known wildcards: "),
    ("style with neither prompt nor negative", lambda t: read_a1111_styles(tag_file(t, "name,prompt,negative_prompt\nPlain,,\n",
                                                                                     "s.csv")),
     DataFileError, r"s.csv:2: style 'Plain' has neither prompt nor negative text"),
    ("A1111 csv without prompt column", lambda t: read_a1111_styles(tag_file(t, "name,style\na,b\n", "s.csv")),
     DataFileError, r"s.csv:1: missing column\(s\) prompt; an A1111 styles.csv starts with `name,prompt,negative_prompt`"),
    ("policy file of unknown kind", lambda t: Policy().add_path(tag_file(t, "kind: allow\nentries: []\n", "p.yaml")),
     DataFileError, r"p.yaml:1: kind must be 'opt_out' or 'blocklist', not 'allow'"),
    ("opt-out without a source", lambda t: Policy().add_path(tag_file(
        t, "kind: opt_out\nentries:\n  - name: A B\n    date: 2024-01-01\n", "p.yaml")),
     DataFileError, r"p.yaml:3: an opt-out entry is missing 'source'"),
    ("policy folder with no lists", lambda t: Policy().add_path(t), DataFileError,
     r"no \*\.yaml or \*\.yml policy lists in this folder; check the path"),
    ("opt-out aliases that are not a list", lambda t: Policy().add_path(tag_file(
        t, "kind: opt_out\nentries:\n  - name: A B\n    aliases: 5\n    source: s\n    date: 2024-01-01\n", "p.yaml")),
     DataFileError, r"p.yaml:4: 'aliases' must be a list of names, e.g. \[rutkowski"),
    ("opt-out alias left empty", lambda t: Policy().add_path(tag_file(
        t, "kind: opt_out\nentries:\n  - name: A B\n    aliases: [ab, ~]\n    source: s\n    date: 2024-01-01\n", "p.yaml")),
     DataFileError, r"p.yaml:4: 'aliases' must be a list of names"),
    ("impossible date in a data file", lambda t: Policy().add_path(tag_file(
        t, "kind: opt_out\nentries:\n  - name: A B\n    source: s\n    date: 2024-13-01\n", "p.yaml")),
     DataFileError, r"p.yaml:5: cannot read this value \(month must be in 1..12\); put it in quotes"),
    ("unknown YAML tag in a data file", lambda t: load(t, TAG.format(prompt_line="!color red", extra="")),
     DataFileError, r"demo.yaml:5: cannot read this value \(could not determine a constructor for the tag '!color'\)"),
    ("artist year given as yes/no", lambda t: load(t, TAG.format(prompt_line="x", extra="    born: true\n")),
     DataFileError, r"demo.yaml:7: 'born' must be a year such as 1859"),
    ("policy mode misspelled", lambda t: Policy(mode="warning"), ValueError, r"policy mode must be 'refuse' or 'warn'"),
    ("bias probe given one role as text", lambda t: _bias().BiasProbe("doctor").prompts(), TypeError,
     r"roles must be a list, e.g. \['doctor', 'nurse'\], not the single text 'doctor'"),
    ("bias probe template without its role", lambda t: _bias().BiasProbe(["doctor"], template="a photo").prompts(),
     ValueError, r"template 'a photo' has no \{role\}; write it like 'a photo of a \{role\}'"),
    ("bias probe template with a misspelt placeholder",
     lambda t: _bias().BiasProbe(["doctor"], template="a {role} by {Role}").prompts(), ValueError,
     r"template 'a \{role\} by \{Role\}' has a placeholder other than \{role\}: 'Role'"),
    ("bias check on a colour the reader never reports",
     lambda t: _bias().toy_world_check(None, value="green", roles=["doctor"]), ValueError,
     r"value 'green' is not a colour the figure reader reports; choose from \['blue', 'red'\]"),
    ("template that is not text", lambda t: expand(5), TypeError, r"template must be text, not int"),
    ("a fractional number of random prompts", lambda t: expand("{a|b}", "random", 2.5), ValueError,
     r"n must be a whole number, not 2.5"),
    ("wildcard file given for its folder", lambda t: _expander(tag_file(t, "red\n", "colours.txt")),
     NotADirectoryError, r"colours.txt is a file; pass the folder that holds it \(.*\), whose .txt files are"),
    ("modifiers given as one text", lambda t: compose("a fox", "decades:1960s"), TypeError,
     r"tags must be a list, e.g. \['decades:1960s'\], not the single text 'decades:1960s'"),
    ("negative prompt as None", lambda t: compose("a fox", [], None), TypeError,
     r"negative_prompt must be text \(empty for none\), not NoneType"),
    ("composer picks given as one text", lambda t: _composer().pick("decades", "1960s"), TypeError,
     r"ids must be a list, e.g. \['1960s', '1980s'\], not the single text '1960s'"),
    ("composer options of a misspelt category", lambda t: _composer().options("decade"), UnknownTagError,
     r"unknown category 'decade'; did you mean decades\? categories are: "),
    ("reader check with one label list shorter than the other",
     lambda t: _bias().agreement(["red", "blue"], ["red"]), ValueError,
     r"got 2 labels read and 1 to check them against; give one per image"),
    ("training timesteps misspelt", lambda t: __import__("workbench.toyworld.recipe").toyworld.recipe.TrainConfig(
        timesteps="lognormal"), ValueError, r"timesteps must be one of uniform, logit_normal, not 'lognormal'"),
    ("bias probe without roles", lambda t: _bias().BiasProbe([]).prompts(), ValueError,
     r"^the probe needs at least one role, e\.g\. roles=\['doctor', 'nurse'\]"),
    ("bias probe with a seed given twice", lambda t: _bias().BiasProbe(["doctor"], seeds=[7, 7]).run(None, None),
     ValueError, r"seed\(s\) 7 are given more than once; each image must count once"),
    ("bias chart before the probe ran", lambda t: _bias().BiasProbe(["doctor"]).figure(), RuntimeError,
     r"the probe has no results yet; run it first"),
    ("CLIP given an array instead of a picture", lambda t: _toy_clip().embed_images([np.zeros((64, 64, 3))]),
     TypeError, r"images\[0\] is ndarray; give PIL images: Image.open\(path\)"),
    ("evaluation on the render reader's own fitting seed", lambda t: _evaluate()(prompt_seed=424242), ValueError,
     r"--prompt-seed 424242 is the seed the render-engine reader is fitted on, so it is not an independent sample"),
    ("map epochs given as True", lambda t: _umap(n_epochs=True), ValueError,
     r"n_epochs must be a positive whole number \(or None for \d+\), got True"),
    ("map random state given as text", lambda t: _umap(random_state="42"), ValueError,
     r"random_state must be None \(a new layout each fit, on every core\) or a whole number from 0 to 2\*\*32 - 1"),
    ("map random state given as True, before any fit", lambda t: _map(random_state=True), ValueError,
     r"random_state must be None .* got True"),
    ("map spacing given as text", lambda t: _umap(min_dist="0.1x"), ValueError,
     r"min_dist must be a number between 0 and 1, got '0.1x'"),
    ("map of prompts with its spacing given as text", lambda t: _map(min_dist="abc"), ValueError,
     r"min_dist must be a number between 0 and 1, got 'abc'"),
    ("map of prompts with neighbours given as text", lambda t: _map(n_neighbors="15"), ValueError,
     r"n_neighbors must be a whole number of at least 2, got '15'"),
    ("map of prompts in four dimensions", lambda t: _map(n_components=4), ValueError,
     r"n_components must be 2 or 3 for a map, got 4"),
    ("CLIP weights without a model", lambda t: _clip(pretrained="x.pt"), ValueError,
     r"pretrained='x.pt' names weights for an open_clip model, but no model"),
    ("CLIP given a missing prompt", lambda t: _toy_clip().embed_texts(["a fox", None]), TypeError,
     r"texts\[1\] is NoneType; give text \(str\) only"),
    ("bias check on a role the toy world lacks", lambda t: _bias().toy_world_check(None, roles=["pilot"]), ValueError,
     r"\['pilot'\] are not toy-world roles; choose from \['ceo', 'doctor'"),
    ("world sampler with an empty prompt", lambda t: _world_sampler().requests(""), ValueError,
     r"^prompt is empty; describe a toy-world scene"),
    ("render-engine reader given grey pictures", lambda t: _render_reader().read_many(np.zeros((2, 64, 64), np.uint8)),
     ValueError, r"expects a stack of RGB pictures \(N, H, W, 3\), got shape \(2, 64, 64\); for one"),
    ("render-engine reader given one grey picture", lambda t: _render_reader().read(np.zeros((64, 64), np.uint8)),
     ValueError, r"read expects one RGB picture \(H, W, 3\), got shape \(64, 64\); convert PIL images"),
    ("render-engine reader given pictures in [0, 1]", lambda t: _render_reader().read(np.zeros((64, 64, 3))),
     TypeError, r"reads uint8 pictures \(0-255\), got float64; convert pipeline output in \[0, 1\] with"),
    ("world oracle given a picture of another size", lambda t: _oracle().read(np.zeros((128, 128, 3), np.uint8)),
     ValueError, r"Oracle.read reads the world's 64x64 pictures, got 128x128; resize with im.resize\(\(64, 64\)\)"),
    ("world oracle given pictures in [0, 1]", lambda t: _oracle().read(np.zeros((64, 64, 3))), TypeError,
     r"Oracle.read reads uint8 pictures \(0-255\), got float64"),
    ("toy-world evaluation with a negative prompt seed", lambda t: _evaluate()(prompt_seed=-1), ValueError,
     r"prompt_seed \(--prompt-seed\) must be 0 or more, got -1"),
    ("toy-world evaluation with infinite guidance", lambda t: _evaluate()(guidance=float("inf")), ValueError,
     r"guidance \(--guidance\) must be a number, 0 or more \(1 turns classifier-free guidance off\), not inf"),
    ("toy-world evaluation with 2.5 steps", lambda t: _evaluate()(steps=2.5), ValueError,
     r"steps \(--steps\) must be a whole number from 1 to 1000, not 2.5"),
    ("toy-world evaluation drawing its misses into a JPEG", lambda t: _evaluate()(misses=t / "misses.jpg"), ValueError,
     r"misses \(--misses\) is the picture to write, a .png file such as misses.png; got .*misses.jpg"),
    ("toy-world evaluation drawing its misses over a file", lambda t: _evaluate()(misses=_touch(t / "m.png")),
     FileExistsError, r"m.png already exists; write to another file, or replace it with overwrite=True"),
    ("toy-world evaluation without render scenes", lambda t: _evaluate()(render_scenes=0), ValueError,
     r"render_scenes must be 1 or more, got 0; the render-engine probe needs at least one scene"),
]


@pytest.mark.parametrize("action,error,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(tmp_path, action, error, pattern):
    with pytest.raises(error, match=pattern):
        action(tmp_path)



def test_numpy_integers_pass_where_a_whole_number_is_asked(tmp_path):
    """Counts often come out of NumPy (np.arange, a shape, a sum): they pass every whole-number
    check as ints do (a template's n and a map's limit were refused), and give the same result."""
    from workbench.maps.points import points_from_store
    from workbench.store.catalogue import RunStore

    assert expand("a {red|blue|green} fox", n=np.int64(2)) == expand("a {red|blue|green} fox", n=2)
    with RunStore(tmp_path / "store") as store, pytest.raises(ValueError, match="has no images to map"):
        points_from_store(store, clip=object(), limit=np.int64(3))  # past the limit check, to the empty store
