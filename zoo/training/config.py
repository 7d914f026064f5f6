"""Recipe configs: a dataclass of defaults, overridden from the command line, printed and saved.

A recipe subclasses `RecipeConfig`, changes the defaults that reach its published result, and
may add fields. `parse_config` turns command-line flags into an instance:

    --epochs --batch-size --learning-rate --dataset --data-dir --model-dir --export-dir
    --strategy --seed                     the common fields, as flags
    --set key=value                       any field, and any config key of the catalog model
                                          (e.g. --set dropout=0.1 --set filters=8,16)
    --set ensemble_size=N                 a deep ensemble of N members (`zoo.ensembles`); its
                                          export and run dir are named <name>_ensembleN

Some datasets need other defaults than the recipe's main one (the bundled `digits` has 1,437
training images where MNIST has 60,000, so it needs more epochs); `dataset_defaults` holds
those, and they apply only to fields not given on the command line.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from zoo import console, ensembles
from zoo.layout import is_model_name

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker")
PROGRESS = ("batches", "epochs", "none")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class RecipeConfig:
    """Fields every recipe has. Subclasses set the defaults and add their own fields.

    Example:
        >>> @dataclasses.dataclass
        ... class Config(RecipeConfig):
        ...     model: str = "lenet"
        ...     dataset: str = "mnist"
        >>> parse_config(Config, ["--epochs", "3", "--set", "dropout=0.1"]).model_config
        {'dropout': 0.1}
    """

    model: str = "lenet"
    dataset: str = "mnist"
    epochs: int = 10
    batch_size: int = 128  # global: a strategy splits each batch across its replicas
    learning_rate: float = 1e-3
    seed: int = 0
    data_dir: str | None = None  # TFDS' default (~/tensorflow_datasets) when None
    model_dir: str | None = None  # runs/<model>-<dataset> when None
    export_dir: str = "saved_models"
    export_name: str | None = None  # the model's name when None: saved_models/<export_name>/<version>
    strategy: str = "auto"
    # TFDS split strings; mocked data in tests ignores slicing, real data does not.
    train_split: str = "train[:90%]"
    validation_split: str | None = "train[90%:]"
    test_split: str = "test"
    # Performance options; defaults set by benchmarks/train_throughput.py on a 2-core CPU.
    # 16 batches per compiled call: +20-30% examples/s for LeNet on 2 cores (the per-step
    # Python overhead dominates such small models); progress updates every 16 batches.
    steps_per_execution: int = 16
    jit_compile: bool = False
    precision: str = "float32"
    cpu_devices: int | None = None  # split the CPU into N logical devices (to try `mirrored`)
    export: bool = True
    # Keras' bar per epoch ("batches"), one bar over all epochs ("epochs": for runs of many
    # one-step epochs, like a GP's), or nothing.
    progress: str = "batches"
    model_config: dict[str, Any] = dataclasses.field(default_factory=dict)  # catalog overrides

    dataset_defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __post_init__(self) -> None:
        if self.export_name is None:
            self.export_name = self.model
        if self.model_dir is None:
            self.model_dir = str(Path("runs") / f"{self.export_name}-{self.dataset.replace('/', '-')}")
        checks = [
            ("epochs", self.epochs, isinstance(self.epochs, int) and self.epochs >= 1, "an integer >= 1"),
            ("batch_size", self.batch_size, isinstance(self.batch_size, int) and self.batch_size >= 1,
             "an integer >= 1"),
            ("learning_rate", self.learning_rate,
             isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < math.inf,
             "a finite number > 0"),
            ("steps_per_execution", self.steps_per_execution,
             isinstance(self.steps_per_execution, int) and self.steps_per_execution >= 1, "an integer >= 1"),
            ("strategy", self.strategy, self.strategy in STRATEGIES, f"one of {', '.join(STRATEGIES)}"),
            ("precision", self.precision, self.precision in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
            ("progress", self.progress, self.progress in PROGRESS, f"one of {', '.join(PROGRESS)}"),
            ("cpu_devices", self.cpu_devices,
             self.cpu_devices is None or (isinstance(self.cpu_devices, int) and self.cpu_devices >= 1),
             "an integer >= 1 or None"),
        ]
        for name, value, ok, expected in checks:
            if not ok:
                raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
        for field in dataclasses.fields(self):  # inf or NaN would train a NaN model
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"`{field.name}` must be a finite number. Received: {field.name}={value!r}")
        if not is_model_name(self.export_name):
            raise ValueError("`export_name` must be a plain directory name (letters, digits, '_', '.', '-'; "
                             f"not starting with '.'). Received: export_name={self.export_name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as JSON-ready values (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))

    def summary(self) -> str:
        """The resolved config, one `key: value` per line, for the run's log."""
        return "\n".join(f"  {key}: {value}" for key, value in self.to_dict().items())


def parse_config(config_class: type[RecipeConfig], argv: Sequence[str] | None = None, *,
                 description: str | None = None, prog: str | None = None) -> RecipeConfig:
    """Builds `config_class` from command-line flags (`argv`, default `sys.argv[1:]`).

    Unknown `--set` keys, values of the wrong type and config keys the catalog model does
    not accept exit with a message naming the key and what is accepted (argparse's exit 2).

    Example:
        >>> parse_config(RecipeConfig, ["--batch-size", "64", "--set", "jit_compile=true"]).jit_compile
        True
    """
    parser = build_parser(config_class, description=description, prog=prog)
    args = parser.parse_args(argv)
    if args.verbose:
        console.set_verbose()
    given = {name: value for name, value in vars(args).items()
             if name not in ("set", "verbose") and value is not None}
    fields = {field.name: field for field in dataclasses.fields(config_class)}
    hints = typing.get_type_hints(config_class)
    model_config: dict[str, Any] = {}
    for assignment in args.set or []:
        key, _, text = assignment.partition("=")
        key = key.strip().replace("-", "_")
        if not _ or not key:
            parser.error(f"--set expects key=value. Received: {assignment!r}")
        if key in fields and key != "model_config":
            try:
                given[key] = _parse_value(text, hints[key])
            except ValueError as error:
                parser.error(f"--set {key}: {error}")
        else:
            model_config[key] = _parse_value(text, None)
    defaults = config_class.dataset_defaults.get(given.get("dataset", _default(config_class, "dataset")), {})
    values = {**defaults, **given}
    size = model_config.get(ensembles.KEY, 1)
    if isinstance(size, int) and size > 1 and "export_name" not in given:
        # An ensemble's run and export go beside the single model's, not over them.
        base = values.get("export_name", _default(config_class, "export_name")) or values.get(
            "model", _default(config_class, "model"))
        values["export_name"] = f"{base}_ensemble{size}"
    try:
        config = config_class(**values)
    except ValueError as error:
        parser.error(str(error))
    if model_config:
        _check_model_keys(parser, config, model_config, fields)
        for key, value in model_config.items():
            if any(isinstance(v, float) and not math.isfinite(v) for v in (value if isinstance(value, tuple) else (value,))):
                parser.error(f"--set {key}: must be finite. Received: {value!r}")
        config.model_config = {**config.model_config, **model_config}
        try:  # values too, before any data is loaded (the data's keys are checked at build)
            get_spec(config.model).resolve_config(config.model_config)
        except (ValueError, TypeError) as error:
            parser.error(f"--set: {error}")
    return config


def build_parser(config_class: type[RecipeConfig], *, description: str | None = None,
                 prog: str | None = None) -> argparse.ArgumentParser:
    """The recipe's argparse parser: the common flags plus `--set key=value`."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Any config field, and any config key of the model (see `zoo describe MODEL`), "
               "can be set with --set key=value; tuples as comma lists (--set filters=8,16).")
    flags = [("epochs", int, "training epochs"), ("batch_size", int, "global batch size"),
             ("learning_rate", float, "optimizer learning rate"),
             ("dataset", str, "TFDS dataset name (bundled offline: digits, iris_offline)"),
             ("data_dir", str, "TFDS data dir with prepared datasets"),
             ("model_dir", str, "checkpoints, TensorBoard logs, history, curves"),
             ("export_dir", str, "SavedModels go to EXPORT_DIR/<model>/<version>/"),
             ("seed", int, "random seed (weights, shuffling, augmentation)")]
    for name, kind, help_text in flags:
        default = _default(config_class, name)
        suffix = "" if default is None else f" (default: {default})"
        extra = config_class.dataset_defaults
        if extra and any(name in values for values in extra.values()):
            suffix += "; per dataset: " + ", ".join(
                f"{dataset} {values[name]}" for dataset, values in extra.items() if name in values)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None,
                            help=help_text + suffix)
    parser.add_argument("--strategy", choices=STRATEGIES, default=None,
                        help="tf.distribute strategy (default: auto: multi_worker with TF_CONFIG, "
                             "mirrored on several GPUs, one_device on one, default on CPU)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override any config field or model config key, or train a deep ensemble "
                             "of the model (ensemble_size=5); repeatable")
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's own start-up and log lines (or set ZOO_LOG_LEVEL=debug)")
    return parser


def _default(config_class: type[RecipeConfig], name: str) -> Any:
    for field in dataclasses.fields(config_class):
        if field.name == name:
            return field.default if field.default is not dataclasses.MISSING else None
    return None


def _parse_value(text: str, annotation: Any) -> Any:
    """Parses a `--set` value: booleans, None, numbers, comma lists as tuples, else a string."""
    text = text.strip()
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        value: Any = True
    elif lowered in ("false", "no", "off"):
        value = False
    elif lowered in ("none", "null"):
        value = None
    else:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        if isinstance(value, list):
            value = tuple(value)
    kinds = _accepted_types(annotation)
    if kinds is None or isinstance(value, kinds):
        return value
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if str in kinds:
        return text
    names = " or ".join(kind.__name__ for kind in kinds)
    raise ValueError(f"expected {names}. Received: {text!r}")


def _accepted_types(annotation: Any) -> tuple[type, ...] | None:
    """`int | None` -> (int, NoneType); `dict[str, Any]` -> (dict,); None -> None (anything)."""
    if annotation is None:
        return None
    union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
    args = typing.get_args(annotation) if union else (annotation,)
    return tuple(typing.get_origin(arg) or arg for arg in args)


def get_spec(name: str):
    from zoo.registry import get_spec as spec

    return spec(name)


def _check_model_keys(parser, config, model_config, fields) -> None:
    spec = get_spec(config.model)
    accepted = set(spec.accepted_keys)
    unknown = sorted(set(model_config) - accepted)
    if ensembles.KEY in unknown and spec.no_ensemble:
        parser.error(f"--set {ensembles.KEY}: {config.model!r} cannot be an ensemble: {spec.no_ensemble}")
    if unknown:
        parser.error(
            f"--set {unknown[0]}: not a field of this recipe nor a config key of model "
            f"{config.model!r}. Recipe fields: {', '.join(sorted(f for f in fields if f != 'model_config'))}. "
            f"Model keys: {', '.join(sorted(accepted))}.")
