"""The `zoo` command. `zoo list` and `zoo describe` read catalog metadata only, so they answer
without importing TensorFlow.

Example:
    $ zoo list 'lenet*'
    $ zoo list --tag recurrent --json
    $ zoo describe lenet5
    $ zoo train lenet_mnist --dataset digits --epochs 5
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from collections.abc import Sequence

import zoo
from zoo import console
from zoo.registry import UnknownModelError, get_spec
from zoo._lazy import lazy_import
from zoo.training.script import available_recipes, find_recipe

# Each subcommand's module loads when that command runs (or builds its flags): `zoo list` and
# every `--help` stay free of TensorFlow.
api = lazy_import("zoo.serving.api")  # `zoo serve` is a thin layer over the Python API
launch = lazy_import("zoo.training.launch")
predict_cli = lazy_import("zoo.serving.predict_cli")
report = lazy_import("zoo.training.report")
serving_server = lazy_import("zoo.serving.server")


def _format_count(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return str(value)


def _list(args: argparse.Namespace) -> int:
    names = zoo.list_models(args.pattern, tag=args.tag)
    if args.json:
        print(json.dumps([_summary(name) for name in names], indent=2))
        return 0
    if not names:
        print(f"No model matches pattern={args.pattern!r} tag={args.tag!r}. "
              "Try `zoo list` for the whole catalog.", file=sys.stderr)
        return 1
    rows = [(n, s.family, s.task, _format_count(sum(s.params) if s.params else None), s.summary)
            for n, s in ((n, get_spec(n)) for n in names)]
    header = ("NAME", "FAMILY", "TASK", "PARAMS", "SUMMARY")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])
    return 0


def _summary(name: str) -> dict:
    spec = get_spec(name)
    return {"name": name, "family": spec.family, "task": spec.task, "summary": spec.summary,
            "tags": list(spec.tags),
            "total_params": sum(spec.params) if spec.params else None}


def _describe(args: argparse.Namespace) -> int:
    described = zoo.describe(args.name)
    card = described.to_dict()
    if args.json:
        print(json.dumps(card, indent=2))
        return 0
    print(f"{card['name']}: {card['summary']}")
    print(f"  family        {card['family']}")
    print(f"  task          {card['task']}")
    print(f"  tags          {', '.join(card['tags']) or '-'}")
    low, high = card["input_range"]
    values = "any real values" if low is None and high is None else f"values in {card['input_range']}"
    print(f"  input         shape {tuple(card['input_shape'])}, {card['input_dtype']}, {values}")
    print(f"  output        shape {tuple(card['output_shape'])}, {card['output']}")
    if card["head"]:  # what exports serve and uncertainty reads: zoo.heads
        print(f"  head          {card['head']}")
    print(f"  parameters    {card['trainable_params']:,} trainable, "
          f"{card['non_trainable_params']:,} non-trainable")
    print(f"  FLOPs/example {'-' if card['flops'] is None else format(card['flops'], ',')}")
    print(f"  backends      {', '.join(card['backends'])}")
    print("  config (override with zoo.build(name, key=value)):")
    for key, value in described.config.items():
        print(f"    {key} = {value!r}")
    if card["reference"]:
        print(f"  reference     {card['reference']['citation']}\n"
              f"                {card['reference']['url']}")
    if card["reference_result"]:
        result = card["reference_result"]
        print(f"  published     {result['metric']} {result['value']} on {result['dataset']}"
              f" ({result['source']})")
    return 0


def _runs(args: argparse.Namespace) -> int:

    runs = report.list_runs(args.dir)
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print(f"No runs in {args.dir}/. Start one: zoo train lenet_mnist --dataset digits", file=sys.stderr)
        return 1
    rows = [(run["run"], run["model"], run["dataset"],
             f"{run['epochs']}" if run["finished"] else f"{run['epochs']}/{run['planned_epochs']} (stopped)",
             ", ".join(f"{key} {value:.4f}" for key, value in list(run["test"].items())[:3]) or "-",
             run["export"] or "-") for run in runs]
    header = ("RUN", "MODEL", "DATASET", "EPOCHS", "TEST", "EXPORT")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def _print_recipes() -> int:
    recipes = available_recipes()
    width = max(map(len, recipes), default=0)
    print("Recipes (`zoo train NAME --help` shows a recipe's flags):")
    for name, (_, summary) in recipes.items():
        print(f"  {name.ljust(width)}  {summary}")
    print("Example: zoo train lenet_mnist --dataset digits   (bundled data, no download)")
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.recipe is None:
        return _print_recipes()
    try:
        path = find_recipe(args.recipe)
    except LookupError as error:
        print(f"zoo: error: {error}", file=sys.stderr)
        return 2
    argv = sys.argv
    sys.argv = [f"zoo train {path.stem}", *args.args]
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        sys.argv = argv
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo", description="Keras Zoo: reference Keras 3 models behind one call.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {getattr(zoo, '__version__', '?')}")
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's own start-up and log lines (or set ZOO_LOG_LEVEL=debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="list the catalog's models",
                                  description="List registered models, sorted by name.")
    listing.add_argument("pattern", nargs="?", metavar="PATTERN",
                         help="fnmatch-style pattern, e.g. 'lenet*' (quote it in the shell)")
    listing.add_argument("--tag", metavar="T", help="only models with tag T, e.g. recurrent")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_list)

    describe = commands.add_parser(
        "describe", help="show a model's card",
        description="Show a model's card: spec, default config, parameter counts and FLOPs.")
    describe.add_argument("name", metavar="NAME", help="catalog name, e.g. lenet")
    describe.add_argument("--json", action="store_true", help="print the card as JSON")
    describe.set_defaults(run=_describe)

    runs = commands.add_parser("runs", help="list the training runs under runs/",
                               description="List the runs under DIR (default runs/), newest first: model, "
                                           "dataset, epochs, test metrics and export, from their files.")
    runs.add_argument("--dir", default="runs", metavar="DIR", help="where the runs are (default runs)")
    runs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    runs.set_defaults(run=_runs)

    train = commands.add_parser(
        "train", help="run a training recipe",
        description="Run a training recipe by name (`zoo train` lists them) or by path; everything "
                    "after the name goes to the recipe: `zoo train lenet_mnist --help` lists its flags.")
    train.add_argument("recipe", metavar="RECIPE", nargs="?",
                       help="e.g. lenet_mnist, or path/to/recipe.py; none: list the recipes")
    train.add_argument("args", nargs=argparse.REMAINDER, help="the recipe's own flags")
    train.set_defaults(run=_train)

    launcher = commands.add_parser(
        "launch", help="train a recipe on N local worker processes (MultiWorkerMirroredStrategy)",
        description=launch.__doc__.split("\n\n")[0].replace("`", ""),
        epilog="\n\n".join(launch.__doc__.split("\n\n")[1:4]), formatter_class=argparse.RawDescriptionHelpFormatter)
    launch.add_arguments(launcher)
    launcher.set_defaults(run=launch.launch)

    serve = commands.add_parser(
        "serve", help="serve exported models with TensorFlow Serving's REST API",
        description="Serve every model under --model-base-path with TensorFlow Serving's REST API "
                    "(GET /v1/models/NAME, /metadata, POST :predict); new versions load without a restart.")
    serving_server.add_arguments(serve)
    serve.set_defaults(run=_serve)

    predict = commands.add_parser(
        "predict", help="send an input to a served model and print the answer",
        description=predict_cli.__doc__.split("\n\n")[0].replace("`", ""),
        epilog="\n".join(predict_cli.__doc__.split("\n\n")[1:2]), formatter_class=argparse.RawDescriptionHelpFormatter)
    predict_cli.add_arguments(predict)
    predict.set_defaults(run=predict_cli.predict)
    return parser


def _serve(args: argparse.Namespace) -> int:
    return api.serve(**{key: value for key, value in vars(args).items() if key not in ("command", "run", "verbose")})


def _shadowed() -> str | None:
    """What shadows the package when `zoo` was imported from a directory that is not it.

    A directory named `zoo` without an `__init__.py` in the current directory (a project, or
    the parent of a clone named `zoo`) becomes a namespace package that wins over an editable
    install; the package's modules still load, but `zoo/__init__.py` never runs.
    """
    package = sys.modules.get("zoo")
    if package is None or getattr(package, "__file__", None):
        return None
    places = [str(p) for p in getattr(package, "__path__", [])]
    return (f"`import zoo` found the directory {places[0] if places else '?'} (no __init__.py), not the Keras "
            "Zoo package: a directory named `zoo` where Python looks first (usually the current directory) "
            "shadows it. Run from another directory or rename that one; a regular `pip install .` is not "
            "shadowed this way.")


def main(argv: Sequence[str] | None = None) -> int:
    problem = _shadowed()
    if problem:
        print(f"zoo: error: {problem}", file=sys.stderr)
        return 2
    args = make_parser().parse_args(argv)
    if args.verbose:
        console.set_verbose()
    try:
        return args.run(args)
    except UnknownModelError as error:
        print(f"zoo: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
