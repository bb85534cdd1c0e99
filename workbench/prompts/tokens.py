"""Token report: how many CLIP tokens a prompt takes, and what falls past the limit.

CLIP text encoders read 77 tokens: a start token, 75 prompt tokens and an end token.
open_clip's tokenizer truncates silently, so a modifier past the 75th token is simply
dropped by the model. The report names those modifiers. Counting uses open_clip's own
`SimpleTokenizer` and BPE file; its module is loaded on its own (it needs torch, but
not the rest of open_clip, which would add seconds to the first count). It cleans text as
CLIP's original tokenizer did (curly quotes, full-width letters, HTML entities), which some
pipelines' tokenizers do not; `ImageGenerator.requests` therefore checks each prompt again
with the loaded model's own tokenizer.

`BREAK` is a plain word to diffusers, so it counts here; `chunks` is what A1111 would make,
which starts a new 75-token chunk at each `BREAK`.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache

CONTEXT_LENGTH = 77
PROMPT_TOKENS = CONTEXT_LENGTH - 2  # start and end tokens take two places


@lru_cache(maxsize=1)
def clip_tokenizer():
    """open_clip's SimpleTokenizer (lower-case cleaning, its shipped BPE vocabulary)."""
    module = sys.modules.get("open_clip.tokenizer")
    if module is None:
        spec = importlib.util.find_spec("open_clip")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("open_clip is not installed; run `pip install open_clip_torch`")
        path = f"{list(spec.submodule_search_locations)[0]}/tokenizer.py"
        file_spec = importlib.util.spec_from_file_location("workbench._open_clip_tokenizer", path)
        module = importlib.util.module_from_spec(file_spec)
        file_spec.loader.exec_module(module)
    return module.SimpleTokenizer()


def count_tokens(text: str) -> int:
    """Prompt tokens in `text` (start and end tokens not counted)."""
    return len(clip_tokenizer().encode(text))


@dataclass(frozen=True)
class TokenReport:
    """Token count of a composed prompt against CLIP's context, and the modifiers it would lose."""

    count: int
    limit: int = PROMPT_TOKENS
    truncated: tuple[str, ...] = field(default=())  # refs of modifiers wholly or partly past the limit
    chunks: int = 1  # 75-token chunks A1111 would make (a new one at each BREAK)

    @property
    def over(self) -> bool:
        return self.count > self.limit

    @property
    def warning(self) -> str:
        if not self.over:
            return ""
        lost = f"; these modifiers fall past it and would be dropped: {', '.join(self.truncated)}" if self.truncated else ""
        return (f"prompt is {self.count} tokens, past CLIP's limit of {self.limit}{lost}. "
                "Shorten the subject or move important modifiers earlier.")

    def __str__(self) -> str:
        return f"{self.count}/{self.limit} tokens" + (" (over the limit)" if self.over else "")

    def to_dict(self) -> dict:
        return {"count": self.count, "limit": self.limit, "truncated": list(self.truncated), "chunks": self.chunks}

    @classmethod
    def from_dict(cls, data: dict) -> TokenReport:
        return cls(data["count"], data.get("limit", PROMPT_TOKENS), tuple(data.get("truncated", ())), data.get("chunks", 1))


def token_report(prompt: str, spans: dict[str, tuple[int, int]] | None = None) -> TokenReport:
    """Count `prompt`; `spans` maps each modifier ref to its (start, end) characters in the prompt.

    A modifier is truncated when the tokens up to the end of its text exceed the limit.
    Counting the prefix (rather than summing parts) follows the tokenizer exactly,
    since BPE merges do not cross the word boundaries where fragments join.
    """
    count = count_tokens(prompt)
    truncated = []
    if count > PROMPT_TOKENS:
        for ref, (_, end) in sorted((spans or {}).items(), key=lambda item: item[1][0]):
            if count_tokens(prompt[:end]) > PROMPT_TOKENS:
                truncated.append(ref)
    return TokenReport(count, PROMPT_TOKENS, tuple(truncated), a1111_chunks(prompt))


def a1111_chunks(prompt: str) -> int:
    """The 75-token chunks A1111 splits `prompt` into: each BREAK starts a new one (and is not a token)."""
    parts = re.split(r"\bBREAK\b", prompt)
    return sum(max(1, -(-count_tokens(part) // PROMPT_TOKENS)) for part in parts)
