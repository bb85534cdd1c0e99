"""The toy CLIP reading pictures zero-shot: which of some candidate prompts a picture matches
best, and the figures `evaluate` builds from that (per modifier category, and a linear probe of
what the image features hold whatever the text side says)."""

from __future__ import annotations

import numpy as np
import torch

from workbench.toyworld import paths
from workbench.toyworld.world import scene_prompt


def accuracy(hits) -> float | None:
    """The share of True in `hits`, to 4 places; None when there are none."""
    return round(float(np.mean(hits)), 4) if len(hits) else None


class ZeroShot:
    """Scores images against candidate prompts with the toy CLIP."""

    def __init__(self, clip_model):
        import open_clip

        self.model = clip_model.eval()
        self.tokenize = open_clip.get_tokenizer(paths.CLIP_MODEL_NAME)
        self._cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def image_features(self, images: np.ndarray) -> torch.Tensor:
        from workbench.toyworld.recipe import to_clip_input

        feats = [self.model.encode_image(to_clip_input(images[s : s + 256]), normalize=True)
                 for s in range(0, len(images), 256)]
        return torch.cat(feats)

    @torch.no_grad()
    def text_features(self, texts: list[str]) -> torch.Tensor:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        for s in range(0, len(todo), 256):
            chunk = todo[s : s + 256]
            feats = self.model.encode_text(self.tokenize(chunk), normalize=True)
            self._cache.update(zip(chunk, feats))
        return torch.stack([self._cache[t] for t in texts])

    def choose(self, image_feature: torch.Tensor, candidates: list[str]) -> int:
        return int((self.text_features(candidates) @ image_feature).argmax())


def linear_probe(train_features, train_labels, test_features, test_labels) -> float:
    """Test accuracy of a logistic-regression probe on frozen features: how much of an
    attribute the features hold, whether or not the other tower can name it."""
    from sklearn.linear_model import LogisticRegression

    probe = LogisticRegression(max_iter=2_000).fit(train_features, train_labels)
    return round(float(probe.score(test_features, test_labels)), 4)


def candidate_prompt(vocab, colour, shape, background, modifier_refs) -> str:
    """A zero-shot candidate: the eval prompt shape, its modifiers in the vocabulary's order."""
    order = {m.ref: i for i, m in enumerate(vocab.modifiers)}
    return scene_prompt(colour, shape, background,
                        [vocab.modifier(r).phrase for r in sorted(modifier_refs, key=order.__getitem__)])


def modifier_hits(zs: ZeroShot, vocab, feature, colour, shape, background, modifiers):
    """For each modifier of a picture: (category, read right, alone). The toy CLIP chooses among
    the prompt with each modifier of that category or with none of them (chance 1/4); the
    picture's other modifiers stay in every candidate."""
    out = []
    for ref in modifiers:
        cat = vocab.modifier(ref).category
        others = [r for r in modifiers if vocab.modifier(r).category != cat]
        options = [m.ref for m in vocab.modifiers if m.category == cat]
        cands = [candidate_prompt(vocab, colour, shape, background, others + [o]) for o in options]
        cands.append(candidate_prompt(vocab, colour, shape, background, others))
        k = zs.choose(feature, cands)
        out.append((cat, k < len(options) and options[k] == ref, not others))
    return out


def category_figures(hits, categories) -> dict:
    """Accuracy per category, overall and where the modifier was the picture's only one."""
    out = {}
    for c in categories:
        every = [ok for cat, ok, _ in hits if cat == c]
        alone = [ok for cat, ok, only in hits if cat == c and only]
        out[c] = {"accuracy": accuracy(every), "n": len(every), "chance": 0.25,
                  "alone": accuracy(alone), "alone_n": len(alone)}
    return out
