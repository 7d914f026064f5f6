"""The catalog: model specs, their cards, and `build`.

Every builder, ours or a user's, joins the catalog through `@register_model`. A builder is a
plain function whose keyword parameters *are* the model's config: their defaults are the
default config, so one signature is the single source of truth for what can be overridden.

Nothing here imports Keras or TensorFlow; `build` does, through the builder, when it runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from zoo import ensembles, heads, validation

ENSEMBLE_KEY = ensembles.KEY  # a config key of every entry that can be ensembled

# A shape or range template: ints are literal, strings name a config key, callables get the config.
Template = Any

TASKS = (
    "binary classification",
    "image classification",
    "tabular classification",
    "sequence classification",
    "text classification",
    "regression",
)
BACKENDS = ("tensorflow", "jax", "torch")  # Keras 3's backends an entry may declare
# What the catalog's entries declare by default: the backends the contract tests run them under
# (tests/test_contract.py, tests/test_jax_backend.py). Torch is not tested here, so not claimed.
TESTED_BACKENDS = ("tensorflow", "jax")


class UnknownModelError(LookupError, ValueError):
    """Raised for a model name that is not in the catalog."""


@dataclasses.dataclass(frozen=True)
class Reference:
    """Where a model comes from."""

    citation: str
    url: str


@dataclasses.dataclass(frozen=True)
class ReferenceResult:
    """A published result that the model's recipe should reach."""

    dataset: str
    metric: str
    value: float
    source: str = ""


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a model expects per example.

    Args:
        shape: a config key holding the shape (default `"input_shape"`), a literal tuple, or a
            function of the config.
        dtype: the input dtype, e.g. `"float32"` or `"int32"`.
        value_range: inclusive bounds `(low, high)` of meaningful values; a bound may name a
            config key (token ids lie in `(0, "vocab_size")`, with the high bound exclusive).
        integer: values are integers (token ids, binary inputs, pixel counts).
    """

    shape: Template = "input_shape"
    dtype: str = "float32"
    value_range: tuple[Template, Template] = (0.0, 1.0)
    integer: bool = False


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything the catalog knows about one entry. Made by `register_model`."""

    name: str
    family: str
    task: str
    summary: str
    builder: Callable[..., Any] = dataclasses.field(repr=False)
    defaults: Mapping[str, Any]
    input: InputSpec
    output_shape: tuple[Template, ...]
    output: str
    head: str | Callable[[Mapping[str, Any]], str] | None
    tags: tuple[str, ...]
    reference: Reference | None
    reference_result: ReferenceResult | None
    compile: Callable[[Any, Mapping[str, Any]], None] | None = dataclasses.field(repr=False)
    validate: Callable[[Mapping[str, Any]], None] | None = dataclasses.field(repr=False)
    input_rank: int | None
    deterministic: bool
    params: tuple[int, int] | None
    flops: int | None
    backends: tuple[str, ...] = TESTED_BACKENDS
    no_ensemble: str | None = None  # why this entry cannot be ensembled; None: it can
    initialize: Callable[[Any, Any], None] | None = dataclasses.field(default=None, repr=False)

    @property
    def accepted_keys(self) -> tuple[str, ...]:
        """Every config key `zoo.build` takes for this entry: the builder's, and `ensemble_size`
        where the entry can be ensembled."""
        return tuple(sorted(self.defaults)) + (() if self.no_ensemble else (ENSEMBLE_KEY,))

    def resolve_config(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The default config with `overrides` merged over it, validated. `ensemble_size=N > 1`
        (an ensemble of N members, `zoo.ensembles`) is kept in it; 1 is the default and left out.

        Example:
            >>> get_spec("mlp").resolve_config({"hidden_units": [32]})["hidden_units"]
            (32,)
            >>> get_spec("mlp").resolve_config({"ensemble_size": 5})["ensemble_size"]
            5
        """
        overrides = dict(overrides or {})
        size = overrides.pop(ENSEMBLE_KEY, 1)
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise TypeError(
                f"{self.name!r} got unexpected config key{'s' * (len(unknown) > 1)} "
                f"{', '.join(map(repr, unknown))}. "
                f"Accepted keys: {', '.join(self.accepted_keys)}"
            )
        if ensembles.check_size(size) > 1 and self.no_ensemble:
            raise ValueError(f"{self.name!r} cannot be an ensemble ({ENSEMBLE_KEY}={size}): {self.no_ensemble}")
        config = validation.check_config({**self.defaults, **overrides}, self.defaults)
        if self.input_rank is not None and "input_shape" in config:
            validation.check_rank("input_shape", config["input_shape"], self.input_rank,
                                  f"{self.name!r} ({self.family})")
        if self.validate is not None:
            self.validate(config)
        return {**config, ENSEMBLE_KEY: size} if size > 1 else config

    def head_for(self, config: Mapping[str, Any]) -> str | None:
        """The head (`zoo.heads`) this entry outputs with `config`; None for an entry that
        declares none (its models' heads are inferred from their compiled loss).

        Example:
            >>> get_spec("mlp").head_for(get_spec("mlp").resolve_config({"num_classes": 1}))
            'binary_logits'
        """
        member = {key: value for key, value in config.items() if key != ENSEMBLE_KEY}
        head = self.head(member) if callable(self.head) else self.head
        if head is not None and config.get(ENSEMBLE_KEY, 1) > 1:
            return heads.ensemble_of(head)
        return head


def resolve_template(template: Template, config: Mapping[str, Any]) -> Any:
    """Fill a spec's shape or range template from a config.

    Example:
        >>> resolve_template((None, "num_classes"), {"num_classes": 10})
        (None, 10)
    """
    if callable(template):
        return template(config)
    if isinstance(template, str):
        return config[template] if template in config else template
    if isinstance(template, (tuple, list)):
        return tuple(resolve_template(t, config) for t in template)
    return template


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """A model's spec, its merged default config and its size: what `zoo describe` shows.

    `input_shape` and `output_shape` are per example and per batch respectively, with `None`
    for the batch and for variable lengths. Parameter counts and FLOPs (per example, a
    multiply-add counted as two) are for the default config.
    """

    name: str
    family: str
    task: str
    summary: str
    config: dict[str, Any]
    input_shape: tuple[int | None, ...]
    input_dtype: str
    input_range: tuple[float, float]
    output_shape: tuple[int | None, ...]
    output: str
    head: str | None
    tags: tuple[str, ...]
    reference: Reference | None
    reference_result: ReferenceResult | None
    trainable_params: int | None
    non_trainable_params: int | None
    flops: int | None
    backends: tuple[str, ...] = TESTED_BACKENDS

    @property
    def total_params(self) -> int | None:
        if self.trainable_params is None or self.non_trainable_params is None:
            return None
        return self.trainable_params + self.non_trainable_params

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists).

        Example:
            >>> json.dumps(zoo.describe("lenet").to_dict())  # doctest: +SKIP
        """
        out = dataclasses.asdict(self)
        out["total_params"] = self.total_params
        return _jsonable(out)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    return value


# The catalog: `zoo/__init__` imports `zoo.models` after this module, and each family module
# registers its entries on import, so the built-in entries are here before any user code runs.
_REGISTRY: dict[str, ModelSpec] = {}


def _signature_defaults(builder: Callable[..., Any]) -> dict[str, Any]:
    defaults = {}
    for param in inspect.signature(builder).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is param.empty:
            raise TypeError(
                f"Builder {builder.__qualname__!r} has parameter {param.name!r} without a "
                "default. Every builder parameter is a config key and needs a default value."
            )
        defaults[param.name] = param.default
    return defaults


def register_model(
    name: str | None = None,
    *,
    family: str,
    task: str,
    summary: str,
    input: InputSpec = InputSpec(),
    output_shape: Sequence[Template] = (None, "num_classes"),
    output: str | None = None,
    head: str | Callable[[Mapping[str, Any]], str] | None = None,
    tags: Sequence[str] = (),
    reference: Reference | None = None,
    reference_result: ReferenceResult | None = None,
    compile: Callable[[Any, Mapping[str, Any]], None] | None = None,
    validate: Callable[[Mapping[str, Any]], None] | None = None,
    defaults: Mapping[str, Any] | None = None,
    input_rank: int | None = None,
    deterministic: bool = True,
    params: tuple[int, int] | None = None,
    flops: int | None = None,
    backends: Sequence[str] = TESTED_BACKENDS,
    no_ensemble: str | None = None,
    initialize: Callable[[Any, Any], None] | None = None,
    overwrite: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a model builder in the catalog (a decorator; stack it to register variants).

    The builder's keyword parameters are the config keys and their defaults the default
    config; `defaults` overrides some of them for this entry. The builder returns an
    uncompiled `keras.Model`; `compile(model, config)` compiles it for `zoo.build`.

    Args:
        name: catalog name; defaults to the builder's function name.
        family: the model family, e.g. `"lenet"`.
        task: one of `zoo.registry.TASKS`.
        summary: one line for `zoo list`.
        input: what the model takes per example (`InputSpec`).
        output_shape: the batched output shape; entries may name config keys.
        output: what the output means in words, e.g. `"0/1 step: 1 when w·x >= threshold"`;
            defaults to the head's description.
        head: what the outputs are, as `zoo.heads` names them (`"logits"`, `"normal"`, ...), or
            a function of the config where that decides it (one output unit: `"binary_logits"`).
            Exports, uncertainty and recipes follow it. None: inferred from the compiled loss.
        tags: free-form labels for `list_models(tag=...)`.
        reference: the paper or source.
        reference_result: a published result the model's recipe should reach.
        compile: compiles a built model with the family's loss, optimizer and metrics.
        validate: extra checks on the merged config; raise `ValueError` to reject it.
        defaults: per-entry default overrides of the builder's signature defaults.
        input_rank: required length of `input_shape`, if the family fixes it.
        deterministic: inference is a pure function of the input and the weights.
        params: stored `(trainable, non_trainable)` counts for the default config, so cards
            show sizes without building; a test fails when they drift from the model.
        flops: stored FLOPs per example for the default config (None where it depends on
            the input, e.g. the sequence length).
        backends: the Keras backends it runs on (TFP-based entries: TensorFlow only).
        no_ensemble: why the entry cannot be an ensemble (`ensemble_size=N`), e.g. it has fixed
            weights or trains by its own method; None (the default): `zoo.build(name,
            ensemble_size=N)` trains N members of it together (`zoo.ensembles`).
        initialize: a data-dependent initialisation, `initialize(model, training_inputs)` (an
            array, or a dataset of (x, y) batches), that training runs once on a new model before
            `fit`: a sparse GP's inducing inputs start on the data.
        overwrite: replace an existing entry of the same name instead of raising.

    Example:
        >>> @zoo.register_model(family="toy", task="regression", summary="One dense unit.",
        ...                     output_shape=(None, 1), head="values")
        ... def toy_linear(input_shape=(3,)):
        ...     inputs = keras.Input(input_shape)
        ...     return keras.Model(inputs, keras.layers.Dense(1)(inputs), name="toy_linear")
        >>> zoo.build("toy_linear", compile=False).count_params()  # doctest: +SKIP
        4
    """
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {', '.join(map(repr, TASKS))}. Received: task={task!r}")
    if isinstance(backends, str) or not backends or set(backends) - set(BACKENDS):
        raise ValueError(f"`backends` must be a non-empty list drawn from {', '.join(BACKENDS)}. "
                         f"Received: backends={backends!r}")

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        entry = name or builder.__name__
        if entry in _REGISTRY and not overwrite:
            raise ValueError(
                f"A model named {entry!r} is already registered. Pick another name, or pass "
                "overwrite=True to replace it."
            )
        signature_defaults = _signature_defaults(builder)
        unknown = sorted(set(defaults or {}) - set(signature_defaults))
        if unknown:
            raise TypeError(f"`defaults` for {entry!r} name keys that {builder.__qualname__!r} "
                            f"does not take: {', '.join(unknown)}")
        spec = ModelSpec(
            name=entry, family=family, task=task, summary=summary, builder=builder,
            defaults={**signature_defaults, **(defaults or {})}, input=input,
            output_shape=output_shape if callable(output_shape) else tuple(output_shape), output=output or "",
            head=head, tags=tuple(tags),
            reference=reference, reference_result=reference_result, compile=compile,
            validate=validate, input_rank=input_rank, deterministic=deterministic,
            params=params, flops=flops, backends=tuple(backends), no_ensemble=no_ensemble,
            initialize=initialize,
        )
        default_head = spec.head_for(spec.resolve_config())  # a broken default config fails here, not at build
        if default_head is not None:
            heads.get(default_head)  # an unknown head name, too
        _REGISTRY[entry] = spec
        return builder

    return decorator


def unregister_model(name: str) -> None:
    """Remove an entry (for user code and tests that register temporary models)."""
    get_spec(name)
    del _REGISTRY[name]


def get_spec(name: str) -> ModelSpec:
    """The `ModelSpec` registered under `name`; unknown names list the closest matches."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if not isinstance(name, str):
        raise TypeError(f"A model name must be a string. Received: {name!r}")
    close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.5)
    close += [n for n in sorted(_REGISTRY) if name.lower() in n and n not in close][:3]
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise UnknownModelError(
        f"No model named {name!r} in the catalog.{hint} "
        "See zoo.list_models() (or `zoo list`) for every registered name."
    )


def list_models(pattern: str | None = None, *, tag: str | None = None) -> list[str]:
    """Sorted names of registered models, filtered by an fnmatch pattern and/or a tag.

    Example:
        >>> zoo.list_models("lenet*")
        ['lenet', 'lenet5']
        >>> zoo.list_models(tag="recurrent")
        ['bayesian_lstm', 'bayesian_lstm_text', 'lstm_sequence', 'lstm_text']
    """
    names = sorted(_REGISTRY)
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    if tag is not None:
        names = [n for n in names if tag in _REGISTRY[n].tags]
    return names


def card_for(spec: ModelSpec, config: Mapping[str, Any], counts: tuple[int, int] | None,
             flops: int | None) -> ModelCard:
    """Assemble the card of `spec` built with `config` (used by `describe`)."""
    low, high = resolve_template(spec.input.value_range, config)
    head = spec.head_for(config)
    return ModelCard(
        name=spec.name, family=spec.family, task=spec.task, summary=spec.summary,
        config=dict(config), input_shape=tuple(resolve_template(spec.input.shape, config)),
        input_dtype=spec.input.dtype, input_range=(low, high),
        output_shape=_output_shape(spec, config), head=head,
        output=spec.output or (heads.get(head).description if head else ""), tags=spec.tags,
        reference=spec.reference, reference_result=spec.reference_result,
        trainable_params=counts[0] if counts else None,
        non_trainable_params=counts[1] if counts else None, flops=flops, backends=spec.backends,
    )


def _output_shape(spec: ModelSpec, config: Mapping[str, Any]) -> tuple:
    """The batched output shape; an ensemble's has its members on axis 1: (batch, N, units)."""
    shape = tuple(resolve_template(spec.output_shape, config))
    size = config.get(ENSEMBLE_KEY, 1)
    return (shape[0], size, *shape[1:]) if size > 1 else shape


def _keras_backend() -> str:
    import keras

    return keras.backend.backend()


def describe(name: str, **overrides: Any) -> ModelCard:
    """The card of a registered model with its default config, or with `overrides`.

    Built-in entries carry stored parameter counts for their default config, so this does not
    import TensorFlow; otherwise the model is built once to count them. An ensemble's
    (`ensemble_size=N`) counts and FLOPs are N times its member's.

    Example:
        >>> card = zoo.describe("lenet")
        >>> card.config["num_classes"], card.trainable_params
        (10, 61706)
        >>> zoo.describe("lenet", ensemble_size=5).trainable_params
        308530
    """
    spec = get_spec(name)
    config = spec.resolve_config(overrides)
    size = config.get(ENSEMBLE_KEY, 1)
    member = {key: value for key, value in config.items() if key != ENSEMBLE_KEY}
    counts, flops = (spec.params, spec.flops) if member == spec.resolve_config() else (None, None)
    if counts is None:
        from zoo import complexity  # imports Keras: only for entries without stored counts

        counts = complexity.count_params(spec.builder(**member))
    counts = (counts[0] * size, counts[1] * size)
    return card_for(spec, config, counts, flops * size if flops is not None else None)


def build(name: str, *, compile: bool = True, weights: str | os.PathLike | None = None, **overrides: Any):
    """Build the catalog model `name` with `overrides` merged over its default config.

    Returns a `keras.Model` named after the entry. With `compile=True` it is compiled with
    the family's natural loss, optimizer and metrics, so `model.fit(dataset)` works at once.
    `weights` loads trained weights from a run directory (`runs/lenet-digits`), a `.keras` or a
    `.weights.h5` file; a run's recorded config must match this one, and every difference is
    named (`zoo.saving`). (For an entry whose config has a `weights` key of its own, such as
    `mp_neuron`'s fixed weights, `weights=` sets that key.)

    Raises:
        UnknownModelError: `name` is not registered (the message lists close names).
        TypeError: an override key the model does not take (the message lists accepted keys).
        ValueError: an invalid value (the message names the parameter and the value).

    Example:
        >>> model = zoo.build("lenet", input_shape=(32, 32, 3), num_classes=100)
        >>> model.output_shape
        (None, 100)
    """
    spec = get_spec(name)
    if weights is not None and "weights" in spec.defaults:  # the model's own config key
        overrides, weights = {**overrides, "weights": weights}, None
    config = spec.resolve_config(overrides)
    backend = _keras_backend()
    if backend not in spec.backends:
        raise RuntimeError(f"{name!r} runs on the {' or '.join(spec.backends)} backend, and Keras is "
                           f"using {backend!r}. Set KERAS_BACKEND={spec.backends[0]} before importing Keras.")
    size = config.get(ENSEMBLE_KEY, 1)
    member_config = {key: value for key, value in config.items() if key != ENSEMBLE_KEY}
    members = [_build_member(spec, member_config, compile and size == 1) for _ in range(size)]
    if size == 1:
        model = members[0]
    else:
        model = ensembles.ensemble(members, spec.name)
        head = spec.head_for(config)
        if head is not None:
            heads.declare(model, head)
        if compile and spec.compile is not None:  # as a member compiles: its loss, per member
            # A separate member to compile: a compiled member inside the ensemble would carry an
            # optimizer of its own into the ensemble's saved file.
            ensembles.compile_like(model, _build_member(spec, member_config, compile=True))
    if weights is not None:
        from zoo.saving import load_weights_into

        load_weights_into(model, name, config, weights)
    return model


def _build_member(spec: ModelSpec, config: Mapping[str, Any], compile: bool):
    """One model of `spec` with `config` (no ensemble key): built, named, its head declared and,
    with `compile`, compiled."""
    model = spec.builder(**config)
    if model.name != spec.name:
        # Entries that share a builder still get their own name (saved weights load by it).
        model.name = spec.name
    head = spec.head_for(config)
    if head is not None:  # before compiling: a family's compile may follow the head
        heads.declare(model, head)
    if compile and spec.compile is not None:
        spec.compile(model, config)
    return model
