"""`workbench store ...`: import other tools' PNGs, list what a store holds, rebuild its catalogue.

    workbench store import PNG_OR_FOLDER... --store DIR
    workbench store list --store DIR [--json]
    workbench store rebuild --store DIR
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path


def shown(text: str, width: int) -> str:
    """A prompt from a PNG, safe to print: control characters (terminal escapes, newlines) become
    '?', so a file cannot retitle or recolour the terminal, or fake lines of output."""
    return "".join("?" if unicodedata.category(c) in ("Cc", "Cf") else c for c in text[:width])


def find_store(path: str, *, images_only: bool = False) -> Path:
    """The store folder: DIR itself when it holds catalogue.sqlite, else DIR/store (what --out DIR
    wrote). With `images_only`, a store whose catalogue is lost (only images/) is found too."""
    folder = Path(path)
    for candidate in (folder, folder / "store"):
        if (candidate / "catalogue.sqlite").is_file() or (images_only and (candidate / "images").is_dir()):
            return candidate
    raise FileNotFoundError(f"no run store in {folder} (no catalogue.sqlite there or in {folder / 'store'}); pass "
                            "--store DIR, the folder `workbench generate --out DIR` wrote")


def cmd_import(args) -> int:
    from workbench.store.catalogue import RunStore
    from workbench.store.errors import MetadataError

    # sub-folders too: A1111 keeps outputs/txt2img-images/<date>/*.png
    files = [p for item in args.paths for p in (sorted(Path(item).rglob("*.png")) if Path(item).is_dir() else [Path(item)])]
    if not files:  # before the store is made: a mistyped --store must not leave an empty one
        raise FileNotFoundError("no PNG files found in the given paths (folders are searched with their sub-folders)")
    try:
        folder = find_store(args.store)
    except FileNotFoundError:
        folder = Path(args.store)  # importing into a new store is fine
    store = RunStore(folder)
    imported, known, skipped = 0, 0, 0
    for path in files:
        try:
            stored = store.import_png(path)
        except MetadataError as err:  # one unreadable file must not stop the others
            print(f"skipped: {err}", file=sys.stderr)
            skipped += 1
            continue
        if not stored.added:  # this very image was catalogued already
            known += 1
            continue
        imported += 1
        print(f"{stored.record.source:9} seed {stored.record.request.seed:<11} {shown(stored.record.request.prompt, 60)}")
    print(f"imported {imported} image(s) into {folder}" + (f", {known} already there" if known else "")
          + (f", skipped {skipped}" if skipped else ""))
    return 0 if imported or known else 2


def cmd_list(args) -> int:
    from workbench.store.catalogue import RunStore

    store = RunStore(find_store(args.store))  # listing must not create an empty store where none was
    items = store.images(limit=args.limit)
    if args.json:
        print(json.dumps([{"key": s.key, "path": str(s.path), **s.record.to_dict()} for s in items], indent=2))
        return 0
    for s in items:
        r = s.record.request
        print(f"{s.key[:10]}  {s.record.source:9} seed {r.seed:<10} {r.steps:>3} steps  {shown(r.prompt, 70)}")
    print(f"{len(store)} image(s) in {store.folder}")
    return 0


def cmd_rebuild(args) -> int:
    from workbench.store.catalogue import RunStore

    folder = find_store(args.store, images_only=True)
    if args.recover:  # recover() rebuilds
        count = len(RunStore.recover(folder))
    else:
        count = RunStore(folder).rebuild()
    print(f"catalogued {count} image(s) from the PNGs in {folder}")
    return 0


def register(sub) -> None:
    store = sub.add_parser("store", help="import PNGs from other tools, list or rebuild a run store")
    store_sub = store.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    p = store_sub.add_parser("import", help="import PNGs made by A1111, ComfyUI, InvokeAI, Fooocus or the workbench")
    p.add_argument("paths", nargs="+", help="PNG files or folders of PNGs")
    p.add_argument("--store", required=True)
    p.set_defaults(func=cmd_import)
    p = store_sub.add_parser("list", help="list the images in a store")
    p.add_argument("--store", required=True)
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = store_sub.add_parser("rebuild", help="re-catalogue every PNG in the store from its metadata")
    p.add_argument("--store", required=True)
    p.add_argument("--recover", action="store_true", help="move a corrupt catalogue aside first")
    p.set_defaults(func=cmd_rebuild)
