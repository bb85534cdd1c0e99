"""Measured effects of modifiers, and what the model sees in an image.

Modifier effect score. In a comparison grid (`compare_modifiers`: one row per modifier,
the same seeds in every column, a baseline row without any modifier), each modifier's
score per seed is

    gain = sim(image with the modifier, modifier text) - sim(baseline image, same seed, modifier text)

with CLIP cosine similarity. The score is the mean gain over seeds, with its standard
deviation: how much the modifier pulls the picture towards its own words, the seed's
own influence cancelled out.

    scores = effect_scores(clip, grid)          # [EffectScore('Octane Render', +0.12 ± 0.03), ...]
    effect_chart(scores)                         # bar chart with error bars
    annotate_grid(grid, scores).image()          # the grid, each row titled with its score

What the model sees: `rank_modifiers(clip, image)` ranks every fragment of the tag
libraries against an image by CLIP similarity, top-k per category (as clip-interrogator
does with its lists).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace

import numpy as np

from workbench.checks import is_whole


def fragment_text(tag) -> str:
    """The words a tag adds to a prompt; a {prompt} slot reads "something" ("a woodcut print of something")."""
    return " ".join(tag.prompt.replace("{prompt}", "something").split()).strip(" ,.;:")


@dataclass(frozen=True)
class EffectScore:
    """One modifier's measured effect: mean CLIP similarity gain over seeds, and its spread."""

    ref: str  # "render_engines:octane-render"
    label: str  # "Octane Render"
    text: str  # the words scored against ("octane render")
    gains: tuple[float, ...]  # one per seed (column)
    seeds: tuple[int, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.gains))

    @property
    def std(self) -> float:
        """Sample spread over seeds; NaN for one seed, whose spread is unknown, not zero."""
        return float(np.std(self.gains, ddof=1)) if len(self.gains) > 1 else float("nan")

    def spread(self, digits: int = 2) -> str:
        return f"± {self.std:.{digits}f}" if len(self.gains) > 1 else "(one seed: spread unknown)"

    def __str__(self) -> str:
        return f"{self.label}  {self.mean:+.2f} {self.spread()}"


def effect_scores(clip, grid, library=None) -> list[EffectScore]:
    """Scores of each modifier row of a comparison grid against its baseline row (same seeds)."""
    # 1. Check the grid: one baseline row, modifier rows, the same seeds in every row
    refs = list(grid.row_refs or [])
    if len(refs) != grid.rows:
        raise ValueError("this grid does not say which modifier each row adds; make it with "
                         "compare_modifiers(generator, subject, vary=[...], seeds=...)")
    if None not in refs:
        raise ValueError("effect scores need the grid's baseline row (the subject without the modifiers); make "
                         "the grid with compare_modifiers(..., baseline=True)")
    if all(r is None for r in refs):
        raise ValueError("the grid has only a baseline row; add modifiers to compare with vary=[...]")
    base = refs.index(None)
    seeds = tuple(r.record.request.seed for r in grid.row(base))
    for row, ref in enumerate(refs):
        if tuple(r.record.request.seed for r in grid.row(row)) != seeds:
            raise ValueError(f"row {row} ({ref}) does not use the baseline's seeds {seeds}; every row of a "
                             "comparison must use the same seeds")
    if library is None:
        from workbench.prompts.compose import default_library

        library = default_library()
    # 2. Embeddings: every image once, every modifier text once
    tags = {ref: library.get(ref) for ref in refs if ref is not None}
    texts = {ref: fragment_text(tag) for ref, tag in tags.items()}
    image_vectors = clip.embed_images([r.image for r in grid.results]).reshape(grid.rows, grid.cols, -1)
    text_vectors = dict(zip(texts, clip.embed_texts(list(texts.values()))))
    # 3. Gain per seed against the same-seed baseline image
    scores = []
    for row, ref in enumerate(refs):
        if ref is None:
            continue
        t = text_vectors[ref]
        gains = image_vectors[row] @ t - image_vectors[base] @ t  # (cols,)
        scores.append(EffectScore(ref, tags[ref].label, texts[ref], tuple(float(g) for g in gains), seeds))
    return scores


def effect_chart(scores: list[EffectScore], title: str = "Modifier effect (CLIP similarity gain vs. baseline)"):
    """A bar chart of mean gains with standard-deviation error bars."""
    import plotly.graph_objects as go

    if not scores:
        raise ValueError("no effect scores to chart; compute them with effect_scores(clip, grid)")
    labels = [html.escape(s.label) for s in scores]
    hover = [f"<b>{html.escape(s.label)}</b> ({html.escape(s.text)})<br>mean {s.mean:+.3f} {s.spread(3)} over "
             f"{len(s.gains)} seeds<br>" + ", ".join(f"seed {seed}: {g:+.3f}" for seed, g in zip(s.seeds, s.gains))
             for s in scores]
    colours = ["#2a9d8f" if s.mean >= 0 else "#e76f51" for s in scores]
    fig = go.Figure(go.Bar(x=labels, y=[s.mean for s in scores], error_y={"type": "data", "array": [s.std for s in scores]},
                           marker_color=colours, hovertext=hover, hoverinfo="text"))
    fig.update_layout(title={"text": html.escape(title)}, template="plotly_white", height=420,
                      yaxis={"title": "similarity gain towards the modifier's words", "zeroline": True},
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def annotate_grid(grid, scores: list[EffectScore]):
    """A copy of the comparison grid whose row titles carry the scores ("Octane Render  +0.12 ± 0.03")."""
    by_ref = {s.ref: s for s in scores}
    titles = list(grid.row_titles) or [""] * grid.rows
    for row, ref in enumerate(grid.row_refs):
        if ref is None:
            titles[row] = f"{titles[row]}  baseline".strip()
        elif ref in by_ref:
            titles[row] = str(by_ref[ref])
    return replace(grid, row_titles=titles)


def rank_modifiers(clip, image, library=None, top: int = 3, categories=None,
                   refs=None) -> dict[str, list[tuple[object, float]]]:
    """What the model sees: per category, the `top` tags whose words are most similar to the image.

    `refs` ("category:id") ranks only those tags: a CLIP trained on a small world (the toy
    world's 15 modifiers) never learnt the other tags' words, and ranking those is noise.
    Returns {category name: [(Tag, cosine similarity), ...]} in the library's category order.
    """
    from workbench.prompts.compose import default_library, text_list

    library = default_library() if library is None else library
    wanted = set(categories) if categories is not None else None
    known = {c.name for c in library}
    if wanted is not None and wanted - known:
        raise ValueError(f"unknown categories {sorted(wanted - known)}; the library has: {', '.join(sorted(known))}")
    if not is_whole(top, 1):
        raise ValueError(f"top must be a whole number of at least 1, got {top!r}")
    chosen = None if refs is None else {library.get(r).ref for r in text_list(refs, "refs", "['mediums:pixel-art']")}
    tags = [tag for category in library if wanted is None or category.name in wanted for tag in category
            if chosen is None or tag.ref in chosen]
    if not tags:
        raise ValueError("no tags to rank: the tag library is empty (load tag files with TagLibrary.default() or "
                         "--tags-dir), or refs and categories have no tag in common")
    image_vector = clip.embed_images([image])[0]
    sims = clip.embed_texts([fragment_text(t) for t in tags]) @ image_vector
    ranking: dict[str, list] = {}
    for tag, sim in zip(tags, sims):
        ranking.setdefault(tag.category, []).append((tag, float(sim)))
    return {name: sorted(pairs, key=lambda p: -p[1])[:top] for name, pairs in ranking.items()}
