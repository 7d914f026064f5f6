"""Versioned, atomic SavedModel export in the layout TensorFlow Serving loads.

    saved_models/<model_name>/<version>/      integer versions; the next free one by default
        saved_model.pb, variables/            signature `serving_default`: a named input, and
                                              outputs `logits`, `probabilities`, `classes` for
                                              classifiers (`classes` alone for threshold units),
                                              `mean` and `std` for probabilistic regressors,
                                              `predictions` for plain regressors
        assets.extra/model_card.json          name, config, dataset, metrics, versions, commit
        assets.extra/tf_serving_warmup_requests   PredictionLog records TF Serving replays

A version is written to a hidden temporary directory beside it and renamed into place only
when complete, so a crash never leaves a half-written version that a server could load (TF
Serving, like `zoo serve`, only looks at directories named by an integer). The temporary
directory is named after its host and process (`.3.incomplete-<host>-<pid>-<random>`); a process
killed while exporting cannot remove it, so the next export into the same model directory
removes those whose process is gone (same host, POSIX), and leaves every other one alone.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import zoo
from zoo import heads
from zoo.heads import head_of, model_input_spec  # noqa: F401  (public here too)
from zoo.layout import (  # noqa: F401  (check_export_target, list_versions, read_card: public here too)
    ASSETS_EXTRA, ATTENTION_SIGNATURE, CARD_FILE, DEFAULT_SIGNATURE, WARMUP_FILE, check_export_target, list_versions,
    read_card)


def next_version(model_dir: str | os.PathLike) -> int:
    """One more than the largest integer version under `model_dir` (1 when there is none).

    Example:
        >>> next_version("/nonexistent/lenet")
        1
    """
    return max(list_versions(model_dir), default=0) + 1


def export_model(model, export_dir: str | os.PathLike = "saved_models", *, name: str | None = None,
                 version: int | None = None, head: str | None = None, input_name: str = "inputs",
                 input_spec: tf.TensorSpec | None = None, preprocessor=None,
                 card: Mapping[str, Any] | None = None, warmup_inputs=None,
                 mc_samples: int | None = None,
                 target_scale: tuple[float, float] | None = None) -> Path:
    """Exports `model` to `export_dir/<name>/<version>/` atomically; returns that path.

    `name` defaults to the model's name, `version` to the next free integer, `head` to what
    the model's loss says it outputs. `preprocessor` (e.g. a `TextVectorization` layer) runs
    inside the signature before the model, with `input_spec` describing the raw input.
    `card` is stored as `assets.extra/model_card.json` with library versions and the git
    commit added; `warmup_inputs` (a few real inputs) become TF Serving warm-up requests.

    `mc_samples=S` is for models whose predictions are samples (Bayesian layers, MC
    dropout): `serving_default` then returns, per input, the mean `probabilities` over S
    passes, their `classes` and the predictive `entropy` (nats) for classifiers, or the
    predictive `mean`, `std` and its `aleatoric_std` and `epistemic_std` parts for Normal
    regressors; a second signature, `sample`, returns one pass.

    An ensemble (`zoo.build(name, ensemble_size=N)`) serves its members' mixture, exact in one
    pass: `probabilities`, `classes`, `entropy`, `mutual_information` (or `mean`, `std` and its
    parts); its `members` signature returns each member's own outputs, (batch, N, ...).

    `target_scale=(loc, scale)` maps a regressor trained on standardised targets back to
    target units: means become loc + scale * mean and stds scale * std.

    Example:
        >>> path = export_model(zoo.build("lenet"), "saved_models", input_name="images")  # doctest: +SKIP
        >>> path.name  # doctest: +SKIP
        '1'
    """
    name = name or model.name
    parent = check_export_target(export_dir, name)
    kind = heads.get(head or head_of(model))
    if mc_samples is not None and (not isinstance(mc_samples, int) or mc_samples < 1 or not kind.sample_outputs):
        raise ValueError("`mc_samples` must be a positive integer, for a model whose head is one of "
                         f"{', '.join(heads.sampled_heads())}. Received: mc_samples={mc_samples!r} "
                         f"for head={kind.name!r}")
    if target_scale is not None and (kind.is_classifier or len(target_scale) != 2 or not target_scale[1] > 0):
        raise ValueError("`target_scale` must be (loc, scale > 0), for a regressor. Received: "
                         f"target_scale={target_scale!r} for head={kind.name!r}")
    parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_staging(parent)
    version = next_version(parent) if version is None else version
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"`version` must be a positive integer. Received: version={version!r}")
    target = parent / str(version)
    if target.exists():
        raise FileExistsError(f"Version {version} of {name!r} already exists at {target}; "
                              "leave `version` unset to take the next free number.")
    if input_spec is None:
        input_spec = model_input_spec(model)
    input_spec = tf.TensorSpec(input_spec.shape, input_spec.dtype, name=input_name)

    staging = parent / f".{version}.incomplete-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _write_saved_model(model, staging, kind, input_spec, preprocessor, mc_samples, target_scale)
        extra = staging / ASSETS_EXTRA
        extra.mkdir()
        outputs = list(kind.sample_outputs if mc_samples else kind.outputs)
        signatures = {**kind.extra_signatures, **_attention_signature(model)}
        full_card = {"name": name, "version": version, "head": kind.name, "outputs": outputs,
                     **({"extra_signatures": {key: list(value) for key, value in signatures.items()}}
                        if signatures else {}),
                     "mc_samples": mc_samples,
                     "target_scale": list(map(float, target_scale)) if target_scale else None,
                     "signature": {"name": DEFAULT_SIGNATURE, "input": input_name,
                                   "input_dtype": input_spec.dtype.name,
                                   "input_shape": list(input_spec.shape.as_list())},
                     **(card or {}), "exported_at": _now(), "libraries": library_versions(),
                     "git_commit": git_commit()}
        (extra / CARD_FILE).write_text(json.dumps(full_card, indent=2, default=_jsonable) + "\n")
        if warmup_inputs is not None:
            write_warmup_requests(extra / WARMUP_FILE, name, input_name, warmup_inputs)
        os.rename(staging, target)  # atomic on one filesystem: the version appears complete
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


_STAGING = re.compile(r"\.\d+\.incomplete-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}")


def _remove_abandoned_staging(parent: Path) -> None:
    """Removes the staging directories left in `parent` by exports on this host whose process
    has exited (killed mid-export). Another host's, a live process's, or one of an unknown name
    is left: it may still be being written."""
    if os.name != "posix":  # os.kill(pid, 0) probes a process only on POSIX
        return
    host = socket.gethostname()
    for entry in parent.iterdir():
        match = _STAGING.fullmatch(entry.name)
        if not match or match["host"] != host or not entry.is_dir():
            continue
        try:
            os.kill(int(match["pid"]), 0)
        except ProcessLookupError:  # gone: nothing will finish or rename this directory
            shutil.rmtree(entry, ignore_errors=True)
        except (PermissionError, OverflowError):  # alive under another user / not a real pid
            pass


def _attention_signature(model) -> dict[str, tuple[str, ...]]:
    """{"attention": ("attention",)} for a model with one attention pooling layer, else {}."""
    from zoo.layers import attention

    return {ATTENTION_SIGNATURE: (ATTENTION_SIGNATURE,)} if attention.attention_layer(model) is not None else {}


def _write_saved_model(model, path: Path, head: heads.Head, input_spec, preprocessor, mc_samples=None,
                       target_scale=None) -> None:
    """Writes the SavedModel: `serving_default` returns the head's named outputs (their summary
    over `mc_samples` passes, with one pass as `sample`), in target units; models with
    attention pooling also get `attention`, the weights of one pass."""
    import keras

    from zoo.layers import attention

    loc, scale = target_scale or (0.0, 1.0)
    min_std = heads.min_std_of(model)

    def forward(features):
        return tf.cast(model(features, training=False), tf.float32)

    def serve(inputs):
        features = preprocessor(inputs) if preprocessor is not None else inputs
        return head.in_target_units(head.serve(forward(features), min_std=min_std), loc, scale)

    def serve_mc(inputs):
        features = preprocessor(inputs) if preprocessor is not None else inputs
        # One pass per sample inside the graph: each draws its own weights (or masks).
        samples = tf.map_fn(lambda _: forward(features), tf.range(mc_samples), fn_output_signature=tf.float32)
        summary = head.summarize(samples, min_std=min_std)
        return head.in_target_units({key: summary[key] for key in head.sample_outputs}, loc, scale)

    archive = keras.export.ExportArchive()
    archive.track(model)
    if preprocessor is not None:
        archive.track(preprocessor)
    def extra(name):
        def serve_extra(inputs):
            features = preprocessor(inputs) if preprocessor is not None else inputs
            outputs = head.signatures(forward(features), min_std=min_std)[name]
            return head.in_target_units(outputs, loc, scale)
        return serve_extra

    if mc_samples:
        archive.add_endpoint(DEFAULT_SIGNATURE, serve_mc, input_signature=[input_spec])
        archive.add_endpoint("sample", serve, input_signature=[input_spec])
    else:
        archive.add_endpoint(DEFAULT_SIGNATURE, serve, input_signature=[input_spec])
    for name in head.extra_signatures:  # e.g. an ensemble's `members`
        archive.add_endpoint(name, extra(name), input_signature=[input_spec])
    if _attention_signature(model):  # which steps a prediction drew on (one pass)
        weights = attention.attention_model(model)
        archive.track(weights)

        def serve_attention(inputs):
            features = preprocessor(inputs) if preprocessor is not None else inputs
            return {ATTENTION_SIGNATURE: tf.cast(weights(features, training=False), tf.float32)}

        archive.add_endpoint(ATTENTION_SIGNATURE, serve_attention, input_signature=[input_spec])
    archive.write_out(str(path), verbose=False)


def write_warmup_requests(path: Path, model_name: str, input_name: str, inputs) -> int:
    """Writes TF Serving warm-up records: each input alone, then all of them as one batch.

    Returns the number of records. TF Serving replays them before it reports the version
    AVAILABLE, so the first real request does not pay for graph tracing.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    inputs = np.asarray(inputs)
    batches = [inputs[i:i + 1] for i in range(len(inputs))] + ([inputs] if len(inputs) > 1 else [])
    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch in batches:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=DEFAULT_SIGNATURE))
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(batch))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return len(batches)


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries an export depends on, for its card."""
    import importlib.metadata as metadata

    versions = {"python": platform.python_version(), "keras-zoo": zoo.__version__}
    for package in ("tensorflow", "keras", "tensorflow-probability", "tensorflow-datasets", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def git_commit() -> str | None:
    """The project's git commit (with `-dirty` for uncommitted changes), or None outside git."""
    root = Path(zoo.__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set, np.ndarray)):
        return list(value)
    return str(value)
