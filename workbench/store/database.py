"""The catalogue file: one SQLite database, opened so that several kernels can share it.

- WAL mode: readers never wait for a writer, and a committed transaction survives a crash.
- `busy_timeout`: a writer waits (up to BUSY_TIMEOUT_S) for another kernel's transaction
  instead of failing at once.
- Every write is one short `BEGIN IMMEDIATE` transaction (`Catalogue.transaction()`).
- A `schema_version` table: a catalogue from a newer version is refused, not misread.
- SQLite's errors become `StoreError`s that name the file and say what to do (a corrupt
  file: move it aside and rebuild from the PNGs).

The tables themselves are described in SCHEMA; `catalogue.py` decides what goes in them.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from pathlib import Path

from workbench.store.errors import StoreError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 60  # how long a writer waits for another kernel's transaction
CORRUPT_SIGNS = ("not a database", "malformed", "file is encrypted", "database corrupt")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    # A run: one grid, comparison or batch; `meta` is JSON.
    "CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL, meta TEXT NOT NULL, created TEXT NOT NULL)",
    # An image: searchable columns, the PNG's path (relative to the store) and the full record (JSON).
    # `run` is the run that first made it; run_images lists every run that used it.
    "CREATE TABLE IF NOT EXISTS images (key TEXT PRIMARY KEY, run INTEGER,"
    " prompt TEXT NOT NULL, negative_prompt TEXT NOT NULL, modifiers TEXT NOT NULL,"
    " seed INTEGER, variation_seed INTEGER, variation_strength REAL, steps INTEGER, guidance REAL,"
    " width INTEGER, height INTEGER, scheduler TEXT, model TEXT, model_hash TEXT, versions TEXT,"
    " device TEXT, created TEXT, duration_s REAL, source TEXT, path TEXT NOT NULL, record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS run_images (run INTEGER NOT NULL, key TEXT NOT NULL, PRIMARY KEY (run, key))",
    # The embedding cache: little-endian float32 vectors of `dim` values.
    "CREATE TABLE IF NOT EXISTS embeddings (content_key TEXT NOT NULL, model TEXT NOT NULL,"
    " dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (content_key, model))",
    "CREATE INDEX IF NOT EXISTS images_run ON images (run)",
)


class Catalogue:
    """A connection to `path`, shared by the threads of one process (under a lock)."""

    def __init__(self, path: Path, images_folder: Path):
        self.path = Path(path)
        self.images_folder = Path(images_folder)  # named in the advice a corrupt file gets
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise self.explain(error) from None
        with self.errors():
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
            mode = self._enter_wal()
            if str(mode).lower() != "wal":
                log.warning("%s: WAL mode unavailable (journal_mode=%s); writers will wait more", self.path, mode)
            self._db.execute("PRAGMA synchronous = FULL")  # a committed image survives power loss too
            self._create_schema()

    def _enter_wal(self) -> str:
        """Switch to WAL mode. SQLite answers "locked" at once, without waiting, when another
        process is switching a new catalogue at the same moment, so wait here instead."""
        deadline, pause = time.monotonic() + BUSY_TIMEOUT_S, 0.01
        while True:
            try:
                return self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as error:
                if "locked" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def _create_schema(self) -> None:
        with self.transaction() as db:
            for statement in SCHEMA:
                db.execute(statement)
            row = db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {row[0]}, made by a newer Prompt Workbench "
                    f"(this one reads version {SCHEMA_VERSION}). Upgrade prompt-workbench to open it."
                )

    def explain(self, error: sqlite3.Error) -> StoreError:
        """A StoreError saying which file is at fault and what to do."""
        message = str(error)
        folder = self.path.parent
        if any(sign in message.lower() for sign in CORRUPT_SIGNS):
            return StoreError(
                f"The catalogue {self.path} is corrupt ({message}). Move it aside (rename it, e.g. to "
                f"{self.path.name}.corrupt), then run RunStore({str(folder)!r}).rebuild(): the PNGs in "
                f"{self.images_folder} carry their metadata and are re-catalogued from it. "
                f"RunStore.recover(folder) does both; from a shell, `workbench store rebuild --store {folder} "
                "--recover`."
            )
        if "locked" in message.lower() or "busy" in message.lower():
            return StoreError(
                f"The catalogue {self.path} was still locked by another process after waiting up to "
                f"{BUSY_TIMEOUT_S} s ({message}). Finish or restart the other kernel writing to {folder}, then retry."
            )
        return StoreError(
            f"Cannot use the store folder {folder} ({message}). Check that it exists, that you can "
            "write to it, and that the disk is not full."
        )

    @contextlib.contextmanager
    def errors(self):
        """Turn SQLite errors into StoreErrors that say which file and what to do."""
        try:
            yield
        except sqlite3.Error as error:
            raise self.explain(error) from None

    @contextlib.contextmanager
    def transaction(self):
        """One write transaction, holding the write lock from the start (BEGIN IMMEDIATE)."""
        with self._lock, self.errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params=()) -> list[tuple]:
        with self._lock, self.errors():
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()
