"""The run store: a folder of PNGs that carry their own metadata, and a SQLite catalogue of them.

    store/
      catalogue.sqlite   one row per image (prompt, seed, model, ... and the full record),
                         runs, and the embedding cache; WAL mode, safe for several kernels
      images/            <prompt-slug>_s<seed>_<key>.png, each with its record inside

Images are content-addressed: the key of an image is its request's key (`GenerationRequest.key`),
so an identical request is served from the store (`get`) instead of being generated again.
Imported images are keyed by their bytes instead: a peer's request does not pin its pixels
(different noise, batch effects), and a PNG's own claim to be what a request makes is not proof
of it, so an imported file is never served as a generation result.

No lost data, by construction:
1. `put` writes the PNG first (atomically: temp file, fsync, rename), then inserts its row in
   a transaction of its own. An interrupted run keeps every image finished before the
   interruption; re-running finds those and makes only the missing ones.
2. A PNG without a row (the process died between the two steps) is just made again, or
   picked up by `rebuild()`. A row without a PNG is ignored by `get`, so it is made again.
3. The PNGs are the source of truth: if the catalogue is lost or corrupt, `rebuild()` (or
   `RunStore.recover(folder)`) re-catalogues every PNG from its own metadata.

    store = RunStore("runs/demo")
    stored = store.get(record.key)            # None: not made yet, so generate it, then
    stored = store.put(record, image, run=run)  # PNG first, then its row, committed at once
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.store.database import Catalogue
from workbench.store.errors import StoreError
from workbench.store.file_names import file_name, imported_key, stored_key
from workbench.store.png import TEMP_PREFIX, copy_file, png_text, read_png_metadata, read_run_info, save_png
from workbench.store.record import ImageRecord, utc_now

log = logging.getLogger(__name__)

CATALOGUE = "catalogue.sqlite"
IMAGES = "images"
STALE_WRITE_S = 15 * 60  # a temporary file this old is an interrupted write, not another kernel's
DAMAGED_SUFFIX = ".damaged"  # an unreadable PNG is renamed to this, kept, and its image made again

COLUMNS = (
    "key", "run", "prompt", "negative_prompt", "modifiers", "seed", "variation_seed", "variation_strength",
    "steps", "guidance", "width", "height", "scheduler", "model", "model_hash", "versions", "device",
    "created", "duration_s", "source", "path", "record",
)
PNG_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")


def _sql_int(value):
    """SQLite integers are 64-bit signed; ComfyUI seeds go to 2**64, so those are kept as text (and
    so is any other number a peer's PNG claims past that, rather than failing the whole store)."""
    return value if value is None or -(2**63) <= int(value) < 2**63 else str(value)


@dataclass(frozen=True)
class StoredImage:
    """An image in the store: its key, its PNG and its record. The pixels load on demand."""

    key: str
    path: Path
    record: ImageRecord
    run: int | None = None
    added: bool = field(default=False, compare=False)  # `import_png` copied it in (else it was there)

    def load_image(self) -> Image.Image:
        """The PNG's pixels, read now (a GeneratedImage's `image` is them already)."""
        with Image.open(self.path) as image:
            image.load()
            return image


def pixels_of(item):
    """The PIL image of a GeneratedImage (its `image`), a StoredImage (read now) or a PIL image."""
    return item.load_image() if isinstance(item, StoredImage) else getattr(item, "image", item)


def _free_suffix(names) -> str:
    """The first tag of "", "-2", "-3", ... for which none of the paths `names(tag)` exists."""
    tag, n = "", 1
    while any(path.exists() for path in names(tag)):
        n += 1
        tag = f"-{n}"
    return tag


class RunStore:
    """A folder of PNGs with their metadata, catalogued in SQLite. See the module docstring."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.images_folder = self.folder / IMAGES
        self.catalogue_path = self.folder / CATALOGUE
        try:
            self.images_folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(
                f"Cannot create the store folder {self.folder} ({error.strerror or error}). "
                "Choose a folder you can write to, or fix its permissions."
            ) from None
        self._catalogue = Catalogue(self.catalogue_path, self.images_folder)

    @classmethod
    def recover(cls, folder) -> RunStore:
        """Move a corrupt catalogue aside (keeping it) and rebuild a new one from the PNGs."""
        folder = Path(folder)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        parts = ("", "-wal", "-shm")
        # a second recover within the second must not replace the first one's catalogue
        stamp += _free_suffix(lambda tag: [folder / f"{CATALOGUE}{part}.corrupt-{stamp}{tag}" for part in parts])
        for part in parts:
            path = folder / f"{CATALOGUE}{part}"
            if path.exists():
                path.replace(folder / f"{CATALOGUE}{part}.corrupt-{stamp}")
        store = cls(folder)
        store.rebuild()
        return store

    @classmethod
    def of(cls, store) -> RunStore | None:
        """`store` as a RunStore: a folder path opened, a RunStore (or None, for no store) as is."""
        return cls(store) if isinstance(store, (str, Path)) else store

    def close(self) -> None:
        self._catalogue.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({str(self.folder)!r})"

    # --- images --------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._catalogue.query("SELECT COUNT(*) FROM images")[0][0]

    def _stored(self, row) -> StoredImage | None:
        """A StoredImage from (key, run, path, record); None, with a warning, if its PNG is gone."""
        key, run, path, record = row
        path = self.folder / path
        if not path.is_file():
            log.warning("%s: the PNG for %s is missing (%s); it will be made again", self.folder, key[:16], path)
            return None
        return StoredImage(key, path, ImageRecord.from_json(record), run)

    def get(self, key: str) -> StoredImage | None:
        """The image with this key, or None when it is not stored (or its PNG went missing)."""
        rows = self._catalogue.query("SELECT key, run, path, record FROM images WHERE key = ?", (key,))
        return self._stored(rows[0]) if rows else None

    def put(self, record: ImageRecord, image: Image.Image, run: int | None = None) -> StoredImage:
        """Store an image and its record: the PNG first, then its row, committed at once.

        Putting a key that is already stored returns the stored image (and adds it to `run`).
        """
        if not isinstance(image, Image.Image):
            raise TypeError(f"put() takes a PIL image, got {type(image).__name__}; for an array use Image.fromarray(a)")
        if image.mode not in PNG_MODES:
            raise ValueError(f"a {image.mode} image cannot be saved as PNG; pass image.convert('RGB')")
        key = record.key
        rows = self._catalogue.query("SELECT key, run, path, record FROM images WHERE key = ?", (key,))
        existing = self._stored(rows[0]) if rows else None
        if existing is None:
            run_info = self._run_info(run) if run is not None else None
            path = self.images_folder / file_name(record.request.prompt, record.request.seed, key)
            try:
                self.images_folder.mkdir(parents=True, exist_ok=True)  # in case someone removed it
                save_png(image, path, record, run_info)  # 1. the PNG, atomically
            except OSError as error:
                raise StoreError(
                    f"Cannot write {path} ({error.strerror or error}). Check free space and permissions of "
                    f"{self.images_folder}."
                ) from None
            self._insert(key, record, path, run, replace=bool(rows))  # 2. its row
        elif run is not None:
            self.add_to_run(run, key)
        return self.get(key)

    def _insert(self, key: str, record: ImageRecord, path: Path, run: int | None, replace: bool) -> None:
        request = record.request
        values = (
            key, run, request.prompt, request.negative_prompt, json.dumps(request.modifiers),
            _sql_int(request.seed), _sql_int(request.variation_seed), float(request.variation_strength),
            _sql_int(request.steps), float(request.guidance), _sql_int(request.width), _sql_int(request.height),
            request.scheduler,
            request.model, record.model_hash, json.dumps(record.versions, sort_keys=True), record.device,
            record.created, float(record.duration_s), record.source,
            path.relative_to(self.folder).as_posix(), record.to_json(),
        )
        # An existing row is updated in place, so it keeps its place in the order of `images()`
        on_conflict = ("DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])) if replace \
            else "DO NOTHING"
        with self._catalogue.transaction() as db:
            db.execute(f"INSERT INTO images ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
                       f" ON CONFLICT (key) {on_conflict}", values)
            if run is not None:
                db.execute("INSERT OR IGNORE INTO run_images (run, key) VALUES (?, ?)", (run, key))

    def images(self, run: int | None = None, limit: int | None = None) -> list[StoredImage]:
        """Stored images in the order they were stored; only those of `run` when given."""
        if run is None:
            sql, params = "SELECT key, run, path, record FROM images ORDER BY rowid", ()
        else:
            sql = ("SELECT i.key, i.run, i.path, i.record FROM run_images r JOIN images i ON i.key = r.key"
                   " WHERE r.run = ? ORDER BY r.rowid")
            params = (run,)
        if limit is not None:
            sql, params = sql + " LIMIT ?", (*params, int(limit))
        return [s for s in map(self._stored, self._catalogue.query(sql, params)) if s is not None]

    def import_png(self, path, run: int | None = None) -> StoredImage:
        """Copy a PNG (ours, or from A1111, ComfyUI, InvokeAI, Fooocus) into the store and catalogue it."""
        path = Path(path)
        record = read_png_metadata(path)  # raises MetadataError naming the file
        ours = self.get(record.key) if record.source == "workbench" else None
        if ours is not None and ours.path.read_bytes() == path.read_bytes():  # this very image, already here
            if run is not None:
                self.add_to_run(run, ours.key)
            return ours
        key = imported_key(path)
        rows = self._catalogue.query("SELECT key, run, path, record FROM images WHERE key = ?", (key,))
        if rows and self._stored(rows[0]) is not None:
            if run is not None:
                self.add_to_run(run, key)
            return self.get(key)
        if run is not None:
            self._run_info(run)  # check that the run exists before copying
        dest = self.images_folder / file_name(record.request.prompt, record.request.seed, key)
        copied = path.resolve() != dest.resolve()
        try:
            if copied:
                copy_file(path, dest)
        except OSError as error:
            raise StoreError(f"Cannot copy {path} into {self.images_folder} ({error.strerror or error}).") from None
        try:
            self._insert(key, record, dest, run, replace=bool(rows))
        except BaseException:
            if copied:  # an uncatalogued copy would make check() complain and rebuild() try it again
                dest.unlink(missing_ok=True)
            raise
        return replace(self.get(key), added=True)

    # --- runs ----------------------------------------------------------------------------

    def start_run(self, name: str, meta: dict | None = None) -> int:
        """Start a named run (a grid, a comparison, ...); pass its id to `put` as `run`."""
        with self._catalogue.transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (name, meta, created) VALUES (?, ?, ?)",
                (str(name), json.dumps(meta or {}, ensure_ascii=False, sort_keys=True), utc_now()),
            )
            return cursor.lastrowid

    def runs(self) -> list[dict]:
        """All runs, oldest first: id, name, meta, created, and how many images each holds."""
        rows = self._catalogue.query(
            "SELECT r.id, r.name, r.meta, r.created, COUNT(ri.key) FROM runs r"
            " LEFT JOIN run_images ri ON ri.run = r.id GROUP BY r.id ORDER BY r.id"
        )
        return [dict(id=i, name=n, meta=json.loads(m), created=c, images=k) for i, n, m, c, k in rows]

    def _run_info(self, run: int) -> dict:
        rows = self._catalogue.query("SELECT name, meta, created FROM runs WHERE id = ?", (run,))
        if not rows:
            raise StoreError(f"{self.folder} has no run {run!r}; start one with store.start_run(name) and pass its id")
        name, meta, created = rows[0]
        return {"name": name, "meta": json.loads(meta), "created": created}

    def add_to_run(self, run: int, key: str) -> None:
        """List a stored image in `run` too (an image served from the store to a new grid)."""
        self._run_info(run)
        with self._catalogue.transaction() as db:
            db.execute("INSERT OR IGNORE INTO run_images (run, key) VALUES (?, ?)", (run, key))

    def set_aside(self, key: str, reason: str) -> None:
        """Take a damaged image out of the catalogue, so that it is made again: its PNG is kept,
        renamed to end in DAMAGED_SUFFIX, and it stays listed in its runs."""
        rows = self._catalogue.query("SELECT path FROM images WHERE key = ?", (key,))
        if not rows:
            return
        self._set_file_aside(self.folder / rows[0][0], reason)
        with self._catalogue.transaction() as db:
            db.execute("DELETE FROM images WHERE key = ?", (key,))

    def _set_file_aside(self, path: Path, reason: str) -> None:
        """Rename an unreadable PNG to <name>.damaged (.damaged-2, ... when that is taken), so it is
        kept but neither catalogued nor reported again."""
        aside = path.with_name(path.name + DAMAGED_SUFFIX)
        aside = aside.with_name(aside.name + _free_suffix(lambda tag: [aside.with_name(aside.name + tag)]))
        with contextlib.suppress(FileNotFoundError):
            path.replace(aside)
        log.warning("%s: %s (%s); kept as %s, and the image will be made again", self.folder, path.name, reason,
                    aside.name)

    # --- repair --------------------------------------------------------------------------

    def _pngs(self) -> list[Path]:
        return sorted(p for p in self.images_folder.glob("*.png") if not p.name.startswith(TEMP_PREFIX))

    def _stale_writes(self) -> list[Path]:
        """Temporary files left by interrupted writes: old ones only, as another kernel may be
        writing into this store at this moment."""
        now = time.time()
        old = []
        for temp in self.images_folder.glob(f"{TEMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                if now - temp.stat().st_mtime > STALE_WRITE_S:
                    old.append(temp)
        return old

    def rebuild(self) -> int:
        """Re-catalogue every PNG in images/ from its own metadata; returns how many were catalogued.

        Runs are regrouped from the run each PNG was first made in. Rows keep their order; PNGs
        new to the catalogue follow, oldest first. Interrupted writes (temporary files older than
        STALE_WRITE_S) are removed, rows whose PNG is gone are dropped, and unreadable PNGs are
        skipped with a warning; one that had a row is set aside (see `set_aside`).
        """
        # 1. Read every PNG first, so the write lock is held only briefly.
        found, unreadable = [], {}
        catalogued = {path: key for key, path in self._catalogue.query("SELECT key, path FROM images")}
        moved = frozenset(key for path, key in catalogued.items() if not (self.folder / path).is_file())
        for path in self._pngs():
            relative = path.relative_to(self.folder).as_posix()
            try:
                record = read_png_metadata(path)
                ours = moved | {catalogued[relative]} if relative in catalogued else moved
                found.append((stored_key(record, path, ours), record, path, read_run_info(path)))
            except StoreError as error:
                unreadable[relative] = str(error)
        found.sort(key=lambda item: (str(item[1].created), item[2].name))
        # 2. Catalogue them, regrouping runs by (name, created).
        runs = {(n, c): i for i, n, c in self._catalogue.query("SELECT id, name, created FROM runs")}
        for key, record, path, info in found:
            run = None
            if info and {"name", "created"} <= info.keys():
                run = runs.get((info["name"], info["created"]))
                if run is None:
                    with self._catalogue.transaction() as db:
                        run = db.execute(
                            "INSERT INTO runs (name, meta, created) VALUES (?, ?, ?)",
                            (info["name"], json.dumps(info.get("meta", {}), sort_keys=True), info["created"]),
                        ).lastrowid
                    runs[(info["name"], info["created"])] = run
            relative = path.relative_to(self.folder).as_posix()
            if catalogued.get(relative, key) != key:  # one PNG, one row: a row under its old key goes
                with self._catalogue.transaction() as db:
                    db.execute("DELETE FROM images WHERE key = ?", (catalogued[relative],))
            self._insert(key, record, path, run, replace=True)
        # 3. Set unreadable PNGs aside; drop rows whose PNG is gone, and leftovers of interrupted writes.
        for relative, reason in unreadable.items():
            self._set_file_aside(self.folder / relative, reason)
        for key, path in self._catalogue.query("SELECT key, path FROM images"):
            if not (self.folder / path).is_file():
                with self._catalogue.transaction() as db:
                    db.execute("DELETE FROM images WHERE key = ?", (key,))
                    if path not in unreadable:  # a damaged one is made again, and stays in its runs
                        db.execute("DELETE FROM run_images WHERE key = ?", (key,))
        for temp in self._stale_writes():
            with contextlib.suppress(OSError):
                temp.unlink()
        return len(found)

    def check(self) -> list[str]:
        """Problems found, as sentences (an empty list means the store is consistent)."""
        problems = []
        integrity = self._catalogue.query("PRAGMA integrity_check")[0][0]
        if integrity != "ok":
            problems.append(f"{self.catalogue_path} fails SQLite's integrity check: {integrity}")
        catalogued = set()
        for key, path in self._catalogue.query("SELECT key, path FROM images"):
            catalogued.add(path)
            if not (self.folder / path).is_file():
                problems.append(f"row {key[:16]} points at a missing PNG {path}")
        for path in self._pngs():
            try:
                png_text(path)  # reads the whole file: a truncated PNG fails here
            except StoreError as error:
                problems.append(f"{error} (rebuild() sets it aside, and its image is made again)")
                continue
            if path.relative_to(self.folder).as_posix() not in catalogued:
                problems.append(f"{path} is not catalogued (rebuild() adds it)")
        for temp in self._stale_writes():
            problems.append(f"{temp} is an unfinished write (rebuild() removes it)")
        return problems

    # --- embedding cache -----------------------------------------------------------------

    def put_embedding(self, content_key: str, model: str, vector: np.ndarray) -> None:
        """Cache a 1-D embedding (stored as float32) for `content_key` under `model`."""
        vector = np.asarray(vector, dtype=np.float32)
        if vector.ndim != 1 or vector.size == 0:
            raise ValueError(f"an embedding must be a non-empty 1-D vector, got shape {vector.shape}")
        with self._catalogue.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO embeddings (content_key, model, dim, vector) VALUES (?, ?, ?, ?)",
                (content_key, model, int(vector.size), vector.astype("<f4").tobytes()),
            )

    def get_embedding(self, content_key: str, model: str) -> np.ndarray | None:
        """The cached embedding, or None when there is none."""
        return self.get_embeddings([content_key], model).get(content_key)

    def get_embeddings(self, content_keys, model: str) -> dict[str, np.ndarray]:
        """The cached embeddings of those keys that have one, as {key: float32 vector}."""
        keys, found = list(content_keys), {}
        for start in range(0, len(keys), 500):  # SQLite limits the number of parameters
            chunk = keys[start:start + 500]
            rows = self._catalogue.query(
                f"SELECT content_key, dim, vector FROM embeddings WHERE model = ? AND content_key IN"
                f" ({', '.join('?' * len(chunk))})", (model, *chunk),
            )
            for key, dim, blob in rows:
                vector = np.frombuffer(blob, dtype="<f4").astype(np.float32)
                if vector.size == dim:
                    found[key] = vector
                else:
                    log.warning("%s: cached embedding %s/%s is damaged; it will be recomputed", self.folder, model, key)
        return found
