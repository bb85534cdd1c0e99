"""The run store: content addressing, no lost images (interrupts, kills, two kernels), repair."""

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import re
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image
from store_helpers import (
    A1111_TEXT,
    COMFY_GRAPH,
    INVOKE_METADATA,
    die_midway,
    generate_missing,
    make_record,
    make_request,
    peer_png,
    tiny_image,
    write_many,
)

from workbench.store import GenerationRequest, RunStore, StoreError, read_png_metadata
from workbench.store.file_names import file_name

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "store") as store:
        yield store


# --- content addressing ------------------------------------------------------------------------


def test_put_then_get_by_key(store):
    record = make_record(4)
    stored = store.put(record, tiny_image(4))
    assert stored.key == record.key and stored.path.is_file()
    assert stored.path.parent == store.images_folder
    again = store.get(record.key)
    assert again.record == record and again.path == stored.path
    assert np.array_equal(np.asarray(again.load_image()), np.asarray(tiny_image(4)))
    assert read_png_metadata(again.path) == record
    assert store.get("0" * 64) is None


def test_an_identical_request_is_served_not_stored_twice(store):
    first = store.put(make_record(1), tiny_image(1))
    second = store.put(make_record(1), tiny_image(99))  # same request: the stored image wins
    assert second.path == first.path and len(store) == 1
    assert len(list(store.images_folder.glob("*.png"))) == 1
    store.put(make_record(2), tiny_image(2))
    assert len(store) == 2


def test_the_key_holds_what_decides_the_pixels():
    base = make_request(1)
    assert base.key("h") == make_request(1, guidance=7.5).key("h")
    assert base.key("h") == make_request(1, modifiers=()).key("h")  # modifiers already shaped the prompt
    assert base.key("h") == make_request(1, variation_seed=5, variation_strength=0.0).key("h")
    assert make_request(1, guidance=7).key("h") == make_request(1, guidance=7.0).key("h")
    for changed in (make_request(2), make_request(1, prompt="x"), make_request(1, negative_prompt=""),
                    make_request(1, steps=21), make_request(1, guidance=8.0), make_request(1, width=64),
                    make_request(1, scheduler="DDIMScheduler"),
                    make_request(1, variation_seed=5, variation_strength=0.1)):
        assert changed.key("h") != base.key("h")
    assert base.key("h") != base.key("other-weights")
    assert re.fullmatch(r"[0-9a-f]{64}", base.key())


def test_the_key_holds_the_precision_and_keeps_float32_keys_of_older_stores():
    base = make_request(1)
    # this request's key before the precision was part of it: stores made then must still be served
    assert base.key("h") == base.key("h", "float32") == "7fe1f89f9a84b4b6b55cc51c989018e6dc20a484436ee3f8741ede2a5e263d03"
    assert len({base.key("h"), base.key("h", "float16"), base.key("h", "bfloat16")}) == 3
    half = dataclasses.replace(make_record(1), dtype="float16")
    assert half.key == base.key("9f" * 32, "float16") != make_record(1).key == base.key("9f" * 32)


def test_request_and_record_json_round_trip():
    record = make_record(3, variation_seed=8, variation_strength=0.5)
    text = json.dumps(record.to_dict())
    assert type(record).from_dict(json.loads(text)) == record
    assert GenerationRequest.from_dict(json.loads(json.dumps(record.request.to_dict()))) == record.request
    with pytest.raises(ValueError, match="missing seed"):
        GenerationRequest.from_dict({"model": "m", "prompt": "p", "steps": 1, "guidance": 1, "width": 8, "height": 8})


# --- no lost images ----------------------------------------------------------------------------


def test_an_interrupted_run_keeps_its_images_and_a_rerun_makes_only_the_missing(tmp_path):
    folder = tmp_path / "store"
    with pytest.raises(KeyboardInterrupt):
        generate_missing(RunStore(folder), range(9), stop_after=4)
    store = RunStore(folder)
    assert len(store) == 4
    assert generate_missing(store, range(9)) == [4, 5, 6, 7, 8]
    assert len(store) == 9 and store.check() == []
    assert generate_missing(store, range(9)) == []


def test_an_interrupt_between_png_and_row_is_repaired_by_rerunning(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "store")
    monkeypatch.setattr(store, "_insert", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        store.put(make_record(0), tiny_image(0))
    monkeypatch.undo()
    assert len(store) == 0 and store.get(make_record(0).key) is None
    assert generate_missing(store, range(2)) == [0, 1]
    assert len(store) == 2 and store.check() == []


def test_two_kernels_write_one_store_at_once(tmp_path):
    folder = str(tmp_path / "store")
    RunStore(folder).close()  # both find the catalogue (a race to create it is tested below)
    workers = [SPAWN.Process(target=write_many, args=(folder, prompt, 20)) for prompt in ("a cat", "a dog")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    store = RunStore(folder)
    assert len(store) == 40 and store.check() == []
    assert sorted(run["images"] for run in store.runs()) == [20, 20]
    assert {s.record.request.prompt for s in store.images()} == {"a cat", "a dog"}


def test_two_kernels_creating_a_new_store_at_once(tmp_path):
    folder = str(tmp_path / "fresh")
    workers = [SPAWN.Process(target=write_many, args=(folder, prompt, 3)) for prompt in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert len(RunStore(folder)) == 6


@pytest.mark.parametrize("stage,leftover", [("writing-png", "unfinished write"), ("before-row", "not catalogued")])
def test_a_killed_writer_leaves_a_consistent_store(tmp_path, stage, leftover):
    folder = str(tmp_path / "store")
    child = SPAWN.Process(target=die_midway, args=(folder, stage))
    child.start()
    child.join(60)
    assert child.exitcode == 3
    store = RunStore(folder)
    assert len(store) == 3
    assert all(s.path.is_file() and read_png_metadata(s.path) == s.record for s in store.images())
    if stage == "writing-png":  # a fresh temporary file may be another kernel's write in progress
        temps = list(store.images_folder.glob(".tmp-*"))
        assert len(temps) == 1 and store.check() == []
        store.rebuild()
        assert temps[0].exists()
        an_hour_ago = time.time() - 3600
        os.utime(temps[0], (an_hour_ago, an_hour_ago))
    problems = store.check()
    assert len(problems) == 1 and leftover in problems[0]  # nothing else: the catalogue is sound
    assert generate_missing(store, range(4)) == [3]
    store.rebuild()
    assert store.check() == [] and len(store) == 4


def test_a_row_whose_png_is_gone_is_made_again(store, caplog):
    stored = store.put(make_record(0), tiny_image(0))
    stored.path.unlink()
    with caplog.at_level(logging.WARNING, logger="workbench.store.catalogue"):
        assert store.get(stored.key) is None
    assert "missing" in caplog.text
    assert store.put(make_record(0), tiny_image(0)).path.is_file()
    assert len(store) == 1 and store.check() == []


# --- errors and repair -------------------------------------------------------------------------


def test_a_corrupt_catalogue_says_which_file_and_how_to_recover(tmp_path):
    folder = tmp_path / "store"
    with RunStore(folder) as store:
        for seed in range(3):
            store.put(make_record(seed), tiny_image(seed))
    for suffix in ("-wal", "-shm"):
        (folder / f"catalogue.sqlite{suffix}").unlink(missing_ok=True)
    (folder / "catalogue.sqlite").write_bytes(np.random.default_rng(0).bytes(8192))
    with pytest.raises(StoreError) as error:
        RunStore(folder)
    message = str(error.value)
    assert str(folder / "catalogue.sqlite") in message and "corrupt" in message
    assert "rebuild()" in message and "Move it aside" in message
    assert f"workbench store rebuild --store {folder} --recover" in message  # for a shell user too
    store = RunStore.recover(folder)
    assert len(store) == 3 and store.check() == []
    assert list(folder.glob("catalogue.sqlite.corrupt-*"))
    store.close()


def test_recovering_twice_in_one_second_keeps_both_catalogues(tmp_path, monkeypatch):
    """The first catalogue set aside is the one with the runs and embeddings: never replaced."""
    import workbench.store.catalogue as catalogue

    class Frozen(catalogue.datetime):  # every recover in the same second
        @classmethod
        def now(cls, tz=None):
            return catalogue.datetime(2026, 12, 2, 3, 0, 0, tzinfo=tz)

    monkeypatch.setattr(catalogue, "datetime", Frozen)
    folder = tmp_path / "store"
    RunStore(folder).close()
    (folder / "catalogue.sqlite").write_bytes(b"the first corrupt catalogue")
    RunStore.recover(folder).close()
    RunStore.recover(folder).close()
    kept = sorted(p.name for p in folder.glob("catalogue.sqlite.corrupt-*"))
    assert kept == ["catalogue.sqlite.corrupt-20261202T030000", "catalogue.sqlite.corrupt-20261202T030000-2"]
    assert (folder / kept[0]).read_bytes() == b"the first corrupt catalogue"


def test_an_unwritable_folder_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match=re.escape(str(blocker / "store"))):
        RunStore(blocker / "store")


def test_a_catalogue_from_a_newer_version_is_refused(tmp_path):
    RunStore(tmp_path / "s").close()
    with sqlite3.connect(tmp_path / "s" / "catalogue.sqlite") as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="newer Prompt Workbench"):
        RunStore(tmp_path / "s")


def test_rebuild_restores_rows_and_runs_from_the_pngs(tmp_path):
    folder = tmp_path / "store"
    with RunStore(folder) as store:
        run = store.start_run("grid", {"seeds": "0-4"})
        records = {s: make_record(s) for s in range(5)}
        originals = {store.put(records[s], tiny_image(s), run=run).key for s in range(5)}
        imported = store.import_png(peer_png(tmp_path / "a1111.png", {"parameters": A1111_TEXT})).key
    for path in folder.glob("catalogue.sqlite*"):
        path.unlink()
    store = RunStore(folder)
    assert len(store) == 0
    assert store.rebuild() == 6
    assert {s.key for s in store.images()} == originals | {imported}
    (grid,) = store.runs()
    assert (grid["name"], grid["meta"], grid["images"]) == ("grid", {"seeds": "0-4"}, 5)
    assert store.get(records[2].key).record == records[2]


def test_rebuild_keeps_the_order_and_puts_new_pngs_oldest_first(tmp_path):
    folder = tmp_path / "store"
    with RunStore(folder) as store:
        for seed in (2, 1, 3):  # file names sort otherwise
            store.put(make_record(seed), tiny_image(seed))
        store.rebuild()
        assert [s.record.request.seed for s in store.images()] == [2, 1, 3]
    for path in folder.glob("catalogue.sqlite*"):
        path.unlink()
    with RunStore(folder) as store:
        store.rebuild()
        assert [s.record.request.seed for s in store.images()] == [2, 1, 3]


def test_rebuild_sets_an_unreadable_png_aside_and_drops_its_row(store):
    kept, damaged = (store.put(make_record(s), tiny_image(s)) for s in range(2))
    data = damaged.path.read_bytes()
    damaged.path.write_bytes(data[: len(data) // 2])
    assert [p for p in store.check() if "not a readable PNG" in p]
    assert store.rebuild() == 1
    assert store.get(damaged.key) is None and store.get(kept.key) is not None and store.check() == []
    assert damaged.path.with_name(damaged.path.name + ".damaged").read_bytes() == data[: len(data) // 2]


def test_an_imported_png_keeps_the_time_it_was_made_through_a_rebuild(store, tmp_path):
    """A peer's PNG says when it was made by its file time alone; the copy must keep it."""
    source = peer_png(tmp_path / "a1111.png", {"parameters": A1111_TEXT})
    made = 1_700_000_000
    os.utime(source, (made, made))
    stored = store.import_png(source)
    assert stored.record.created == "2023-11-14T22:13:20+00:00" and int(stored.path.stat().st_mtime) == made
    store.rebuild()
    assert store.get(stored.key).record.created == "2023-11-14T22:13:20+00:00"


def test_a_seed_of_hundreds_of_digits_still_gives_a_short_file_name(store, tmp_path):
    text = "a cat\nSteps: 20, Sampler: Euler, Seed: " + "7" * 300 + ", CFG scale: 5, Size: 64x48"
    stored = store.import_png(peer_png(tmp_path / "long.png", {"parameters": text}))
    assert stored.record.request.seed == int("7" * 300) and len(stored.path.name) < 120


# --- runs, imports, names, embeddings ----------------------------------------------------------


def test_runs_group_images_and_a_served_image_joins_the_new_run(store):
    first = store.start_run("first", {"note": "3x3"})
    for seed in range(3):
        store.put(make_record(seed), tiny_image(seed), run=first)
    second = store.start_run("second")
    for seed in range(2, 5):
        store.put(make_record(seed), tiny_image(seed), run=second)
    assert [s.record.request.seed for s in store.images(run=first)] == [0, 1, 2]
    assert [s.record.request.seed for s in store.images(run=second)] == [2, 3, 4]
    assert len(store.images(limit=2)) == 2 and len(store) == 5
    assert [(r["name"], r["images"]) for r in store.runs()] == [("first", 3), ("second", 3)]
    with pytest.raises(StoreError, match="no run 42"):
        store.put(make_record(9), tiny_image(9), run=42)


def test_import_peers_pngs(store, tmp_path):
    comfy = peer_png(tmp_path / "ComfyUI_00001_.png", {"prompt": json.dumps(COMFY_GRAPH)})
    invoke = peer_png(tmp_path / "invoke.png", {"invokeai_metadata": json.dumps(INVOKE_METADATA)})
    graph = json.loads(json.dumps(COMFY_GRAPH))
    graph["3"]["inputs"]["seed"] = 2**64 - 1  # ComfyUI seeds go past SQLite's 64-bit integers
    big = peer_png(tmp_path / "big-seed.png", {"prompt": json.dumps(graph)})
    stored = [store.import_png(p) for p in (comfy, invoke, big)]
    assert [s.record.source for s in stored] == ["comfyui", "invokeai", "comfyui"]
    assert stored[2].record.request.seed == 2**64 - 1
    assert store.import_png(comfy).key == stored[0].key and len(store) == 3  # idempotent
    assert all(s.path.parent == store.images_folder for s in stored)


def test_an_imported_png_is_never_served_as_what_its_metadata_claims(store, tmp_path):
    """A PNG saying it is what a request makes is not proof of it: served from the store, a
    shared file would stand in for an image the user never made (and skew a bias probe)."""
    ours = store.put(make_record(0), tiny_image(0))
    assert store.import_png(ours.path).key == ours.key and len(store) == 1  # this very image, already here
    forged = tmp_path / "forged.png"
    from workbench.store.png import save_png

    save_png(tiny_image(99), forged, make_record(0))  # claims seed 0's request, with other pixels
    other = RunStore(tmp_path / "other")
    imported = other.import_png(forged)
    assert imported.key != ours.key and imported.record.request == make_record(0).request  # kept, with its record
    assert other.get(make_record(0).key) is None  # but never served for the request it claims
    other.rebuild()
    assert other.get(make_record(0).key) is None and len(other) == 1


def test_a_peer_png_claiming_a_huge_size_imports_and_the_store_still_rebuilds(store, tmp_path):
    """Once, one such PNG failed its insert, left its copy uncatalogued, and made rebuild() fail for the store."""
    odd = peer_png(tmp_path / "odd.png", {"parameters": "a cat\nSteps: 5, Seed: 1, Size: 99999999999999999999x8"})
    stored = store.import_png(odd)
    assert stored.record.request.width == 99999999999999999999
    assert store.check() == [] and store.rebuild() == 1 and store.get(stored.key) is not None


@pytest.mark.parametrize("prompt", [
    "../../etc/passwd", "CON", "nul", "a cat 🐱🚀 in space", "x" * 500, "line one\nline two\r\n\tTab",
    "nul\x00byte", "C:\\Windows\\System32", "   ", "<>:\"/\\|?*", "Ünïcödé café",
])
def test_file_names_are_safe_for_nasty_prompts(store, prompt):
    stored = store.put(make_record(3, prompt=prompt), tiny_image(3))
    name = stored.path.name
    assert stored.path.parent == store.images_folder and stored.path.is_file()
    assert re.fullmatch(r"[a-z0-9-]+_s3_[0-9a-f]{16}\.png", name), name
    assert len(name) <= 100
    assert name.split("_")[0].split(".")[0].lower() not in {"con", "nul", "prn", "aux"}
    assert store.get(stored.key).record.request.prompt == prompt


def test_file_name_keeps_a_readable_slug():
    assert file_name("A red ball, octane render!", 7, "ab" * 32) == "a-red-ball-octane-render_s7_abababababababab.png"
    assert file_name("Café", 0, "0" * 64).startswith("cafe_s0_")
    assert file_name("", 0, "0" * 64).startswith("image_s0_")


def test_embedding_cache_round_trip(store):
    vector = np.random.default_rng(0).normal(size=512)
    assert store.get_embedding("k1", "ViT-B-32") is None
    store.put_embedding("k1", "ViT-B-32", vector)
    store.put_embedding("k2", "ViT-B-32", vector * 2)
    got = store.get_embedding("k1", "ViT-B-32")
    assert got.dtype == np.float32 and got.shape == (512,)
    np.testing.assert_array_equal(got, vector.astype(np.float32))
    assert store.get_embedding("k1", "other-model") is None
    assert set(store.get_embeddings(["k1", "k2", "k3"], "ViT-B-32")) == {"k1", "k2"}
    store.put_embedding("k1", "ViT-B-32", np.ones(4))  # replaces
    assert store.get_embedding("k1", "ViT-B-32").tolist() == [1.0] * 4
    with pytest.raises(ValueError, match="1-D"):
        store.put_embedding("k", "m", np.ones((2, 3)))


def test_stored_image_loads_without_holding_the_file_open(store):
    """A kept image must not pin its PNG: Windows could not move or delete it, and a notebook that
    shows hundreds of images would run out of file descriptors."""
    stored = store.put(make_record(0), tiny_image(0))
    image = stored.load_image()
    assert isinstance(image, Image.Image) and image.size == (32, 32)
    fds = "/proc/self/fd"
    if os.path.isdir(fds):  # checked before the pixels are read: reading a lazy image would load and close it
        open_files = []
        for fd in os.listdir(fds):
            with contextlib.suppress(OSError):  # the descriptor listdir itself used is gone by now
                open_files.append(os.readlink(os.path.join(fds, fd)))
        assert str(stored.path.resolve()) not in open_files, f"{stored.path.name} is still open"
    else:  # no /proc (macOS, Windows): there an open file refuses to move, on Windows at least
        stored.path.rename(stored.path.with_suffix(".moved"))
    assert np.array_equal(np.asarray(image), np.asarray(tiny_image(0)))  # the pixels came with it


def test_put_refuses_what_cannot_be_a_png(store):
    with pytest.raises(TypeError, match="Image.fromarray"):
        store.put(make_record(0), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"convert\('RGB'\)"):
        store.put(make_record(0), Image.new("CMYK", (8, 8)))
    assert len(store) == 0 and list(store.images_folder.iterdir()) == []


def test_the_store_stays_light():
    code = "import sys, workbench.store; print(sorted({'torch', 'diffusers', 'open_clip'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_png_renamed_by_hand_keeps_its_key_and_one_row_through_a_rebuild(store):
    stored = store.put(make_record(0), tiny_image(0))
    renamed = stored.path.with_name("my-favourite.png")
    stored.path.rename(renamed)
    store.rebuild()
    assert len(store) == 1 and store.get(stored.key).path == renamed  # still served for its request
    with sqlite3.connect(store.catalogue_path) as db:  # and a row under another key is folded into it
        db.execute("UPDATE images SET key = 'old-key' WHERE key = ?", (stored.key,))
    store.rebuild()
    assert [s.path.name for s in store.images()] == ["my-favourite.png"]


def test_every_unreadable_png_is_set_aside_and_none_is_overwritten(store):
    """Catalogued or not, a damaged PNG is renamed (kept), so check() does not report it for ever."""
    stored = store.put(make_record(0), tiny_image(0))
    for damage in (b"first", b"second"):
        stored.path.write_bytes(stored.path.read_bytes()[:200] + damage)
        store.rebuild()
        assert store.check() == [] and not stored.path.exists()
        store.put(make_record(0), tiny_image(0))  # made again
    kept = sorted(p.name for p in store.images_folder.glob("*.damaged*"))
    assert kept == [stored.path.name + ".damaged", stored.path.name + ".damaged-2"]
    assert (store.images_folder / kept[1]).read_bytes().endswith(b"second")
    uncatalogued = store.images_folder / "stray_s1_0000000000000000.png"
    uncatalogued.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    store.rebuild()
    assert store.check() == [] and (store.images_folder / (uncatalogued.name + ".damaged")).exists()
