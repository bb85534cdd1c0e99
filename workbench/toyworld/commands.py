"""`workbench toyworld ...`: train the embedded model from a seed, evaluate it, look at the world.

    workbench toyworld train --out DIR [--seed 0] [--quick]
    workbench toyworld train --estimate          # how long the recipe would take on this machine
    workbench toyworld evaluate [--model-dir DIR] [--prompts 300] [--prompt-seed N] [--steps N] [--guidance G] [--json]
                                [--misses misses.png [--force]]
    workbench toyworld sample --out sheet.png [--n 64] [--seed 0] [--force]   # and sheet.txt, the captions
    workbench toyworld bias-check [--seeds 400] [--guidance 1] [--world] [--store DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.cli import number, whole_number
from workbench.datafile import refuse_existing, write_file


def cmd_train(args) -> int:
    from workbench.cli import CommandError
    from workbench.toyworld.train import train

    if args.estimate:
        from workbench.toyworld.estimate import estimate, report

        print(report(estimate(device=args.device)))
        return 0
    if not args.out:
        raise CommandError("toyworld train needs --out DIR (the folder the model is written to), "
                           "or --estimate to time this machine first")
    record = train(Path(args.out), seed=args.seed, quick=args.quick, device=args.device, first_cycle=args.first_cycle,
                   second_cycle=args.second_cycle, clip_checkpoint=args.clip_checkpoint)
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in record["seconds"].items())
    print(f"trained toy-world model written to {args.out} in {record['total_seconds']:.0f} s ({stages}); "
          f"recipe and times in {Path(args.out) / 'training.json'}")
    return 0


def cmd_evaluate(args) -> int:
    from workbench.toyworld.evaluate import evaluate

    figures = evaluate(model_dir=args.model_dir, n_prompts=args.prompts, steps=args.steps, guidance=args.guidance,
                       quick=args.quick, prompt_seed=args.prompt_seed, progress=True, misses=args.misses,
                       overwrite=args.force)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in _flatten(figures):
            print(f"{key:55} {value:.3f}" if isinstance(value, float) else f"{key:55} {value}")
    if args.misses:  # on stderr, so that --json output stays JSON
        print(f"the images the oracle read wrong are drawn in {args.misses}", file=sys.stderr)
    return 0


def cmd_sample(args) -> int:
    from PIL import Image

    from workbench.generation.grids import grid_image, with_blanks
    from workbench.store.png import png_bytes
    from workbench.toyworld.world import ToyWorld

    if not args.out.lower().endswith(".png"):
        raise ValueError(f"--out is the contact sheet to write, a .png file such as sheet.png; got {args.out!r}")
    sheet, notes = Path(args.out), Path(args.out).with_suffix(".txt")
    for path in (sheet, notes):  # both before either is written
        refuse_existing(path, args.force)
    images, captions, _ = ToyWorld().batch(args.seed, args.n)
    cols = 8
    rows = -(-args.n // cols)
    tiles = with_blanks([Image.fromarray(i) for i in images], rows * cols)
    write_file(sheet, png_bytes(grid_image(tiles, rows, cols, title="toy world samples")), overwrite=args.force)
    write_file(notes, "\n".join(captions) + "\n", overwrite=args.force)
    print(f"{args.n} samples: {sheet} (captions in {notes})")
    return 0


def cmd_bias_check(args) -> int:
    import tempfile

    from workbench.bias import toy_world_check
    from workbench.generation.engine import ImageGenerator
    from workbench.toyworld import paths

    if args.seeds is not None:  # elsewhere --seeds is a list ("0-399"): a count under that name would mislead
        raise ValueError(f"bias-check counts its seeds with --per-role N (seeds 0 to N-1), e.g. --per-role "
                         f"{args.seeds}; --seeds is a seed list in the other commands")
    if args.model_dir and not args.world:
        paths.check_trained(args.model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        if args.world:
            from workbench.toyworld.sampler import WorldSampler

            gen = WorldSampler()
        else:
            gen = ImageGenerator(args.model_dir and str(Path(args.model_dir) / "pipeline"), store=args.store or tmp)
        _, rows = toy_world_check(gen, seeds=range(args.per_role), guidance=args.guidance,
                                  tolerance=args.tolerance / 100)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    source = "world renders (the probe checked against the truth)" if args.world else f"guidance {args.guidance:g}"
    print(f"share of blue figures, {args.per_role} seeds per role, {source} (95 % interval)")
    for r in rows:
        verdict = "ok" if r["within_tolerance"] else f"off by more than {args.tolerance:g} points"
        print(f"  {r['role']:13} planted {r['planted']:4.0%}  measured {r['measured']:6.1%} "
              f"[{r['low']:.1%}, {r['high']:.1%}]  unreadable {r['unreadable']:4.1%}  {verdict}")
    return 0


def _flatten(data, prefix=""):
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def register(sub) -> None:
    toy = sub.add_parser("toyworld", help="train, evaluate or sample the embedded toy-world model")
    toy_sub = toy.add_subparsers(dest="toy_command", metavar="ACTION", required=True)
    p = toy_sub.add_parser("train", help="reproduce the shipped weights from a seed (56 min on 2 idle "
                           "CPU cores of one machine, about 66 on another and 2 h on a slower one: try "
                           "--estimate; other busy processes slow it badly)")
    p.add_argument("--out", help="folder for the model (clip/, pipeline/)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a tiny run that checks the recipe end to end (< 1 min)")
    p.add_argument("--estimate", action="store_true",
                   help="time a few steps of every stage and print how long the recipe would take here; trains nothing")
    p.add_argument("--device", help="cpu or cuda (default: best available)")
    p.add_argument("--first-cycle", metavar="DIR",
                   help="resume at stage 4b (the UNet's second cycle) from a model folder trained up to stage 4")
    p.add_argument("--second-cycle", metavar="DIR",
                   help="resume at stage 4c (the VAE's decoder, then the CLIP on its round trips) from a model "
                        "folder trained up to stage 4b")
    p.add_argument("--clip-checkpoint", metavar="FILE",
                   help="resume after the CLIP stages (2-2c) with this CLIP, saved in float32 by a run of the same "
                        "seed")
    p.set_defaults(func=cmd_train)
    p = toy_sub.add_parser("evaluate", help="the quality figures: oracle and zero-shot accuracies")
    p.add_argument("--model-dir", help="a trained model folder (default: the shipped model)")
    p.add_argument("--prompts", type=whole_number(3), default=300,
                   help="prompts to generate (3 or more), each at 2 seeds (1 with --quick; default 300, so 600 images)")
    p.add_argument("--prompt-seed", type=whole_number(0),
                   help="seed of the prompt set (default: the model card's); another seed gives an independent sample")
    p.add_argument("--steps", type=whole_number(1), help="denoising steps (default: the model's own)")
    p.add_argument("--guidance", type=number(0), help="guidance scale (default: the model's own)")
    p.add_argument("--quick", action="store_true", help="a fast subset")
    p.add_argument("--misses", metavar="PNG", help="also draw the images the oracle read wrong, beside the world's "
                   "renders of their prompts, into this picture")
    p.add_argument("--force", action="store_true", help="replace the --misses picture if it exists")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)
    p = toy_sub.add_parser("sample", help="a contact sheet of world images with their captions")
    p.add_argument("--out", required=True, metavar="FILE.png", help="the contact sheet (a .png file); "
                                                                    "the captions go beside it in FILE.txt")
    p.add_argument("--n", type=whole_number(1), default=64, help="how many world images (default 64)")
    p.add_argument("--seed", type=whole_number(0), default=0)
    p.add_argument("--force", action="store_true", help="replace the sheet and its captions (FILE.txt) if they exist")
    p.set_defaults(func=cmd_sample)
    p = toy_sub.add_parser("bias-check", help="does the bias probe recover the rates planted in the world?")
    p.add_argument("--model-dir", help="a trained model folder (default: the shipped model)")
    p.add_argument("--per-role", type=whole_number(1), default=400,
                   help="images per role, seeds 0 to N-1 (default 400: +-5 points at 50 %%)")
    p.add_argument("--seeds", help=argparse.SUPPRESS)  # its old name, refused with the new one
    p.add_argument("--guidance", type=number(0), default=1.0,
                   help="1 (default) samples the learnt distribution; higher values sharpen it (not used with --world)")
    p.add_argument("--tolerance", type=number(0), default=5.0, help="allowed error in percentage points")
    p.add_argument("--store", help="keep the images in this run store (default: a temporary one)")
    p.add_argument("--world", action="store_true",
                   help="probe the world's own renders instead of the model: checks the probe itself")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bias_check)
