"""`zoo serve` as a process an operator starts and stops: a busy port, a SIGKILLed supervisor,
SIGTERM with requests in flight on both APIs. Real processes, bounded waits, all cleaned up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import keras
import numpy as np
import pytest

import zoo
from zoo.export import export_model
from serving_helpers import _alive, _free_port, _wait, _worker_processes, running_server


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("lifecycle")
    keras.utils.set_random_seed(0)
    export_model(zoo.build("lenet"), base, input_name="images", warmup_inputs=np.zeros((1, 28, 28, 1), "float32"))
    return base


def _zoo_serve(base, *flags) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", "serve", "--model-base-path", str(base), *flags],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.mark.parametrize("api, flag", [("REST", "--rest-api-port"), ("gRPC", "--port")])
def test_a_busy_port_is_reported_before_anything_is_announced(base, api, flag):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = {"--rest-api-port": str(_free_port()), "--port": str(_free_port()), flag: str(busy)}
        result = _zoo_serve(base, *[item for pair in ports.items() for item in pair])
    assert result.returncode == 2, result
    assert f"The {api} port 127.0.0.1:{busy} is in use" in result.stderr and f"Pick another with {flag}" in result.stderr
    assert "Serving models" not in result.stdout and "Server stopped" not in result.stdout
    assert "Traceback" not in result.stderr


def _tcp_sockets(pid: int, port: int, state: str) -> int:
    """How many TCP sockets on local `port` in `state` ("01" established, "0A" listening)
    process `pid` holds (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(int(row[1].split(":")[1], 16) == port and row[3] == state and row[9] in inodes for row in rows)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads connections on Linux only")
def test_workers_share_the_connections_and_a_second_server_cannot_take_their_port(base):
    """Each worker listens on its own SO_REUSEPORT socket, so 32 connections land on both (on
    one shared socket one worker took up to 31 of them); the port is still busy to anyone else."""
    with running_server(base, "--workers", "2", "--port", "0") as (client, process):
        workers = _worker_processes(process.pid)
        _wait(lambda: sum(_tcp_sockets(pid, client.port, "0A") for pid in workers) == 2, 120, "both workers to listen")
        connections = [socket.create_connection(("127.0.0.1", client.port), timeout=10) for _ in range(32)]
        try:
            _wait(lambda: sum(_tcp_sockets(pid, client.port, "01") for pid in workers) == 32, 30,
                  "32 accepted connections")
            shares = sorted(_tcp_sockets(pid, client.port, "01") for pid in workers)
            assert shares[0] >= 6, f"connections per worker: {shares}"  # hashing: P(fewer than 6 of 32) ~ 6e-5
        finally:
            for connection in connections:
                connection.close()
        result = _zoo_serve(base, "--workers", "2", "--rest-api-port", str(client.port), "--port", "0")
        assert result.returncode == 2 and f"The REST port 127.0.0.1:{client.port} is in use" in result.stderr, result
        with socket.socket() as probe, pytest.raises(OSError):
            probe.bind(("127.0.0.1", client.port))
        status, _ = client.get("/v1/models/lenet")  # and the server goes on answering
        assert status == 200


@pytest.mark.parametrize("when", ["serving", "starting"])
def test_workers_die_with_a_sigkilled_supervisor_and_the_port_is_free_again(base, when):
    """Killed while serving, or while its workers are still importing TensorFlow (before they
    could ask to be told of their parent's death)."""
    with running_server(base, "--workers", "2", "--port", "0", wait_ready=when == "serving") as (client, process):
        _wait(lambda: len(_worker_processes(process.pid)) == 2, 60, "two workers")
        workers = _worker_processes(process.pid)
        process.kill()
        process.wait(timeout=10)
        _wait(lambda: not any(_alive(pid) for pid in workers), 60, "the orphaned workers to exit")
        with socket.socket() as probe:  # the port can be bound again: nothing holds it
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", client.port))


def _slow_body(client, results: dict) -> None:
    """A predict whose body never finishes; its answer (if any) lands in results."""
    sock = socket.create_connection(("127.0.0.1", client.port), timeout=60)
    with sock:
        sock.sendall(b"POST /v1/models/lenet:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
        results["started"] = True
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        results["answer"] = data


def test_sigterm_stops_grpc_and_rest_together_and_reports_a_cut_off_request_truthfully(base):
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    with running_server(base, "--shutdown-grace-seconds", "2") as (client, process):
        results = {}
        sender = threading.Thread(target=_slow_body, args=(client, results))
        sender.start()
        _wait(lambda: results.get("started"), 10, "the slow request to start")
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # REST is draining the slow request; gRPC must be refusing already
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "lenet"
        with grpc.insecure_channel(f"127.0.0.1:{client.grpc_port}") as channel:
            with pytest.raises(grpc.RpcError) as refused:
                model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=5)
        assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), refused.value
        assert process.wait(timeout=30) == 0
        sender.join(timeout=30)
        output = process.output()
    head, _, body = results["answer"].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and b"application/json" in head, results
    assert b"The server stopped before this request was answered" in body
    assert "1 request(s) were still running after the 2 s grace period" in output
    assert "requests in flight were answered" not in output


@pytest.mark.parametrize("flag, value", [("--max-header-kb", "0"), ("--client-body-timeout-seconds", "nan"),
                                         ("--max-in-flight-mb", "0.5"), ("--workers", "0")])
def test_bad_limits_are_refused_before_anything_loads(base, flag, value):
    start = time.monotonic()
    result = _zoo_serve(base, flag, value, "--rest-api-port", str(_free_port()), "--port", "0")
    assert result.returncode == 2 and f"zoo serve: error: {flag} must be a number >=" in result.stderr, result
    assert "Serving models" not in result.stdout
    assert time.monotonic() - start < 60
