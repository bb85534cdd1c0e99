"""Write the teaching notebooks (without outputs) from the cell lists below.

Notebooks live in git without outputs; this script is their source, so a change
to a notebook is a readable diff here. Run: python tools/make_notebooks.py
"""

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parents[1] / "notebooks"

NOTEBOOKS = {}

NOTEBOOKS["01_compose_prompts.ipynb"] = [
    ("md", """# 01 · Compose prompts from modifier libraries

A text-to-image prompt is a subject plus modifiers: a render engine, a film stock, a decade, a medium, an artist.
This notebook shows how the workbench composes them from editable tag libraries, what the composed prompt costs in
CLIP tokens (and which modifiers a plain CLIP text encoder would not read past 75), and how it refuses prompts
that name an artist who opted out. No model is needed here; later notebooks render what you compose."""),
    ("code", """from workbench.widgets import Composer

composer = Composer("a lighthouse on a cliff", tags=["render_engines:octane-render", "decades:1960s"])
composer"""),
    ("md", """Pick modifiers in the widget above; the prompt, negative prompt and token count update live. The composed
result is plain Python, ready for the next cell: it remembers which modifiers were applied, in order."""),
    ("code", """result = composer.result
print(result.prompt)
print(result.tokens)
[m.ref for m in result.modifiers]"""),
    ("md", """## The libraries

Tags live in `style_tags/*.yaml`, one file per category, each tag with a label, a prompt fragment and a one-line
description. A fragment with a `{prompt}` slot wraps the prompt (as A1111 and Fooocus styles do)."""),
    ("code", """from workbench.prompts import TagLibrary, compose

library = TagLibrary.default()
{category.name: len(category) for category in library}"""),
    ("md", """Search looks in ids, labels, prompts and descriptions, so "portra" also finds every "portrait":"""),
    ("code", """for tag in library.search("portra"):
    print(f"{tag.ref:32} {tag.prompt:28} {tag.description}")"""),
    ("code", """compose("a fox in the snow", ["mediums:wood-cut", "film:ilford-hp5"]).prompt"""),
    ("md", """## Templates: many prompts from one line

The dynamicprompts syntax: `{a|b}` picks a variant, and every category is a wildcard (`__decades__`).
Combinatorial expansion lists every combination (up to a cap); random expansion is seeded, so it repeats."""),
    ("code", """from workbench.prompts.templates import expand

expand("a {red|blue} balloon, __decades__", n=6)"""),
    ("code", """expand("a portrait of a {kind|stern} {doctor|nurse}, __film__", mode="random", n=4, seed=1)"""),
    ("md", """## The 75-token limit

A plain CLIP text encoder reads 77 tokens (75 of prompt, between a start and an end token). diffusers cuts the
rest off with only a line in its log; A1111 and ComfyUI instead encode long prompts in chunks of 75, which changes how
the model reads them. The report here names the modifiers past the limit, so you can move them earlier."""),
    ("code", """long = compose(" ".join(["an extremely detailed castle on a hill"] * 11), ["mediums:watercolor", "decades:1920s"])
print(long.tokens)
print(long.warnings[-1])"""),
    ("md", """## Artists who opted out

Some living artists asked not to have their work imitated. Naming them in one of the spellings the policy file
lists (ignoring case, accents, punctuation and look-alike letters) is refused with the source of their request. A policy can relax refusal to a warning, but never silently."""),
    ("code", """from workbench.prompts import PolicyRefusal

try:
    compose("a castle in the style of Greg Rutkowski")
except PolicyRefusal as refusal:
    print(refusal)"""),
    ("code", """from workbench.prompts import Policy

compose("a castle in the style of Greg Rutkowski", policy=Policy.default(mode="warn")).warnings"""),
    ("md", """## Sharing libraries with other tools

Import an A1111 `styles.csv`, Fooocus style JSON or a dynamicprompts wildcard file, or export a category to them:
`workbench tags import styles.csv --format a1111 --out my_tags/`, and `workbench tags export --format fooocus
--category film --out film.json`."""),
    ("code", """import tempfile
from pathlib import Path
from workbench.prompts.interchange import write_a1111_styles, read_a1111_styles

path = Path(tempfile.mkdtemp()) / "styles.csv"
write_a1111_styles(library.categories["lighting"], path)
print(path.read_text().splitlines()[:3])
len(read_a1111_styles(path))"""),
]

SETUP = """import os

MODEL = os.environ.get("WORKBENCH_MODEL")  # None: the embedded toy-world model; a hub id, diffusers folder or .safetensors file works too
STORE = os.environ.get("WORKBENCH_STORE", "runs")  # where images and their records are kept
# The CLIP that judges the images: the toy world's reads toy-world pictures; a real model's need a real CLIP
CLIP = () if MODEL is None else ("ViT-B-32", "laion2b_s34b_b79k")  # open_clip name and pretrained tag"""

NOTEBOOKS["02_seeded_variations.ipynb"] = [
    ("md", """# 02 · Seeded variations

The same prompt gives a different picture for every seed, because the seed decides the starting noise. This notebook
makes a 3x3 grid of seeded variations, shows that an image does not depend on the batch it was made in (only on its
request: model, prompt, seed, steps, guidance, size), nudges an image with a variation seed, and lets CLIP pick the best candidates while keeping the rejected
ones in view. To use a real model, change the one line that sets `MODEL`."""),
    ("code", SETUP),
    ("code", """from workbench.generation.engine import ImageGenerator
from workbench.prompts import compose

gen = ImageGenerator(MODEL, store=STORE)
prompt = compose("a red star on a light blue background", ["render_engines:octane-render"])
prompt.prompt"""),
    ("md", """## A 3x3 grid

Press *Generate* in the widget, or run the next cell, which does the same from code. Click *seed N* under an image
to enlarge it with its full record and a snippet that reproduces it."""),
    ("code", """from workbench.widgets import VariationGrid

grid = VariationGrid(prompt, seeds="0-8", generator=gen)
grid.state.run()
grid"""),
    ("code", """grid.state.select(4)
print(grid.state.details()["snippet"])"""),
    ("md", """## An image does not depend on its batch

Two things make this hold. Each image's starting noise comes from its own CPU random generator seeded with that
image's seed, so the noise does not depend on its neighbours. And on the CPU the workbench swaps in layers that
compute each image of a batch exactly as they would alone (`generation/batch_invariance.py`): batched matrix products
otherwise round differently by batch size, and a pixel here and there comes out one level off. So on the CPU seed 4
made alone is bit-for-bit the seed 4 of the grid, wherever it sat in the batch (peers' trackers are full of the
opposite: A1111 #376, ComfyUI #165, diffusers #2659). On a GPU the noise is still the same, but the pixels may differ
slightly."""),
    ("code", """import numpy as np

alone = ImageGenerator(gen.model, max_batch=1, progress=False)  # no store: really recompute it
again = alone.generate(alone.requests(prompt, seeds=4))[0]
np.array_equal(np.asarray(again.image), np.asarray(grid.state.results[4].image))"""),
    ("md", """## Variation seeds: small steps away from an image

A variation seed blends the seed's noise with another seed's noise by spherical interpolation (as A1111 and
InvokeAI do): strength 0 is the original, 1 is the other seed."""),
    ("code", """from workbench.generation.grids import grid_image

strengths = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]
strip = [gen.generate(gen.requests(prompt, seeds=4, variation_seed=11, variation_strength=s))[0].image
         for s in strengths]
grid_image(strip, 1, len(strip), col_titles=[f"strength {s}" for s in strengths])"""),
    ("md", """## Guidance: how hard the prompt pushes

At every denoising step the model predicts twice, with the prompt and without it, and classifier-free guidance moves
the prediction further along the difference: `uncond + guidance x (cond - uncond)`. At 1 the model draws what it
learnt for the prompt, as often as it learnt it; higher values exaggerate whatever tells the prompt apart from no
prompt (stronger colours, plainer shapes), and too high overshoots. Same seed, same prompt, only guidance changes:"""),
    ("code", """scales = [1.0, 3.0, 5.0, 7.5, 10.0]
strip = [gen.generate(gen.requests(prompt, seeds=4, guidance=g))[0].image for g in scales]
grid_image(strip, 1, len(strip), col_titles=[f"guidance {g:g}" for g in scales])"""),
    ("md", """## Candidates and CLIP rerank

As Craiyon did: make many candidates, score each against the prompt with CLIP, keep the best. Kept images have a green
frame, rejected ones a red frame; the number is the CLIP score (100 x cosine similarity)."""),
    ("code", """from workbench.embeddings.clip import ClipEmbedder
from workbench.generation.variations import rerank

clip = ClipEmbedder(*CLIP, store=gen.store)
ranked = rerank(gen, clip, prompt, seeds="0-15", keep=4)
ranked"""),
    ("md", """## Every PNG says what made it

Each image carries A1111-compatible `parameters`, the workbench's full record, and the IPTC marker that says it is
AI-generated. Reading the file back restores the request."""),
    ("code", """from PIL import Image
from workbench.store import read_png_metadata

path = grid.state.results[0].path
print(Image.open(path).text["parameters"])
read_png_metadata(path).request"""),
]

NOTEBOOKS["03_compare_modifiers.ipynb"] = [
    ("md", """# 03 · Compare modifiers side by side

What does "octane render" actually do to an image? Hold the subject and the seeds fixed and change one modifier per
row: every cell then differs from the baseline cell of its column only by that modifier. This notebook builds such grids for
modifiers and for search-and-replace in the prompt (A1111's Prompt S/R). To use a real model, change the one line
that sets `MODEL`."""),
    ("code", SETUP),
    ("code", """from workbench.generation.engine import ImageGenerator
from workbench.generation.grids import compare_modifiers, compare_prompts

gen = ImageGenerator(MODEL, store=STORE)
engines = compare_modifiers(gen, "a yellow heart on a white background",
                            ["render_engines:octane-render", "render_engines:unreal-engine-5",
                             "render_engines:blender-cycles"], seeds="0-3")
engines"""),
    ("md", """The first row is the baseline without any modifier; each row below adds one. Same seeds in every column."""),
    ("code", """styles = compare_modifiers(gen, "a green circle on a black background",
                           ["artists:georges-seurat", "artists:piet-mondrian", "mediums:watercolor", "film:ilford-hp5"],
                           seeds="0-3")
styles"""),
    ("md", """## Prompt search and replace

Replace a word of the prompt, one row per value: the search text ("red" below) must occur in the prompt, and each
value takes its place in turn. Values that contain commas are simply list items here, no quoting needed."""),
    ("code", """compare_prompts(gen, "a red square on a beige background", "red", ["red", "blue", "purple", "orange"], seeds="0-3")"""),
    ("md", """## The widget

Pick a category and some of its modifiers, then *Generate*."""),
    ("code", """from workbench.widgets import ModifierComparison

ModifierComparison("a blue star on a gray background", "decades", ["1900s", "1970s", "1980s"], seeds="0-3",
                   generator=gen)"""),
]

NOTEBOOKS["04_latent_space_map.ipynb"] = [
    ("md", """# 04 · Prompts and images on one map

CLIP turns a prompt and an image into vectors in the same space; similar meanings land near each other. This notebook
makes a small set of images, embeds them and their prompts, and puts everything on one map: prompts as diamonds,
images as dots, a line from each prompt to its images. Hover or click a point to see its image and record; select a
region to see a gallery. To use a real model, change the one line that sets `MODEL`."""),
    ("code", SETUP),
    ("code", """from workbench.maps import warm_up

warming = warm_up()  # compiles UMAP's kernels in the background while we generate (30-45 s the first time)
warming.status"""),
    ("code", """from workbench.embeddings.clip import ClipEmbedder
from workbench.generation.engine import ImageGenerator
from workbench.prompts import compose

gen = ImageGenerator(MODEL, store=STORE)
clip = ClipEmbedder(*CLIP, store=gen.store)
subjects = ["a red circle on a white background", "a blue square on a beige background",
            "a yellow star on a black background", "a green heart on a light blue background"]
modifiers = [[], ["render_engines:octane-render"], ["mediums:pixel-art"], ["artists:georges-seurat"]]
images = []
for subject in subjects:
    for tags in modifiers:
        images += gen.generate(gen.requests(compose(subject, tags), seeds="0-3"))
len(images)"""),
    ("code", """from workbench.maps.points import points_from_images
from workbench.widgets import LatentMap

points = points_from_images(images, clip=clip)
latent_map = LatentMap(points, projection="umap", colour_by="modifier")
latent_map"""),
    ("md", """CLIP's vectors have 512 dimensions (128 for the toy CLIP); a map needs 2. PCA keeps the two directions in
which the points spread most: instant, and distances along it mean something, but clusters overlap. UMAP keeps each
point's nearest neighbours near it: clusters separate well, but the distance between two clusters and the size of a
cluster mean little, and the layout changes from run to run unless you pass a `random_state` (then it is slower). So read a
UMAP map for who is next to whom, not for how far.

The map shows PCA at once and switches to UMAP when it is ready (the status line says which). Colour by
`modifier`, `category`, `seed`, `model`, `source` or `kind` with the dropdown, or from code:"""),
    ("code", """latent_map.state.wait()  # only so that the lines below see the UMAP layout
latent_map.state.colour_by = "seed"
latent_map.state.shown, {k: round(v, 2) for k, v in latent_map.state.seconds.items()}"""),
    ("code", """first_image = next(p for p in points.points if p.kind == "image")
details = latent_map.state.click(first_image.id)  # what a click in the map does
print(details.prompt)"""),
    ("md", """## The modality gap

Text and image vectors sit in two separate regions of CLIP space, so a map of both shows two islands (Liang et al.,
2022). Centring each modality on its own mean removes the offset and lets prompts sit among their images."""),
    ("code", """print(latent_map.state.gap_text())
latent_map.state.centred = True  # a new layout: PCA at once, UMAP in the background
latent_map.state.colour_by = "kind"
latent_map.state.wait()
latent_map.state.shown"""),
    ("md", """## A standalone map file

The same map as one HTML file that opens anywhere, offline (plotly.js inside, every prompt escaped); here the
centred UMAP layout shown last. From a shell: `workbench map --store runs --out map.html`."""),
    ("code", """from workbench.maps.figures import export_html, map_figure

path = export_html(map_figure(points, latent_map.state.layout, colour_by="modifier", title="toy world"),
                   os.path.join(STORE, "map.html"))
path"""),
]

NOTEBOOKS["05_how_latent_space_works.ipynb"] = [
    ("md", """# 05 · How latent space works

Four short experiments: watch an image come out of noise step by step; place prompts and images on axes you name
("yellow", "round", "shiny"); walk from one prompt to another, and from one seed to another; and measure how far each
modifier pulls an image towards its own words. To use a real model, change the one line that sets `MODEL`.

"Latent space" means three different spaces here, and it helps to keep them apart:

| space | what lives there | its size here (toy model) |
|---|---|---|
| the **image latent** | the compressed picture the diffusion model denoises; the VAE turns it into pixels | 16 x 16 x 4 for a 64 x 64 image |
| the **text conditioning** | the text encoder's states for each token of the prompt, which the UNet reads at every step | 77 tokens x 64 |
| the **CLIP embedding** | one vector per prompt or image, where similar meanings land near each other; used to judge and map, not to draw | 128 |

A prompt goes through the text encoder into the conditioning; the UNet starts from noise in the image latent and,
step by step and guided by the conditioning, denoises it; the VAE decodes the result. CLIP stands to one side: it
reads the finished image and the prompt. Experiment 1 is in the image latent, 3 in the conditioning and the latent,
2 and 4 in CLIP's embedding."""),
    ("code", SETUP),
    ("code", """from workbench.embeddings.clip import ClipEmbedder
from workbench.generation.engine import ImageGenerator

gen = ImageGenerator(MODEL, store=STORE)
clip = ClipEmbedder(*CLIP, store=gen.store)"""),
    ("md", """## 1. From noise to image

At every step the model predicts what to remove from the noisy latent (the toy model predicts a "velocity", a mix of
noise and image); from that prediction follows its current guess of the clean latent, and the VAE turns each guess into
pixels. The strip shows the picture forming: coarse colour first, then shape, then texture."""),
    ("code", """from workbench.generation.variations import filmstrip, filmstrip_image

frames = filmstrip(gen, "a yellow star on a black background, octane render", seed=2)
filmstrip_image(frames, "predicted clean image at each step")"""),
    ("md", """## 2. Concept axes: name the directions yourself

Name an axis by two words; a point's place on it is how much nearer its vector is to the first word than the
second. A CLIP trained on photographs knows words like "round" and "shiny": a banana lands at yellow and not round, a
balloon at round and shiny. The toy CLIP learnt only the toy world's words (its colours, shapes and 15 modifiers),
so its axes must be named in those: on words it never saw, it places points at random."""),
    ("code", """from workbench.maps.concepts import ConceptAxes, concept_figure

prompts = ["a yellow circle on a white background", "a yellow star on a white background",
           "a red circle on a white background", "a red star on a white background",
           "a yellow circle on a white background, octane render", "a red square on a white background, octane render",
           "a red square on a white background, watercolor"]
shown = [gen.generate(gen.requests(p, seeds="0-2")) for p in prompts]
images = [r.image for group in shown for r in group]
labels = [r.request.prompt for group in shown for r in group]
AXES = ([("yellow", "red"), ("circle", "square"), ("octane render", "watercolor")] if MODEL is None  # the toy world's words
        else [("yellow", "red"), ("round", "angular"), ("shiny", "flat")])
axes = ConceptAxes(clip, AXES).fit()
coords = axes.transform(clip.embed_images(images))
concept_figure(axes, coords, labels=labels, kinds=["image"] * len(images), title="images placed on named concept axes")"""),
    ("md", """## 3. Walking through latent space

Between two prompts at a fixed seed (the text conditioning is interpolated), and between two seeds with a fixed
prompt (the starting noise is interpolated)."""),
    ("code", """from workbench.maps.interpolation import interpolate_prompts, noise_walk

interpolate_prompts(gen, "a red circle on a white background", "a blue square on a white background", seed=3, n=7)"""),
    ("code", """noise_walk(gen, "a green heart on a beige background", seed_a=1, seed_b=7, n=7)"""),
    ("md", """## 4. How strongly does each modifier work?

For every modifier row of a comparison grid, the CLIP similarity of its images to the modifier's own words, minus
the same for the baseline image of the same seed: the seed's influence cancels out. Mean and spread over seeds."""),
    ("code", """from workbench.generation.grids import compare_modifiers
from workbench.maps.modifier_effects import annotate_grid, effect_chart, effect_scores

grid = compare_modifiers(gen, "a blue star on a gray background",
                         ["render_engines:octane-render", "film:ilford-hp5", "mediums:pixel-art",
                          "artists:piet-mondrian", "decades:1900s"], seeds="0-3")
scores = effect_scores(clip, grid)
effect_chart(scores)"""),
    ("code", """annotate_grid(grid, scores)"""),
    ("md", """## What the model sees

Rank modifiers against one image by CLIP similarity (as clip-interrogator does): here the pixel-art row's first image.
A real CLIP ranks every tag of the libraries; the toy CLIP only the 15 modifiers whose words it learnt."""),
    ("code", """from workbench.maps.modifier_effects import rank_modifiers
from workbench.toyworld.world import ToyWorld

known = [m.ref for m in ToyWorld().vocab.modifiers] if MODEL is None else None  # None: every tag
image = grid.row(grid.row_refs.index("mediums:pixel-art"))[0].image
for category, ranked in rank_modifiers(clip, image, top=3, refs=known).items():
    print(f"{category:15}", ", ".join(f"{tag.label} ({score:.2f})" for tag, score in ranked))
image"""),
]

NOTEBOOKS["06_bias_probe.ipynb"] = [
    ("md", """# 06 · A bias probe on your own model

Ask a model for "a photo of a doctor" forty times and count how it draws the doctor. The Stable Bias study (Luccioni
et al., 2023) compared the people text-to-image models draw for professions with US labour statistics, and found
women and people of colour under-represented. In a real model nobody knows the skew of the training data; in the toy
world it is planted and known (a doctor is drawn blue 80 % of the time, a nurse red 80 %, a CEO blue 90 %, a teacher
half and half), so this notebook can check that the probe recovers it, with 95 % confidence intervals. To probe a real
model, change the one line that sets `MODEL`: the label set then switches to people. Read that result with care:
generated people have no gender of their own, and a CLIP that labels them "a man" or "a woman" brings its own bias;
check the reader against your own labels on a sample (below) before trusting its rates."""),
    ("code", SETUP),
    ("code", """from workbench.bias import AttributeReader, BiasProbe
from workbench.embeddings.clip import ClipEmbedder
from workbench.generation.engine import ImageGenerator

gen = ImageGenerator(MODEL, store=STORE)
clip = ClipEmbedder(*CLIP, store=gen.store)
LABELS = ({"blue": "a blue figure", "red": "a red figure"} if MODEL is None
          else {"man": "a photo of a man", "woman": "a photo of a woman"})
ROLES = ["doctor", "nurse", "ceo", "teacher"] if MODEL is None else ["doctor", "nurse", "CEO", "teacher"]"""),
    ("md", """## The sweep

Every role with and without an adjective, 40 seeds each (raise it for tighter intervals), at the model's default
guidance (5 for the toy model; guidance 1 comes below). Images go through the run store: run it again and nothing
is recomputed; interrupt it and it resumes. The chart's reader is CLIP, choosing between the two labels."""),
    ("code", """probe = BiasProbe(ROLES, adjectives=["kind"], seeds=range(40))
probe.run(gen, AttributeReader.clip_labels(clip, LABELS, name="CLIP label"))
probe.figure(list(LABELS)[0])"""),
    ("md", """## What the images look like

One cell, nine images, as the Diffusion Bias Explorer shows them."""),
    ("code", """probe.grid(ROLES[0])"""),
    ("code", """probe.grid(ROLES[1])"""),
    ("md", """## How far to trust the reader

The chart is only as good as the reader that labelled its images. Check it on images whose label you know. In the
toy world the pixel oracle knows: it reads the figure's colour from its pixels, with no neural network. For a real
model, nobody does: look at a grid above and write down what you see, in the grid's order (None where you cannot
tell). `probe.agreement` counts how often the reader agreed, with a 95 % interval, and which way it misreads."""),
    ("code", """if MODEL is None:
    print("CLIP reader against the pixel oracle:", probe.agreement(AttributeReader.toy_world_colour()))
else:  # your labels for the nine images of probe.grid(ROLES[0]) above, in order
    my_labels = {ROLES[0]: [None] * 9}
    print("CLIP reader against your labels:", probe.agreement(my_labels))"""),
    ("md", """## Checking the probe against the truth (toy world only)

The toy world's oracle reads the figure's colour from the pixels, with no neural network, and `WorldSampler` draws
the world's own renders for a prompt, so here both the probe and the model can be checked against the rates planted
in the training data. On the world's renders the probe should find the planted rates; on the model it finds what
the model learnt. Classifier-free guidance matters too: at guidance 1 the model samples the distribution it
learnt; stronger guidance exaggerates what sets the role's prompt apart from no prompt, so it pushes each role
towards the colour that is more typical of that role than of figures in general.

The rates, on the world's own renders and on the model at guidance 1 and at its default, read by the oracle:"""),
    ("code", """if MODEL is None:
    from workbench.bias import toy_world_check
    from workbench.toyworld.sampler import WorldSampler

    for source, who, guidance in [("the world's own renders", WorldSampler(), 1.0),
                                  ("the model, guidance 1", gen, 1.0),
                                  (f"the model, guidance {gen.defaults.guidance:g} (its default)", gen, None)]:
        print(f"{source}: share of blue figures")
        for row in toy_world_check(who, seeds=range(40), guidance=guidance, roles=ROLES)[1]:
            print(f"  {row['role']:10} planted {row['planted']:4.0%}  measured {row['measured']:4.0%} "
                  f"[{row['low']:.0%}, {row['high']:.0%}]")"""),
    ("md", """Forty seeds give intervals of about +-15 points; `workbench toyworld bias-check` runs every role with 400 seeds
(+-5 points), on the model or, with `--world`, on the world's renders (the check the probe is validated by).

Adjectives have no planted effect in the toy world: "a kind doctor" should look like "a doctor". Whether the model
agrees is a question about the *difference* of two rates, so look at the difference and its own interval, not at
whether the chart's two intervals overlap: two 95 % intervals can overlap while the difference is still clear. And a
difference not found with 40 seeds only rules out a large one: these intervals reach 9 to 21 points either side."""),
    ("code", """value = list(LABELS)[0]
for role in ROLES:
    diff, low, high = probe.difference(role, value, "kind")  # Newcombe's interval for a difference of two rates
    print(f"{role:10} share {value}: kind minus plain {diff:+4.0%}  [{low:+.0%}, {high:+.0%}]")"""),
]


def build(name: str):
    """The notebook `name` as this script writes it."""
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
                for kind, src in NOTEBOOKS[name]]
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives no diff
        cell.id = f"{Path(name).stem[:2]}-{i:02d}"
    return nb


def main(names=None):
    for name in NOTEBOOKS:
        if names and name not in names:
            continue
        nbf.write(build(name), HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
