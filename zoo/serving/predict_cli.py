"""`zoo predict`: send one input to a served model (or run a SavedModel locally) and print the
answer readably.

    zoo predict lenet digit.png                         # a running server (127.0.0.1:8501)
    zoo predict lenet x.npy --server http://host:8501   # a .npy batch, or request.json
    zoo predict lenet --model-base-path saved_models    # start a server just for this request
    zoo predict saved_models/lenet/1 digit.png --local  # no server: tf.saved_model.load

With no input file it sends the export's first TF Serving warm-up example (a real test
input the recipe stored in `assets.extra/`), so a freshly trained model can be tried at once.
A JSON file is sent as is (a full TF Serving request body, `inputs` or `instances`); a .npy
array as `inputs`, given a batch axis when it holds one example (the signature's shape). An
image in any format Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP) is made into what the
served signature declares: grayscale or RGB, padded to its aspect ratio and resized, and
inverted when the model was trained on light-on-dark images and this one is dark-on-light (a
digit drawn in black on white, for MNIST models); each change is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import urllib.error
from pathlib import Path

from zoo._lazy import lazy_import
from zoo.layout import DEFAULT_SIGNATURE, list_versions, read_card, version_of, warmup_path

np = lazy_import("numpy")  # `zoo --help` and `zoo list` stay fast: numpy loads on first use


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model name on the server (or a version dir with --local)")
    parser.add_argument("input", nargs="?", metavar="INPUT",
                        help="an image (.png/.jpg), a .npy array or a TF Serving JSON request; "
                             "default: the export's first warm-up example")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--server", default="http://127.0.0.1:8501", metavar="URL",
                       help="a running server's REST address (default http://127.0.0.1:8501)")
    where.add_argument("--model-base-path", metavar="DIR",
                       help="start `zoo serve` on DIR for this request, then stop it")
    where.add_argument("--local", action="store_true", help="run the SavedModel at MODEL in this process")
    parser.add_argument("--version", type=int, metavar="N", help="a specific version (default: the latest)")
    parser.add_argument("--signature", default=None, metavar="NAME", help="signature (default serving_default)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")


@dataclasses.dataclass
class Signature:
    """What a client needs to know about a served signature to build a request and read the
    answer: from the server's metadata (TF Serving's format) or an export's card."""

    input_name: str | None
    input_shape: tuple[int | None, ...] | None  # per example, without the batch axis
    input_dtype: str
    outputs: list[str]
    card: dict

    @classmethod
    def from_metadata(cls, metadata: dict, signature_name: str | None) -> Signature:
        """From `GET /v1/models/NAME/metadata` (TF Serving's JSON; the zoo's card when present)."""
        defs = metadata.get("metadata", {}).get("signature_def", {}).get("signature_def", {})
        signature = defs.get(signature_name or DEFAULT_SIGNATURE, {})
        inputs = signature.get("inputs", {})
        name, spec = next(iter(inputs.items())) if len(inputs) == 1 else (None, {})
        dims = spec.get("tensor_shape", {}).get("dim")
        shape = None if dims is None or spec.get("tensor_shape", {}).get("unknown_rank") else \
            tuple(None if int(d.get("size", -1)) < 0 else int(d["size"]) for d in dims[1:])
        return cls(name, shape, _DTYPES.get(spec.get("dtype"), "float32"), sorted(signature.get("outputs", {})),
                   metadata.get("metadata", {}).get("zoo_card", {}))

    @classmethod
    def from_card(cls, card: dict) -> Signature:
        signature = card.get("signature", {})
        shape = signature.get("input_shape")
        return cls(signature.get("input"), None if shape is None else tuple(shape[1:]),
                   signature.get("input_dtype", "float32"), list(card.get("outputs", [])), card)


_DTYPES = {"DT_FLOAT": "float32", "DT_DOUBLE": "float64", "DT_HALF": "float16", "DT_UINT8": "uint8",
           "DT_INT8": "int8", "DT_INT32": "int32", "DT_INT64": "int64", "DT_STRING": "string"}


def predict(args: argparse.Namespace) -> int:
    try:
        if args.local:
            name, answer, signature, notes = _local(Path(args.model), args)
        elif args.model_base_path:
            with temporary_server(args.model_base_path) as url:
                name, answer, signature, notes = _remote(url, args, base=Path(args.model_base_path))
        else:
            name, answer, signature, notes = _remote(args.server, args)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"zoo predict: error: {error}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"{Path(args.input).name if args.input else 'input'}: {note}", file=sys.stderr)
    print(json.dumps(answer, indent=1) if args.json else describe_answer(name, answer, signature))
    return 0


def _request_body(args, signature: Signature, export_dir: Path | None) -> tuple[dict, list[str]]:
    """The request to send, and notes on what was done to an image to make it."""
    body: dict = {}
    notes: list[str] = []
    if args.input is None:
        if export_dir is None:
            raise ValueError("Give an INPUT file: the default example comes from the export's warm-up "
                             "requests, which only --model-base-path or --local can read.")
        name, array = warmup_example(export_dir)
        body["inputs"] = {name: array.tolist()}
    else:
        path = Path(args.input)
        if not path.is_file():
            raise ValueError(f"No input file {str(path)!r}: expected an image, a .npy array or a JSON request.")
        if path.suffix.lower() == ".json":
            try:
                body = json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError) as error:
                raise ValueError(f"{str(path)!r} is not a JSON request ({error}).") from None
        elif path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
            if _is_one_example(array.shape, signature.input_shape):  # e.g. one forecast window, (36, 1)
                array = array[None]
                notes.append(f"one example of shape {tuple(array.shape[1:])}: sent as a batch of 1")
            body["inputs"] = array.tolist()
        else:
            from zoo.serving.images import read_image

            if signature.input_dtype == "string":
                raise ValueError(f"The model takes text (a string input), not images: {str(path)!r} cannot "
                                 "be sent; write a JSON request instead.")
            batch, notes = read_image(path, shape=signature.input_shape, dtype=signature.input_dtype,
                                      background=signature.card.get("dataset", {}).get("background"))
            body["inputs"] = batch.tolist()
    if args.signature:
        body["signature_name"] = args.signature
    return body, notes


def _is_one_example(shape: tuple[int, ...], example: tuple[int | None, ...] | None) -> bool:
    """Whether an array of `shape` is one example of the signature (its shape without the
    batch axis), rather than a batch of them."""
    return example is not None and len(shape) == len(example) and all(
        want is None or want == got for got, want in zip(shape, example))


def _remote(url: str, args, base: Path | None = None):
    export_dir = _latest_version(base / args.model) if base is not None else None
    if args.input is None and export_dir is None:
        _request_body(args, Signature(None, None, "float32", [], {}), None)  # says what to give instead
    model_path = f"/v1/models/{args.model}" + (f"/versions/{args.version}" if args.version else "")
    signature = Signature.from_metadata(_call(url, model_path + "/metadata"), args.signature)
    body, notes = _request_body(args, signature, export_dir)
    return args.model, _call(url, model_path + ":predict", body), signature, notes


def _call(url: str, path: str, body: dict | None = None) -> dict:
    from zoo.serving.api import request_json

    try:
        return request_json(url.rstrip("/") + path, body)
    except urllib.error.URLError as error:
        raise RuntimeError(f"No server at {url} ({error.reason}). Start one with `zoo serve "
                           "--model-base-path saved_models`, or pass --model-base-path to start one "
                           "for this request.") from None


def _local(version_dir: Path, args):
    from zoo import console

    tf = console.import_tensorflow()
    from zoo.serving import tensors
    from zoo.serving.manager import Servable, call_signature

    if not (version_dir / "saved_model.pb").exists():
        version_dir = _latest_version(version_dir)
    signature = Signature.from_card(read_card(version_dir))
    body, notes = _request_body(args, signature, version_dir)
    servable = Servable(version_dir.parent.name, version_of(version_dir.name) or 0, version_dir,
                        loaded=tf.saved_model.load(str(version_dir)))
    function = servable.signature(body.get("signature_name"))
    inputs, request_format = tensors.parse_predict_request(body, function)
    answer = tensors.format_predict_response(call_signature(function, inputs), request_format)
    if not signature.outputs:
        signature.outputs = sorted(function.structured_outputs)
    name = version_dir.parent.name if version_of(version_dir.name) is not None else version_dir.name
    return name, answer, signature, notes


def _latest_version(model_dir: Path) -> Path:
    versions = list_versions(model_dir)
    if not versions:
        raise ValueError(f"No exported versions in {str(model_dir)!r}.")
    return versions[max(versions)]


def warmup_example(version_dir: Path) -> tuple[str, np.ndarray]:
    """(input name, a one-example batch) from an export's first TF Serving warm-up request."""
    from zoo import console

    tf = console.import_tensorflow()  # the PredictionLog protos are TensorFlow's
    from tensorflow_serving.apis import prediction_log_pb2

    path = warmup_path(version_dir)
    if not path.exists():
        raise ValueError(f"{str(version_dir)!r} has no warm-up requests to take an example from; give an INPUT file.")
    record = next(iter(tf.data.TFRecordDataset(str(path)).take(1)))
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    name, proto = next(iter(request.inputs.items()))
    return name, tf.make_ndarray(proto)


def _columns(answer: dict, names: list[str]) -> dict | None:
    """Any answer format as {output: per-example values}: columnar (`outputs`, a dict or, for one
    output, the bare list) and row (`predictions`, dicts or bare values)."""
    outputs = answer.get("outputs", answer.get("predictions"))
    if isinstance(outputs, dict):
        return outputs
    if isinstance(outputs, list) and outputs and all(isinstance(row, dict) for row in outputs):
        return {key: [row.get(key) for row in outputs] for key in outputs[0]}
    if isinstance(outputs, list) and len(names) == 1:
        return {names[0]: outputs}
    return None


def describe_answer(model: str, answer: dict, signature: Signature | None = None) -> str:
    """A readable summary, the same for every request format: each example's class with its
    top probabilities when the model classifies, mean ± std (per output) when it regresses,
    each output's values otherwise.

    Example:
        >>> describe_answer("lenet", {"outputs": {"classes": [7], "probabilities": [[0.0] * 7 + [1.0, 0.0, 0.0]]}})
        'lenet: example 0: class 7 (7: 1.000, 9: 0.000, 8: 0.000)'
    """
    signature = signature or Signature(None, None, "float32", [], {})
    outputs = _columns(answer, signature.outputs)
    names = signature.card.get("dataset", {}).get("classes") or []
    if outputs is not None and "classes" in outputs:
        lines = []
        for i, label in enumerate(outputs["classes"]):
            label = label[0] if isinstance(label, list) and len(label) == 1 else label
            named = f" ({names[int(label)]})" if isinstance(label, int) and 0 <= label < len(names) \
                and names[int(label)] != str(label) else ""
            line = f"{model}: example {i}: class {label}{named}"
            if "probabilities" in outputs:
                probabilities = np.asarray(outputs["probabilities"][i], np.float64).ravel()
                top = np.argsort(probabilities)[::-1][:3]
                line += " (" + ", ".join(f"{int(k)}: {probabilities[k]:.3f}" for k in top) + ")"
            if "entropy" in outputs:
                line += f", predictive entropy {float(np.ravel(outputs['entropy'][i])[0]):.3f} nats"
            lines.append(line)
        return "\n".join(lines)
    if outputs is not None and "mean" in outputs and "std" in outputs:
        lines = []
        for i, (mean, std) in enumerate(zip(outputs["mean"], outputs["std"])):
            pairs = [f"{m:.4g} ± {s:.4g}" for m, s in zip(np.ravel(mean), np.ravel(std))]
            shown = pairs[0] + " (std)" if len(pairs) == 1 else ", ".join(pairs) + " (mean ± std per output)"
            lines.append(f"{model}: example {i}: {shown}")
        return "\n".join(lines)
    if outputs is not None:  # another signature, e.g. `attention`: each output's values, one line each
        def shown(values) -> str:
            return " ".join(f"{v:.4g}" if isinstance(v, (int, float)) else str(v) for v in np.ravel(values).tolist())

        return "\n".join(f"{model}: example {i}: {name} {shown(values[i])}"
                         for name, values in sorted(outputs.items()) for i in range(len(values)))
    return json.dumps(answer, indent=1)


@contextlib.contextmanager
def temporary_server(base_path: str):
    """`zoo serve` on a free local port for the duration of the block; yields its URL."""
    from zoo.serving.api import background

    with background(model_base_path=str(base_path)) as server:
        print(f"Started zoo serve on {server.url} for this request (it stops afterwards).", file=sys.stderr)
        yield server.url
