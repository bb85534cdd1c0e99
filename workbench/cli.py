"""The `workbench` command: the workbench's jobs from a shell.

    workbench tags list [--category NAME] [--search TEXT] [--json]
    workbench tags import FILE --format a1111|fooocus|wildcards [--category NAME] --out DIR [--force]
    workbench tags export --format a1111|fooocus|wildcards|yaml --category NAME --out FILE [--force]
    workbench compose "a lighthouse" --tag render_engines:octane-render --tag decades:1960s [--json]
    workbench expand "a {red|blue} house, __decades__" [--random N --seed S] [--cap N]

Mistakes in what the user typed (an unknown tag, a refused prompt, a malformed file)
print one line to stderr and exit with status 2; anything else is a bug and shows
its traceback. Heavy modules are imported inside the command that needs them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

from workbench import __version__
from workbench.datafile import DataFileError

EXIT_USAGE = 2


class CommandError(Exception):
    """A user-facing error raised by a command; printed without a traceback."""


def say_warnings(found) -> None:
    """Warnings caught while a command ran, once each, as `warning:` lines (not library noise)."""
    ours = [w for w in found if issubclass(w.category, UserWarning) and not issubclass(w.category, DeprecationWarning)]
    for message in dict.fromkeys(str(w.message) for w in ours):  # pyparsing's deprecations are UserWarnings too
        print(f"warning: {message}", file=sys.stderr)


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the input was wrong', not 'the program is broken'."""
    from workbench.prompts.library import UnknownTagError
    from workbench.prompts.policy import PolicyRefusal
    from workbench.store.errors import StoreError

    # OSError: the file system said no (a missing or existing file, a name too long, a full disk)
    return (CommandError, DataFileError, UnknownTagError, PolicyRefusal, StoreError, ValueError, OSError)


def add_negative_prompt(parser, help: str = "negative prompt text") -> None:
    """`--negative-prompt` (diffusers' name; `--negative` for short), read back as args.negative_prompt."""
    parser.add_argument("--negative-prompt", "--negative", dest="negative_prompt", default="", help=help)


def whole_number(minimum: int):
    """An argparse type: a whole number of at least `minimum` (argparse then names the option)."""
    return _at_least(minimum, int, "a whole number", f"must be {minimum} or more")


def number(minimum: float):
    """An argparse type: a finite number of at least `minimum` (nan and inf are refused too)."""
    return _at_least(minimum, float, "a number", f"must be a number, {minimum:g} or more")


def _at_least(minimum, convert, kind: str, rule: str):
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not math.isfinite(value) or value < minimum:
            raise argparse.ArgumentTypeError(f"{rule}, got {text.strip()}")
        return value

    return parse


def library_from(args):
    """The tag library with the user's `--tags-dir` folders."""
    from workbench.prompts.library import TagLibrary

    return TagLibrary.default(args.tags_dir or ())


def add_policy_options(p) -> None:
    p.add_argument("--policy", action="append", metavar="PATH", help="extra opt-out or blocklist files/folders")
    p.add_argument("--warn-only", action="store_true", help="report policy findings as warnings instead of refusing")


def policy_from(args):
    """The shipped policy with the user's `--policy` files, refusing unless `--warn-only`."""
    from workbench.prompts.policy import Policy

    return Policy.default(args.policy or (), mode="warn" if args.warn_only else "refuse")


# --- tags ---------------------------------------------------------------------------------

def cmd_tags_list(args) -> int:
    library = library_from(args)
    tags = library.search(args.search or "", args.category)
    if args.json:
        print(json.dumps([{"ref": t.ref, "label": t.label, "prompt": t.prompt, "negative": t.negative,
                           "description": t.description} for t in tags], indent=2, ensure_ascii=False))
        return 0
    for category in library:
        mine = [t for t in tags if t.category == category.name]
        if mine:
            print(f"{category.name}  ({category.label}, {len(mine)} tags)")
            width = max(len(t.id) for t in mine)
            for t in mine:
                print(f"  {t.id:<{width}}  {t.prompt}")
    return 0


def cmd_tags_import(args) -> int:
    from workbench.prompts.interchange import READERS, slug, write_tag_file

    source = Path(args.file)
    category = READERS[args.format](source, args.category or slug(source.stem).replace("-", "_"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = write_tag_file(category, out / f"{category.name}.yaml", overwrite=args.force)
    print(f"imported {len(category)} tags into {path}; use them with --tags-dir {out}")
    return 0


def cmd_tags_export(args) -> int:
    from workbench.prompts.interchange import WRITERS, write_tag_file

    library = library_from(args)
    category = library.category(args.category)
    write = write_tag_file if args.format == "yaml" else WRITERS[args.format]
    path = write(category, args.out, overwrite=args.force)
    print(f"exported {len(category)} tags to {path}")
    return 0


# --- composition ----------------------------------------------------------------------------

def cmd_compose(args) -> int:
    from workbench.prompts.compose import compose

    result = compose(args.subject, args.tag or (), args.negative_prompt, library=library_from(args),
                     policy=policy_from(args))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(f"prompt:    {result.prompt}")
    print(f"negative:  {result.negative_prompt}")
    print(f"tokens:    {result.tokens}")
    print(f"modifiers: {', '.join(m.ref for m in result.modifiers) or '(none)'}")
    return 0


def cmd_expand(args) -> int:
    from workbench.prompts.templates import TemplateExpander

    expander = TemplateExpander(library_from(args), args.wildcards or ())
    with warnings.catch_warnings(record=True) as found:  # the cap's note, as a line on stderr
        warnings.simplefilter("always")
        if args.random:
            prompts = expander.expand(args.template, "random", args.random, args.seed)
        else:
            prompts = expander.expand(args.template, "combinatorial", args.cap)
    say_warnings(found)
    print(json.dumps(prompts, indent=2, ensure_ascii=False) if args.json else "\n".join(prompts))
    return 0


# --- parser --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="Prompt Workbench: compose, generate, compare, map.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--tags-dir", action="append", metavar="DIR",
                        help="extra tag files or folders to load beside the shipped ones (repeatable)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    tags = sub.add_parser("tags", help="list, import and export modifier libraries")
    tags_sub = tags.add_subparsers(dest="tags_command", metavar="ACTION", required=True)
    p = tags_sub.add_parser("list", help="list the tags, by category")
    p.add_argument("--category", help="only this category (e.g. render_engines)")
    p.add_argument("--search", help="only tags whose id, label, prompt or description contains TEXT")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tags_list)
    p = tags_sub.add_parser("import", help="import an A1111 styles.csv, Fooocus style JSON or wildcard .txt")
    p.add_argument("file")
    p.add_argument("--format", required=True, choices=["a1111", "fooocus", "wildcards"])
    p.add_argument("--category", help="category name for the imported tags (default: from the file name)")
    p.add_argument("--out", required=True, help="folder to write the tag file into")
    p.add_argument("--force", action="store_true", help="replace a tag file of the same name in --out")
    p.set_defaults(func=cmd_tags_import)
    p = tags_sub.add_parser("export", help="export a category for A1111, Fooocus or dynamicprompts")
    p.add_argument("--format", required=True, choices=["a1111", "fooocus", "wildcards", "yaml"])
    p.add_argument("--category", required=True)
    p.add_argument("--out", required=True, help="file to write")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_tags_export)

    p = sub.add_parser("compose", help="compose a prompt from a subject and tags")
    p.add_argument("subject", help='what the image shows, e.g. "a lighthouse"')
    p.add_argument("--tag", action="append", metavar="CATEGORY:ID", help="a modifier to apply (repeatable, in order)")
    add_negative_prompt(p)
    add_policy_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compose)

    p = sub.add_parser("expand", help="expand a dynamicprompts template ({a|b}, __category__)")
    p.add_argument("template")
    p.add_argument("--random", type=whole_number(1), metavar="N", help="N seeded random prompts instead of all combinations")
    p.add_argument("--seed", type=whole_number(0), default=0)
    p.add_argument("--cap", type=whole_number(1), help="most combinations to list (default 1000, with a warning "
                                                        "when there are more)")
    p.add_argument("--wildcards", action="append", metavar="DIR", help="folder of .txt wildcard files")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_expand)

    for register in _extensions():
        register(sub)
    return parser


def _extensions():
    """Sub-commands that live beside their capability (generation, maps, toy world, demo)."""
    import importlib

    for name in ("workbench.generation.commands", "workbench.store.commands", "workbench.maps.commands",
                 "workbench.toyworld.commands",
                 "workbench.demo"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        yield module.register


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args) or 0
        sys.stdout.flush()  # here, not at exit: a closed pipe must meet the handler below
        return code
    except BrokenPipeError:  # `workbench tags list | head`: the reader has all it wanted
        # Python flushes stdout again at exit and would print a second error; point it at devnull
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # as a program killed by SIGPIPE, which is what shells expect
    except user_errors() as err:
        message = str(err) or type(err).__name__
        if isinstance(err, OSError) and err.strerror and err.filename:  # not "[Errno 21] Is a directory: 'x'"
            message = f"{err.filename}: {err.strerror.lower()}; check the path"
        print(f"workbench: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("workbench: interrupted; finished images are kept in the store", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
