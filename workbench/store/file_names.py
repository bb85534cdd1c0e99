"""What a stored image is called, and the key it is catalogued under.

A file name is for people: the prompt's words, the seed and the start of the key, made safe for
every file system. The key is for the store: a request's key for images it made, the bytes for
images from elsewhere (see `catalogue.py`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

from workbench.store.record import ImageRecord

MAX_SLUG = 48  # characters of the prompt kept in a file name
MAX_SEED_DIGITS = 20  # of the seed in a file name (2**64 has 20); the key keeps names apart
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def file_name(prompt: str, seed: int, key: str) -> str:
    """A safe, readable file name: '<prompt-slug>_s<seed>_<key[:16]>.png'.

    The slug keeps ASCII letters and digits of the prompt (accents folded, everything else
    becomes '-'), at most MAX_SLUG characters, so no separators, control characters or
    names that Windows reserves (CON, NUL, ...) can get through. A peer's seed of hundreds
    of digits keeps its first MAX_SEED_DIGITS.
    """
    text = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:MAX_SLUG].strip("-") or "image"
    if slug in WINDOWS_RESERVED:
        slug = f"{slug}-image"
    return f"{slug}_s{str(int(seed))[:MAX_SEED_DIGITS]}_{key[:16]}.png"


def imported_key(path: Path) -> str:
    """The key of a peer's image: its bytes (peers' requests do not pin their pixels)."""
    return hashlib.sha256(b"imported-png\n" + Path(path).read_bytes()).hexdigest()


def stored_key(record: ImageRecord, path: Path, ours: frozenset = frozenset()) -> str:
    """The key a PNG in images/ is catalogued under: its request's key if the store made it (its
    file name ends in that key, as `put` names it, or the key is in `ours`: catalogued at this
    path, or at a path whose file is gone, as for a file renamed by hand), else its bytes (an
    imported file, whose claim to be what a request makes is not trusted)."""
    if record.source == "workbench" and (path.name.endswith(f"_{record.key[:16]}.png") or record.key in ours):
        return record.key
    return imported_key(path)
