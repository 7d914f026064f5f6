"""`zoo serve` over real sockets on 127.0.0.1: TF Serving's REST and gRPC APIs against an exported lenet.

One server process serves the module; every wait is bounded and the process is stopped (and
killed if it hangs) even when a test fails.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pytest

import zoo
from zoo.export import export_model
from zoo.serving.errors import NotFound
from serving_helpers import Client, _alive, _free_port, _wait, _worker_processes, running_server  # noqa: F401

MAX_BODY_MB = 1


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    model = zoo.build("lenet")
    images = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
    export_model(model, base, input_name="images", warmup_inputs=images)
    return base, model, images


@pytest.fixture(scope="module")
def served(exported, tmp_path_factory):
    base, model, images = exported
    # Its own copy: the hot-reload test adds and removes versions.
    own = tmp_path_factory.mktemp("served") / "models"
    shutil.copytree(base, own)
    with running_server(own, "--max-body-mb", str(MAX_BODY_MB)) as (client, process):
        yield client, model, images, own, process


def test_model_status_has_tf_servings_json_shape(served):
    client = served[0]
    assert client.get("/v1/models/lenet") == (200, {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    assert client.get("/v1/models/lenet/versions/1")[1]["model_version_status"][0]["version"] == "1"


def test_metadata_lists_the_signature_defs(served):
    status, body = served[0].get("/v1/models/lenet/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "lenet", "version": "1", "signature_name": ""}
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    image = signature["inputs"]["images"]
    assert image["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in image["tensor_shape"]["dim"]] == ["-1", "28", "28", "1"]
    assert set(signature["outputs"]) == {"logits", "probabilities", "classes"}


def test_row_and_columnar_predict_give_the_models_numbers(served):
    client, model, images = served[:3]
    expected = model.predict(images, verbose=0)
    status, rows = client.post("/v1/models/lenet:predict", {"instances": images.tolist()})
    assert status == 200 and len(rows["predictions"]) == 4
    np.testing.assert_allclose([p["logits"] for p in rows["predictions"]], expected, rtol=1e-5, atol=1e-5)
    assert [p["classes"] for p in rows["predictions"]] == expected.argmax(-1).tolist()
    status, columns = client.post("/v1/models/lenet/versions/1:predict",
                                  {"signature_name": "serving_default", "inputs": {"images": images.tolist()}})
    assert status == 200
    np.testing.assert_allclose(columns["outputs"]["logits"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.sum(columns["outputs"]["probabilities"], axis=-1), 1.0, rtol=1e-5)
    # One named input: a bare value in columnar format, objects in row format, both work.
    status, bare = client.post("/v1/models/lenet:predict", {"inputs": images[:1].tolist()})
    assert status == 200 and bare["outputs"]["classes"] == expected[:1].argmax(-1).tolist()
    status, objects = client.post("/v1/models/lenet:predict", {"instances": [{"images": images[0].tolist()}]})
    assert status == 200 and objects["predictions"][0]["classes"] == int(expected[0].argmax())


IMAGE = np.zeros((28, 28, 1)).tolist()
BAD_REQUESTS = [
    ("malformed JSON", "POST", "/v1/models/lenet:predict", '{"instances": [1, 2', 400, "Malformed JSON"),
    ("malformed array, unknown signature", "POST", "/v1/models/lenet:predict",
     '{"signature_name": "serve", "instances": [[1,, 2]]}', 400, "Malformed JSON"),
    ("a repeated key after the array", "POST", "/v1/models/lenet:predict",
     '{"instances": [%s], "signature_name": "serve", "instances": [%s]}' % (json.dumps(IMAGE), json.dumps(IMAGE)),
     400, "Serving signature name: 'serve' not found"),
    ("both formats", "POST", "/v1/models/lenet:predict", {"instances": [IMAGE], "inputs": [IMAGE]}, 400,
     "exactly one of 'instances' (row format) or 'inputs' (columnar format). Received: both"),
    ("neither format", "POST", "/v1/models/lenet:predict", {"signature_name": "serving_default"}, 400,
     "Received: neither"),
    ("wrong input name", "POST", "/v1/models/lenet:predict", {"inputs": {"pixels": [IMAGE]}}, 400,
     "'inputs' has no value for input 'images'"),
    ("unknown input in rows", "POST", "/v1/models/lenet:predict", {"instances": [{"images": IMAGE, "x": 1}]}, 400,
     "Unknown input 'x'. The signature's inputs: images"),
    ("wrong shape", "POST", "/v1/models/lenet:predict", {"instances": [[[0.0] * 28] * 28]}, 400,
     "Input 'images' has shape [1, 28, 28]; the signature expects [-1, 28, 28, 1]"),
    ("ragged", "POST", "/v1/models/lenet:predict", {"instances": [[1.0, 2.0], [3.0]]}, 400,
     "not a rectangular (nested) list"),
    ("wrong dtype", "POST", "/v1/models/lenet:predict", {"instances": [[["a"] * 1] * 28] * 28}, 400,
     "expects numbers of type float32 (DT_FLOAT32). Received strings"),
    ("NaN", "POST", "/v1/models/lenet:predict", '{"instances": [' + json.dumps(IMAGE).replace("0.0", "NaN", 1) + "]}",
     400, "contains NaN or infinite values (first at index (0, 0, 0, 0))"),
    ("Infinity", "POST", "/v1/models/lenet:predict",
     '{"inputs": [' + json.dumps(IMAGE).replace("0.0", "-Infinity", 1) + "]}", 400, "NaN or infinite"),
    ("empty batch", "POST", "/v1/models/lenet:predict", {"instances": []}, 400, "'instances' is empty"),
    ("empty columnar batch", "POST", "/v1/models/lenet:predict", {"inputs": np.zeros((0, 28, 28, 1)).tolist()},
     400, "the signature expects"),
    ("unknown model", "POST", "/v1/models/resnet:predict", {"instances": [IMAGE]}, 404,
     "Servable not found for request: Latest(resnet)"),
    ("unknown version", "POST", "/v1/models/lenet/versions/7:predict", {"instances": [IMAGE]}, 404,
     "Servable not found for request: Specific(lenet, 7)"),
    ("unknown label", "GET", "/v1/models/lenet/labels/canary", None, 404,
     "Unrecognized servable version label: canary"),
    ("bad version", "GET", "/v1/models/lenet/versions/latest", None, 400, "Version must be a non-negative integer"),
    ("unknown signature", "POST", "/v1/models/lenet:predict", {"signature_name": "serve", "instances": [IMAGE]},
     400, "Serving signature name: 'serve' not found in signature def. Available: serving_default"),
    ("unknown model status", "GET", "/v1/models/resnet", None, 404, "Could not find any versions of model resnet"),
    ("path traversal", "POST", "/v1/models/..%2F..%2Fetc:predict", {"instances": [IMAGE]}, 400,
     "Invalid model name '../../etc'"),
    ("hidden name", "GET", "/v1/models/.lenet", None, 400, "Invalid model name '.lenet'"),
    ("unknown verb", "POST", "/v1/models/lenet:explain", {"instances": [IMAGE]}, 404, "Unknown method 'explain'"),
    ("classify", "POST", "/v1/models/lenet:classify", {"examples": [{"x": 1.0}]}, 400,
     "Expected classification signature method_name to be tensorflow/serving/classify. "
     "Was: tensorflow/serving/predict"),
    ("regress", "POST", "/v1/models/lenet:regress", {"examples": [{"x": 1.0}]}, 400,
     "Expected regression signature method_name to be tensorflow/serving/regress"),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_get_the_right_status_and_a_clear_message(served, case):
    client = served[0]
    _, method, path, body, expected_status, message = case
    status, answer = client.request(method, path, body)
    assert status == expected_status, answer
    assert set(answer) == {"error"} and message in answer["error"], answer
    # ...and the server keeps serving.
    assert client.post("/v1/models/lenet:predict", {"instances": [IMAGE]})[0] == 200


def test_an_oversized_body_is_refused_with_413_before_it_is_read(served):
    client = served[0]
    body = json.dumps({"instances": [IMAGE] * 2000})  # about 5 MB, over the 1 MB limit
    status, answer = client.post("/v1/models/lenet:predict", body)
    assert status == 413 and "exceeds the server's limit of 1,048,576 bytes" in answer["error"]
    assert client.post("/v1/models/lenet:predict", {"instances": [IMAGE]})[0] == 200


def test_a_new_version_is_served_without_restart_and_no_request_fails_meanwhile(served):
    client, model, images, base, _ = served
    failures, answered = [], [0]
    stop = threading.Event()

    def send():
        while not stop.is_set():
            status, answer = client.post("/v1/models/lenet:predict", {"instances": images[:1].tolist()})
            if status != 200:
                failures.append(answer)
            answered[0] += 1

    senders = [threading.Thread(target=send) for _ in range(4)]
    for thread in senders:
        thread.start()
    try:
        time.sleep(0.5)
        keras.utils.set_random_seed(1)
        export_model(zoo.build("lenet"), base, input_name="images", warmup_inputs=images)  # version 2
        _wait(lambda: client.get("/v1/models/lenet")[1]["model_version_status"][0]["version"] == "2",
              60, "version 2 to replace version 1")
        time.sleep(0.5)  # requests keep flowing across the switch
    finally:
        stop.set()
        for thread in senders:
            thread.join(timeout=60)
    assert failures == [] and answered[0] > 10
    assert client.post("/v1/models/lenet/versions/2:predict", {"instances": images[:1].tolist()})[0] == 200
    assert client.post("/v1/models/lenet/versions/1:predict", {"instances": images[:1].tolist()})[0] == 404

    # A removed version is unloaded, and the latest one left is served again: a rollback.
    shutil.rmtree(base / "lenet" / "2")
    _wait(lambda: [s["version"] for s in client.get("/v1/models/lenet")[1]["model_version_status"]] == ["1"],
          60, "version 2 to be unloaded and version 1 served again")
    assert client.post("/v1/models/lenet/versions/2:predict", {"instances": images[:1].tolist()})[0] == 404
    status, answer = client.post("/v1/models/lenet:predict", {"instances": images.tolist()})
    np.testing.assert_allclose([p["logits"] for p in answer["predictions"]], model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-5)


def _stub(served, service):
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{served[0].grpc_port}")
    grpc.channel_ready_future(channel).result(timeout=30)
    module = prediction_service_pb2_grpc if service == "prediction" else model_service_pb2_grpc
    name = "PredictionServiceStub" if service == "prediction" else "ModelServiceStub"
    return getattr(module, name)(channel)


def test_tf_servings_own_grpc_stubs_predict_and_read_metadata_and_status(served):
    """The `tensorflow-serving-api` package's client code, used as a TF Serving user would."""
    import tensorflow as tf
    from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_pb2,
                                         predict_pb2)

    model, images = served[1], served[2]
    prediction = _stub(served, "prediction")
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="lenet", signature_name="serving_default"))
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
    response = prediction.Predict(request, timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["logits"]), model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-5)
    assert response.model_spec.name == "lenet" and response.model_spec.version.value >= 1

    metadata = prediction.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec=model_pb2.ModelSpec(name="lenet"), metadata_field=["signature_def"]), timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def["serving_default"].outputs) == {"logits", "probabilities", "classes"}

    status = _stub(served, "model").GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
        model_spec=model_pb2.ModelSpec(name="lenet")), timeout=30)
    assert [s.state for s in status.model_version_status] == [get_model_status_pb2.ModelVersionStatus.AVAILABLE]


def test_grpc_errors_carry_tf_servings_status_codes(served):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2

    prediction = _stub(served, "prediction")
    unknown = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="resnet"))
    with pytest.raises(grpc.RpcError) as raised:
        prediction.Predict(unknown, timeout=30)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Servable not found for request: Latest(resnet)" in raised.value.details()
    wrong_shape = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="lenet"))
    wrong_shape.inputs["images"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 28, 28), np.float32)))
    with pytest.raises(grpc.RpcError) as raised:
        prediction.Predict(wrong_shape, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "has shape [1, 28, 28]; the signature expects [-1, 28, 28, 1]" in raised.value.details()
    wrong_dtype = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="lenet"))
    wrong_dtype.inputs["images"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 28, 28, 1), np.float64)))
    with pytest.raises(grpc.RpcError) as raised:
        prediction.Predict(wrong_dtype, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expects dtype float32. Received float64" in raised.value.details()


def _metric(text: str, name: str, **labels) -> float:
    """One sample's value from Prometheus' text format."""
    selector = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"No sample {name}{{{selector}}} in the metrics")


def _metrics_text(client) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", client.port, timeout=30)
    try:
        connection.request("GET", "/monitoring/prometheus/metrics")
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        connection.close()


def _hammer(client, body, clients: int, seconds: float):
    """`clients` threads sending `body` for `seconds`: (answers by status, example answer per status)."""
    statuses, examples, lock = {}, {}, threading.Lock()
    deadline = time.monotonic() + seconds

    def send():
        while time.monotonic() < deadline:
            status, answer = client.post("/v1/models/lenet:predict", body)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                examples.setdefault(status, answer)

    threads = [threading.Thread(target=send) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return statuses, examples


def test_with_batching_32_concurrent_clients_all_succeed_in_merged_batches(exported):
    base, model, images = exported
    with running_server(base, "--enable-batching", "--max-batch-size", "32") as (client, _):
        body = {"instances": images[:1].tolist()}
        statuses, examples = _hammer(client, body, clients=32, seconds=3)
        assert set(statuses) == {200} and statuses[200] > 32, (statuses, examples)
        np.testing.assert_allclose(examples[200]["predictions"][0]["logits"],
                                   model.predict(images[:1], verbose=0)[0], rtol=1e-5, atol=1e-5)
        text = _metrics_text(client)
        batches = _metric(text, "zoo_serving_batch_size_count", model="lenet")
        singles = _metric(text, "zoo_serving_batch_size_bucket", model="lenet", le="1.0")
        examples_served = _metric(text, "zoo_serving_batch_size_sum", model="lenet")
        assert batches - singles > 0 and examples_served / batches > 1.5, (batches, singles, examples_served)
        assert _metric(text, "zoo_serving_requests_total", api="rest", method="predict", model="lenet",
                       code="200") >= statuses[200]


def test_a_full_batching_queue_answers_429_and_the_server_recovers(exported):
    base, _, images = exported
    with running_server(base, "--enable-batching", "--max-batch-size", "1", "--max-enqueued-requests", "1",
                        "--batch-timeout-micros", "0") as (client, _):
        statuses, examples = _hammer(client, {"instances": images[:1].tolist()}, clients=24, seconds=2)
        assert statuses.get(429, 0) > 0 and statuses.get(200, 0) > 0, statuses
        # --max-enqueued-requests bounds the requests in flight, batching on or off.
        assert "The server is answering 1 requests, its limit (--max-enqueued-requests)" in examples[429]["error"]
        assert set(statuses) <= {200, 429}
        assert client.post("/v1/models/lenet:predict", {"instances": images[:1].tolist()})[0] == 200
        status, answer = client.post("/v1/models/lenet:predict", {"instances": images[:2].tolist()})
        assert status == 400 and "Task size 2 is larger than maximum input batch size 1" in answer["error"]


def test_zoo_predict_sends_npy_json_and_images_and_reads_them_back(served, tmp_path, capsys):
    import tensorflow as tf

    from zoo.cli import main

    client, model, images = served[:3]
    expected = model.predict(images[:2], verbose=0).argmax(-1)
    np.save(tmp_path / "x.npy", images[:2])
    assert main(["predict", "lenet", str(tmp_path / "x.npy"), "--server", f"http://127.0.0.1:{client.port}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"lenet: example {i}: class {c}" for i, c in enumerate(expected)]

    (tmp_path / "request.json").write_text(json.dumps({"instances": images[:1].tolist()}))
    assert main(["predict", "lenet", str(tmp_path / "request.json"), "--json",
                 "--server", f"http://127.0.0.1:{client.port}"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"][0]["classes"] == int(expected[0])

    # An RGB image of another size is made grayscale and resized to the export's 28x28x1.
    rgb = np.repeat(np.kron(images[0], np.ones((2, 2, 1))), 3, axis=-1).astype("uint8")  # 56x56x3
    (tmp_path / "digit.png").write_bytes(tf.io.encode_png(rgb).numpy())
    version_dir = served[3] / "lenet" / "1"
    assert main(["predict", str(version_dir), str(tmp_path / "digit.png"), "--local"]) == 0
    assert re.fullmatch(r"lenet: example 0: class \d \(\d: \d\.\d{3}, .*\)\n", capsys.readouterr().out)


def test_zoo_predict_without_a_server_says_how_to_start_one(tmp_path, capsys):
    from zoo.cli import main

    assert main(["predict", "lenet", "--server", f"http://127.0.0.1:{_free_port()}"]) == 1
    assert "Give an INPUT file" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28, 1), np.float32))
    assert main(["predict", "lenet", str(tmp_path / "x.npy"), "--server", f"http://127.0.0.1:{_free_port()}"]) == 1
    error = capsys.readouterr().err
    assert "No server at http://127.0.0.1:" in error and "zoo serve --model-base-path saved_models" in error


def test_sigterm_lets_a_request_in_flight_finish(exported):
    """The request's headers and half its body arrive, then SIGTERM, then the rest of the body:
    the server must still read, run and answer it, then exit 0."""
    base, model, images = exported
    body = json.dumps({"instances": images.tolist()}).encode()
    with running_server(base) as (client, process):
        with socket.create_connection(("127.0.0.1", client.port), timeout=60) as sock:
            sock.sendall(b"POST /v1/models/lenet:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                         + body[:len(body) // 2])
            time.sleep(0.5)  # the server has the headers: the request is in flight
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # and is shutting down
            sock.sendall(body[len(body) // 2:])
            status, answer = _read_http_response(sock)
        assert process.wait(timeout=60) == 0
    assert status == 200
    np.testing.assert_allclose([p["logits"] for p in answer["predictions"]], model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-5)


def _read_http_response(sock) -> tuple[int, object]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the response: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the response"
        rest += chunk
    return int(head.split()[1]), json.loads(rest[:length])


# Last: it stops the module's server.
def test_sigterm_stops_the_server_cleanly(served):
    process = served[4]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    output = process.output()
    assert "Serving models from" in output and "Server stopped" in output and "Traceback" not in output


def _versions(base, tmp_path, count=3):
    """A model dir with versions 1..count (copies of one export)."""
    model_dir = tmp_path / "lenet"
    for version in range(1, count + 1):
        shutil.copytree(base / "lenet" / "1", model_dir / str(version))
    return model_dir


@pytest.mark.parametrize("policy, served_versions", [
    ("latest { num_versions: 2 }", [2, 3]), ("all {}", [1, 2, 3]), ("specific { versions: 1 versions: 3 }", [1, 3]),
])
def test_a_model_config_file_sets_version_policies_and_labels(exported, tmp_path, policy, served_versions):
    from zoo.serving.manager import ModelManager, read_model_config

    _versions(exported[0], tmp_path)
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "digits" base_path: "lenet" model_platform: "tensorflow" '
                      f'model_version_policy {{ {policy} }} version_labels {{ key: "stable" value: 1 }} }} }}')
    manager = ModelManager(models=read_model_config(config))
    manager.poll()
    status = manager.status("digits")
    assert [s.version for s in status.model_version_status] == served_versions
    assert manager.lookup("digits").version == max(served_versions)
    if 1 in served_versions:
        assert manager.lookup("digits", label="stable").version == 1
    else:  # a label pointing at a version that is not served
        with pytest.raises(NotFound, match=r"Servable not found for request: Labeled\(digits, stable\)"):
            manager.lookup("digits", label="stable")


@pytest.mark.parametrize("text, message", [
    ("model_config_list { config { name: 'a' base_path: '/x' } ", "not a TF Serving model config"),
    ("model_config_list { }", "names no models"),
    ("model_config_list { config { name: 'a' base_path: '/x' } config { name: 'a' base_path: '/y' } }",
     "model names must be unique"),
    ("model_config_list { config { name: 'a' base_path: '/x' model_platform: 'onnx' } }",
     "only 'tensorflow' SavedModels are served"),
])
def test_a_bad_model_config_file_says_what_is_wrong(tmp_path, text, message):
    from zoo.serving.manager import read_model_config

    (tmp_path / "models.config").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_model_config(tmp_path / "models.config")


def test_zoo_serve_with_a_model_config_file_serves_labels_over_rest(exported, tmp_path):
    _versions(exported[0], tmp_path, count=2)
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "lenet" base_path: "lenet" model_version_policy { all {} } '
                      'version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 2 } } }')
    with running_server(None, "--model-config-file", str(config)) as (client, _):
        status = client.get("/v1/models/lenet/labels/canary")
        assert status == (200, {"model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
        assert client.post("/v1/models/lenet/labels/stable:predict", {"instances": [IMAGE]})[0] == 200
        assert client.get("/v1/models/lenet/labels/stable/metadata")[1]["model_spec"]["version"] == "1"


def test_zoo_serve_refuses_a_missing_base_path_with_a_clear_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "zoo", "serve", "--model-base-path", str(tmp_path / "nothing"),
                           "--rest-api-port", str(_free_port()), "--port", "0"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 2
    assert "zoo serve: error: Model base path" in done.stderr and "is not a directory" in done.stderr


def test_several_worker_processes_share_the_port_reload_together_and_stop_together(exported, tmp_path):
    """`--workers 2`: both processes answer REST (each counts into its own metrics file, and
    the exposition adds them up), gRPC answers from the main process, a new version reaches
    every worker, and SIGTERM stops them all with exit 0."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

    base, model, images = exported
    own = tmp_path / "models"
    shutil.copytree(base, own)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    with running_server(own, "--workers", "2", "--enable-batching",
                        env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}) as (client, process):
        expected = model.predict(images[:1], verbose=0)
        answers = []

        def send(count):  # a new connection per request: the kernel spreads them over both workers
            for _ in range(count):
                answers.append(client.post("/v1/models/lenet:predict", {"instances": images[:1].tolist()}))

        def counted():  # one metrics file per process that has answered
            return sorted(path.name for path in metrics_dir.glob("counter_*.db"))

        # A worker still loading its models takes no connections, so send rounds of 200 until
        # both have answered (at most 10 rounds: a worker that never answers fails the test).
        for _ in range(10):
            senders = [threading.Thread(target=send, args=(25,)) for _ in range(8)]
            for thread in senders:
                thread.start()
            for thread in senders:
                thread.join(timeout=120)
            if len(counted()) == 2:
                break
        assert len(answers) % 200 == 0 and {status for status, _ in answers} == {200}
        for _, answer in answers:
            np.testing.assert_allclose(answer["predictions"][0]["logits"], expected[0], rtol=1e-5, atol=1e-5)
        assert len(counted()) == 2, f"expected both workers to have answered; metrics files: {counted()}"
        assert _metric(_metrics_text(client), "zoo_serving_requests_total", api="rest", method="predict",
                       model="lenet", code="200") == len(answers)

        channel = grpc.insecure_channel(f"127.0.0.1:{client.grpc_port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="lenet"))
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(images[:1]))
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        np.testing.assert_allclose(tf.make_ndarray(response.outputs["logits"]), expected, rtol=1e-5, atol=1e-5)

        export_model(zoo.build("lenet"), own, input_name="images", warmup_inputs=images)  # version 2

        def every_worker_serves_version_2():
            statuses = [client.get("/v1/models/lenet")[1]["model_version_status"][0]["version"] for _ in range(20)]
            return set(statuses) == {"2"}

        _wait(every_worker_serves_version_2, 60, "every worker to serve version 2")
        workers = _worker_processes(process.pid)
        assert len(workers) == 2, workers
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not [pid for pid in workers if _alive(pid)], "a worker outlived the server"


def test_a_request_over_the_timeout_gets_504_and_the_server_keeps_serving(exported):
    base, _, images = exported
    with running_server(base, "--request-timeout-seconds", "0.000001") as (client, _):
        status, answer = client.post("/v1/models/lenet:predict", {"instances": images[:1].tolist()})
        assert status == 504 and "took longer than the server's 1e-06 s timeout" in answer["error"]
        assert client.get("/v1/models/lenet")[0] == 200


@pytest.mark.parametrize("batching", [[], ["--enable-batching"]], ids=["batching off", "batching on"])
def test_a_request_stuck_in_the_model_gets_504_at_its_timeout_not_when_the_model_returns(tmp_path, batching):
    """The model sleeps 3 s (at least); the timeout is 0.5 s: the answer must not wait for it."""
    import tensorflow as tf
    from tensorflow.python.data.experimental.ops import testing  # a blocking sleep op

    class Slow(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="seconds")])
        def serve(self, seconds):
            asleep = tf.data.Dataset.range(1).apply(testing.sleep(tf.cast(seconds[0] * 1e6, tf.int64)))
            return {"slept": seconds + tf.cast(asleep.reduce(tf.constant(0, tf.int64), _add), tf.float32)}

    module = Slow()
    tf.saved_model.save(module, str(tmp_path / "models" / "slow" / "1"), signatures={"serving_default": module.serve})
    with running_server(tmp_path / "models", "--request-timeout-seconds", "0.5", *batching) as (client, _):
        began = time.monotonic()
        status, answer = client.post("/v1/models/slow:predict", {"instances": [3.0]})
        waited = time.monotonic() - began
        assert status == 504 and "0.5 s timeout" in answer["error"], answer
        assert waited < 2.5, f"answered after {waited:.1f} s"
        assert client.get("/healthz")[0] == 200


def _add(total, value):
    return total + value


def test_strings_and_b64_values_round_trip_as_tf_serving_encodes_them(tmp_path):
    """A SavedModel with a string input: plain JSON strings and {"b64": ...} both arrive as
    bytes, and an output whose name ends in `_bytes` comes back base64-encoded."""
    import base64

    import tensorflow as tf

    class Echo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            return {"length": tf.strings.length(text), "echo_bytes": text}

    module = Echo()
    tf.saved_model.save(module, str(tmp_path / "models" / "echo" / "1"), signatures={"serving_default": module.serve})
    with running_server(tmp_path / "models") as (client, _):
        raw = b"\x00\xffbinary"
        status, answer = client.post("/v1/models/echo:predict",
                                     {"instances": ["hello", {"b64": base64.b64encode(raw).decode()}]})
        assert status == 200, answer
        assert [p["length"] for p in answer["predictions"]] == [5, len(raw)]
        assert [base64.b64decode(p["echo_bytes"]["b64"]) for p in answer["predictions"]] == [b"hello", raw]
        status, answer = client.post("/v1/models/echo:predict", {"instances": [{"b64": "not base64!"}]})
        assert status == 400 and "Invalid base64" in answer["error"]
        status, answer = client.post("/v1/models/echo:predict", {"instances": [1.5]})
        assert status == 400 and "expects strings (DT_STRING)" in answer["error"]


def test_an_internal_failure_is_a_500_with_a_json_error_and_the_server_keeps_serving(tmp_path):
    import tensorflow as tf

    class Broken(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def serve(self, x):
            # A model that reads a file that is not there: TF raises NotFoundError inside the call.
            return {"y": x, "z": tf.io.read_file("/nonexistent/asset.txt")}

    module = Broken()
    tf.saved_model.save(module, str(tmp_path / "models" / "broken" / "1"), signatures={"serving_default": module.serve})
    with running_server(tmp_path / "models") as (client, _):
        status, answer = client.post("/v1/models/broken:predict", {"instances": [[1.0, 2.0]]})
        assert status == 500 and answer["error"].startswith("Internal error: "), answer
        assert client.get("/v1/models/broken")[0] == 200
