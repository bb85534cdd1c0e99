"""`workbench generate` and `workbench compare`: images, grids and the store from a shell.

    workbench generate "a red circle" --tag render_engines:octane-render --seeds 0-8 --out DIR [--json]
    workbench compare "a red circle" --vary render_engines:octane-render,blender-cycles --seeds 0-3 --out DIR
    workbench compare "a red circle on white" --replace red --with red,blue,green --seeds 0-3 --out DIR

Images go into DIR/store (SQLite catalogue + PNGs with provenance), and the grid into DIR.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from workbench.cli import (
    add_negative_prompt,
    add_policy_options,
    library_from,
    number,
    policy_from,
    say_warnings,
    whole_number,
)


def _out_dir(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".workbench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"cannot write to the output folder {out}: {err.strerror}; "
                              "choose a folder you can write to with --out") from None
    return out


def _check_arguments(args, compare: bool = False) -> None:
    """Refuse bad arguments before the model loads (minutes for a real one) and --out is made."""
    from workbench.generation.defaults import check_steps
    from workbench.generation.seeds import parse_seeds

    parse_seeds(args.seeds)
    if args.steps is not None:
        check_steps(args.steps, "--steps")
    if args.size is not None and args.size % 8:  # every Stable Diffusion VAE needs a multiple of 8
        raise ValueError(f"--size must be a multiple of 8, got {args.size}; try {max(8, round(args.size / 8) * 8)}")
    if compare and not (args.vary or args.replace):
        raise ValueError("say what to vary: --vary CATEGORY:ID1,ID2 or --replace TEXT --with A,B")
    if compare and args.vary and args.replace:
        raise ValueError("give --vary (modifiers) or --replace with --with (text), not both; run compare twice")
    if compare and args.replace:
        _values(args.with_)
    if compare and args.vary:
        _vary_refs(args.vary)


def _generator(args, out: Path, policy):
    from workbench.generation.engine import ImageGenerator
    from workbench.generation.loading import load_model

    model = load_model(args.model, device=args.device, dtype=args.dtype, trust_pickle=args.trust_pickle,
                       config=args.model_config)
    return ImageGenerator(model, store=out / "store", progress=not args.json, policy=policy)


def _gen_kwargs(args) -> dict:
    return {"steps": args.steps, "guidance": args.guidance, "width": args.size, "height": args.size}


def cmd_generate(args) -> int:
    from workbench.generation.grids import variation_grid
    from workbench.prompts.compose import compose

    _check_arguments(args)
    out, policy = _out_dir(args.out), policy_from(args)
    composition = compose(args.prompt, args.tag or (), args.negative_prompt, library=library_from(args), policy=policy)
    for warning in composition.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    gen = _generator(args, out, policy)
    with warnings.catch_warnings(record=True) as found:  # said as warning lines, as compare does
        warnings.simplefilter("always")
        grid = variation_grid(gen, composition, args.seeds, **_gen_kwargs(args))
    say_warnings(found)
    grid_path = grid.save(out / "grid.png")
    rows = [{"seed": r.request.seed, "path": str(r.path), "cached": r.cached, "key": r.record.key}
            for r in grid.results]
    if args.json:
        print(json.dumps({"prompt": composition.prompt, "grid": str(grid_path), "images": rows}, indent=2))
    else:
        made = sum(not r["cached"] for r in rows)
        print(f"{len(rows)} images ({made} new, {len(rows) - made} from the store) in {out / 'store'}")
        print(f"grid: {grid_path}")
    return 0


def cmd_compare(args) -> int:
    from workbench.generation.grids import compare_modifiers, compare_prompts

    _check_arguments(args, compare=True)
    out, policy = _out_dir(args.out), policy_from(args)
    gen = _generator(args, out, policy)
    with warnings.catch_warnings(record=True) as found:  # policy findings under --warn-only, said as warnings
        warnings.simplefilter("always")
        if args.vary:
            grid = compare_modifiers(gen, args.subject, _vary_refs(args.vary), args.seeds, base_tags=args.tag or (),
                                     negative_prompt=args.negative_prompt, library=library_from(args), policy=policy,
                                     **_gen_kwargs(args))
        else:
            grid = compare_prompts(gen, args.subject, args.replace, _values(args.with_), args.seeds,
                                   negative_prompt=args.negative_prompt, **_gen_kwargs(args))
    say_warnings(found)
    path = grid.save(out / "comparison.png")
    if args.json:
        print(json.dumps({"grid": str(path), "rows": grid.row_titles,
                          "images": [str(r.path) for r in grid.results]}, indent=2))
    else:
        print(f"comparison grid ({grid.rows} rows x {grid.cols} seeds): {path}")
    return 0


def _vary_refs(text: str) -> list[str]:
    """`--vary decades:1960s,1980s` as refs, each once."""
    from workbench.prompts.library import parse_ref

    category, ids = parse_ref(text)
    refs = [f"{category}:{i.strip()}" for i in ids.split(",") if i.strip()]
    twice = sorted({ref for ref in refs if refs.count(ref) > 1})
    if twice:
        raise ValueError(f"--vary lists {', '.join(twice)} more than once; give each modifier once")
    return refs


def _values(text: str | None) -> list[str]:
    """Comma-separated values; a value that contains commas is written in double quotes (as in A1111)."""
    import csv

    if not text:
        raise ValueError('--replace needs --with, e.g. --with "red,blue" (quote values that contain commas)')
    return [v.strip() for v in next(csv.reader([text], skipinitialspace=True))]


def _common(p, seeds: str) -> None:
    p.add_argument("--seeds", default=seeds, help=f"seeds: a range like 0-8, or a list like 1,5,9 (default {seeds})")
    p.add_argument("--out", required=True, help="output folder (images, store, grid)")
    p.add_argument("--model", help="hub id, diffusers folder or .safetensors file (default: the toy-world model)")
    p.add_argument("--steps", type=whole_number(1), help="denoising steps (default: the model's own, else 25)")
    p.add_argument("--guidance", type=number(0),
                   help="classifier-free guidance scale (default: the model's own, else 7.5)")
    p.add_argument("--size", type=whole_number(8), help="image width and height (default: the model's native size)")
    p.add_argument("--tag", action="append", metavar="CATEGORY:ID", help="modifiers to apply (repeatable)")
    p.add_argument("--device", help="cpu, cuda, mps (default: best available)")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"])
    p.add_argument("--trust-pickle", action="store_true", help="allow a pickle (.ckpt) checkpoint you trust")
    p.add_argument("--model-config", help="for a single-file checkpoint offline: a diffusers folder (or cached hub "
                                          "id) of the same architecture to take its configuration from")
    add_policy_options(p)
    p.add_argument("--json", action="store_true")


def register(sub) -> None:
    p = sub.add_parser("generate", help="seeded variations of a prompt, as images, a grid and a store")
    p.add_argument("prompt")
    add_negative_prompt(p, "negative prompt")
    _common(p, "0-8")
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("compare", help="a side-by-side grid: one row per modifier (or replacement), same seeds")
    p.add_argument("subject")
    p.add_argument("--vary", metavar="CATEGORY:ID1,ID2,...", help="modifiers to compare, one row each")
    p.add_argument("--replace", metavar="TEXT", help="text in the prompt to replace (Prompt S/R)")
    p.add_argument("--with", dest="with_", metavar="A,B,...", help="replacements for --replace")
    add_negative_prompt(p, "negative prompt, every row's")
    _common(p, "0-3")
    p.set_defaults(func=cmd_compare)
