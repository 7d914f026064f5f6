"""Helpers for tests that run `zoo serve` as a real process on 127.0.0.1: free ports, a raw
HTTP client, bounded waits, and a context manager that always stops the server."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Client:
    """Raw HTTP on 127.0.0.1, so paths go out exactly as written."""

    def __init__(self, port: int):
        self.port = port

    def request(self, method: str, path: str, body=None, timeout: float = 60):
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body):
        return self.request("POST", path, body)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, http.client.HTTPException):  # not up yet, or not HTTP on this port (yet)
            pass
        time.sleep(0.1)
    raise TimeoutError(f"Timed out after {timeout} s waiting for {what}")


def unprivileged() -> list[str]:
    """A command prefix that runs a process without root's power to ignore file permissions
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), as a server run by an ordinary user is; empty
    when the tests already run as an ordinary user."""
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


_STARTED: list[subprocess.Popen] = []  # every server this test process started, reaped at exit


@atexit.register
def _reap_servers() -> None:
    """Kills any server a test left running (a fixture whose teardown never ran), so no
    `zoo serve` outlives the test run holding its ports."""
    for process in _STARTED:
        if process.poll() is None:
            process.kill()


@contextlib.contextmanager
def running_server(base, *flags, env=None, prefix=(), wait_ready=True):
    """`zoo serve` on free ports in a subprocess: (client, process); always stopped after.
    `base` is the model base path, or None when `flags` say where the models are. Its output
    goes to a file (a pipe nobody reads could fill and stall the server): `process.output()`
    reads what it has printed so far.

    Ready means this process printed its "Serving models" line (after it bound its ports) and
    answers /healthz: a port picked free can be taken by another process before the server
    binds it, and then an answer on that port would come from someone else. A server that
    lost that race is started again on new ports."""
    for attempt in range(3):
        started = _start_server(base, flags, env, prefix)
        client, process = started
        try:
            if wait_ready:
                _wait(lambda: process.poll() is not None
                      or ("Serving models from" in process.output() and client.get("/healthz")[0] == 200),
                      120, "the server to start")
                if process.poll() is not None and "is in use" in process.output() and attempt < 2:
                    continue  # lost the race for a port
                assert process.poll() is None, process.output()
            break
        except BaseException:
            stop(process)
            process.log.close()
            raise
    try:
        yield client, process
    finally:
        stop(process)
        process.log.close()


def _start_server(base, flags, env, prefix):
    port, grpc_port = _free_port(), _free_port()
    while grpc_port == port:
        grpc_port = _free_port()
    where = ["--model-base-path", str(base)] if base is not None else []
    log = tempfile.NamedTemporaryFile("w+", prefix="zoo-serve-", suffix=".log")
    process = subprocess.Popen(
        [*prefix, sys.executable, "-m", "zoo", "serve", *where, "--rest-api-port", str(port),
         "--port", str(grpc_port), "--file-system-poll-wait-seconds", "0.2", *flags],
        stdout=log, stderr=subprocess.STDOUT, text=True,
        env={key: value for key, value in {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}.items()
             if value is not None})  # env={"X": None} leaves X unset
    _STARTED.append(process)
    process.log = log
    process.output = lambda: open(log.name, errors="replace").read()
    client = Client(port)
    client.grpc_port = grpc_port
    return client, process


def stop(process, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _worker_processes(pid: int) -> list[int]:
    """The uvicorn worker processes of a server (not multiprocessing's resource tracker)."""
    def read(path: Path, default: bytes = b"") -> bytes:  # threads and processes come and go meanwhile
        try:
            return path.read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            return default

    children = [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                for child in read(task / "children").split()]
    return [child for child in children
            if b"resource_tracker" not in read(Path(f"/proc/{child}/cmdline"), b"resource_tracker")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def grpc_predict(grpc_port: int, shape, values, model: str = "lenet", input_name: str = "images"):
    """A gRPC Predict of a float tensor that declares `shape` and carries `values` (which need
    not match: hostile clients send what they like)."""
    import grpc
    from tensorflow.core.framework import tensor_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    proto.float_val.extend(values)
    request.inputs[input_name].CopyFrom(proto)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60)
