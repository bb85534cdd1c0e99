"""`workbench map`: a run store's prompts and images as one standalone HTML map.

    workbench map --store runs/demo --out map.html [--projection umap|pca] [--color-by modifier]
                  [--centred] [--clip-model NAME --pretrained TAG|FILE] [--run N] [--limit N]

The HTML file carries plotly.js inline, so it opens offline; every prompt is escaped.
"""

from __future__ import annotations

import sys

from workbench.cli import whole_number

# The same as workbench.maps.points.COLOUR_FIELDS (a test checks), kept here so that building the
# CLI parser does not import numpy.
COLOUR_FIELDS = ("modifier", "category", "seed", "model", "source", "kind")


def cmd_map(args) -> int:
    from workbench.embeddings.clip import ClipEmbedder
    from workbench.maps.figures import export_html, map_figure
    from workbench.maps.points import points_from_store
    from workbench.maps.state import LatentMapState
    from workbench.store.catalogue import RunStore
    from workbench.store.commands import find_store

    if not args.out.lower().endswith((".html", ".htm")):
        raise ValueError(f"--out is the HTML file to write, e.g. map.html; got {args.out!r}")
    if args.pretrained and not args.clip_model:
        raise ValueError(f"--pretrained {args.pretrained} names weights for an open_clip model; add --clip-model "
                         "NAME (e.g. ViT-B-32), or leave both out for the toy-world CLIP")
    if args.clip_model and not args.pretrained:
        raise ValueError(f"--clip-model {args.clip_model} without --pretrained would map with random weights; "
                         "add --pretrained TAG or FILE (or leave both out for the toy-world CLIP)")
    store = RunStore(find_store(args.store))
    clip = ClipEmbedder(args.clip_model, args.pretrained, store=store, progress=not args.quiet)
    points = points_from_store(store, clip, run=args.run, limit=args.limit)
    if args.projection == "umap" and not args.quiet:
        print("computing the UMAP map (the first run on this machine compiles numba kernels: about a minute)…",
              file=sys.stderr)
    state = LatentMapState(points, projection=args.projection, colour_by=args.color_by, centred=args.centred,
                           n_components=3 if args.three_d else 2, background=False,
                           title=f"{len(points)} points from {store.folder}")
    if state.error:  # UMAP could not run (e.g. under 3 points): the PCA map is written, and the reason said
        print(f"note: {state.error}", file=sys.stderr)
    path = export_html(map_figure(state.points, state.layout, state.colour_by, title=state.title), args.out)
    texts = int((~points.is_image).sum())
    print(f"map of {texts} prompts and {len(points) - texts} images ({state.shown.upper()}"
          f"{', centred' if args.centred else ''}, coloured by {args.color_by}): {path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("map", help="a run store's prompts and images on one CLIP map, as a standalone HTML file")
    p.add_argument("--store", default=".", metavar="DIR",
                   help="the run store (or the --out folder of `workbench generate`); default: the current folder")
    p.add_argument("--out", required=True, metavar="FILE.html", help="the HTML file to write")
    p.add_argument("--projection", choices=["umap", "pca"], default="umap", help="default: umap")
    p.add_argument("--color-by", "--colour-by", dest="color_by", choices=COLOUR_FIELDS, default="modifier",
                   help="what the colours show (default: modifier)")
    p.add_argument("--centred", action="store_true",
                   help="centre texts and images separately (closes CLIP's modality gap)")
    p.add_argument("--3d", dest="three_d", action="store_true", help="a 3-D map")
    p.add_argument("--run", type=int, help="only the images of this run")
    p.add_argument("--limit", type=whole_number(1), help="at most this many images")
    p.add_argument("--clip-model", help="open_clip model name (default: the toy-world CLIP)")
    p.add_argument("--pretrained", help="open_clip pretrained tag or local checkpoint file")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_map)
