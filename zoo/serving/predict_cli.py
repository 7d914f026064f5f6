"""`zoo predict`: send one input to a served model (or run a SavedModel locally) and print the
answer readably.

    zoo predict lenet digit.png                         # a running server (127.0.0.1:8501)
    zoo predict lenet x.npy --server http://host:8501   # a .npy batch, or request.json
    zoo predict lenet --model-base-path saved_models    # start a server just for this request
    zoo predict saved_models/lenet/1 digit.png --local  # no server: tf.saved_model.load

With no input file it sends the export's first TF Serving warm-up example (a real test
input the recipe stored in `assets.extra/`), so a freshly trained model can be tried at once.
A JSON file is sent as is (a full TF Serving request body); an image is read as the model's
input shape (grayscale for one channel, resized to fit).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from zoo._lazy import lazy_import
from zoo.layout import list_versions, version_of

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


def predict(args: argparse.Namespace) -> int:
    try:
        if args.local:
            answer = _local(Path(args.model), args)
        elif args.model_base_path:
            with temporary_server(args.model_base_path) as url:
                answer = _remote(url, args, base=Path(args.model_base_path))
        else:
            answer = _remote(args.server, args)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"zoo predict: error: {error}", file=sys.stderr)
        return 1
    name = args.model
    if args.local:  # saved_models/lenet/1 -> lenet
        path = Path(args.model)
        name = path.parent.name if version_of(path.name) is not None else path.name
    print(json.dumps(answer, indent=1) if args.json else describe_answer(name, answer))
    return 0


def _request_body(args, input_name: str | None, export_dir: Path | None) -> dict:
    body: dict = {}
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
        if path.suffix == ".json":
            body = json.loads(path.read_text())
        elif path.suffix == ".npy":
            body["inputs"] = np.load(path).tolist()
        else:
            body["inputs"] = read_image(path, export_dir).tolist()
    if args.signature:
        body["signature_name"] = args.signature
    return body


def _remote(url: str, args, base: Path | None = None) -> dict:
    export_dir = _latest_version(base / args.model) if base is not None else None
    body = _request_body(args, None, export_dir)
    path = f"/v1/models/{args.model}" + (f"/versions/{args.version}" if args.version else "") + ":predict"
    request = urllib.request.Request(url.rstrip("/") + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        message = json.loads(error.read() or b"{}").get("error", error.reason)
        raise RuntimeError(f"The server answered {error.code}: {message}") from None
    except urllib.error.URLError as error:
        raise RuntimeError(f"No server at {url} ({error.reason}). Start one with `zoo serve "
                           "--model-base-path saved_models`, or pass --model-base-path to start one "
                           "for this request.") from None


def _local(version_dir: Path, args) -> dict:
    import tensorflow as tf

    from zoo.serving import tensors
    from zoo.serving.manager import Servable, call_signature

    if not (version_dir / "saved_model.pb").exists():
        version_dir = _latest_version(version_dir)
    body = _request_body(args, None, version_dir)
    servable = Servable(version_dir.parent.name, version_of(version_dir.name) or 0, version_dir,
                        loaded=tf.saved_model.load(str(version_dir)))
    function = servable.signature(body.get("signature_name"))
    inputs, request_format = tensors.parse_predict_request(body, function)
    return tensors.format_predict_response(call_signature(function, inputs), request_format)


def _latest_version(model_dir: Path) -> Path:
    versions = list_versions(model_dir)
    if not versions:
        raise ValueError(f"No exported versions in {str(model_dir)!r}.")
    return versions[max(versions)]


def warmup_example(version_dir: Path) -> tuple[str, np.ndarray]:
    """(input name, a one-example batch) from an export's first TF Serving warm-up request."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = version_dir / "assets.extra" / "tf_serving_warmup_requests"
    if not path.exists():
        raise ValueError(f"{str(version_dir)!r} has no warm-up requests to take an example from; give an INPUT file.")
    record = next(iter(tf.data.TFRecordDataset(str(path)).take(1)))
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    name, proto = next(iter(request.inputs.items()))
    return name, tf.make_ndarray(proto)


def read_image(path: Path, export_dir: Path | None) -> np.ndarray:
    """An image file as a one-example batch; resized and converted to the export's input shape."""
    import tensorflow as tf

    image = tf.io.decode_image(path.read_bytes(), expand_animations=False)
    if export_dir is not None:
        from zoo.export import read_card

        shape = read_card(export_dir)["signature"]["input_shape"][1:]
        if len(shape) == 3:
            if shape[2] == 1 and image.shape[-1] != 1:
                image = tf.image.rgb_to_grayscale(image[..., :3])
            image = tf.image.resize(image, shape[:2])
    return tf.cast(image, tf.float32).numpy()[None]


def describe_answer(model: str, answer: dict) -> str:
    """A readable summary: each example's class and confidence when the model classifies."""
    outputs = answer.get("outputs", answer.get("predictions"))
    if isinstance(outputs, dict) and "classes" in outputs:
        lines = []
        for i, label in enumerate(outputs["classes"]):
            line = f"{model}: example {i}: class {label}"
            if "probabilities" in outputs:
                probabilities = np.asarray(outputs["probabilities"][i])
                top = np.argsort(probabilities)[::-1][:3]
                line += " (" + ", ".join(f"{int(k)}: {probabilities[k]:.3f}" for k in top) + ")"
            if "entropy" in outputs:
                line += f", predictive entropy {outputs['entropy'][i]:.3f} nats"
            lines.append(line)
        return "\n".join(lines)
    if isinstance(outputs, dict) and "mean" in outputs:
        return "\n".join(f"{model}: example {i}: {np.ravel(m)[0]:.4g} ± {np.ravel(s)[0]:.4g} (std)"
                         for i, (m, s) in enumerate(zip(outputs["mean"], outputs["std"])))
    return json.dumps(answer, indent=1)


@contextlib.contextmanager
def temporary_server(base_path: str):
    """`zoo serve` on a free local port for the duration of the block; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "zoo", "serve", "--model-base-path", str(base_path),
                                "--rest-api-port", str(port), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"`zoo serve` exited with {process.returncode}: {process.stdout.read()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("`zoo serve` did not start within 120 s.") from None
                time.sleep(0.2)
        print(f"Started zoo serve on {url} for this request (it stops afterwards).", file=sys.stderr)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
