"""Clients that try to exhaust or crash `zoo serve`: absurd JSON and tensor shapes, floods of
odd URLs, huge or endless headers and bodies, idle connections. Each must cost the server
little, get a clear 4xx (or a closed connection), and leave every other client unaffected.

One server process serves the module over real sockets; every wait is bounded.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import grpc
import keras
import numpy as np
import pytest

import zoo
from zoo.export import export_model
from serving_helpers import grpc_predict, running_server

IMAGE = np.zeros((28, 28, 1)).tolist()
# Small limits, so each test sees them bite within a second or two.
LIMITS = ("--client-header-timeout-seconds", "1", "--client-body-timeout-seconds", "1", "--max-body-mb", "1",
          "--max-enqueued-requests", "3", "--max-in-flight-mb", "1.5")
PREDICT = "/v1/models/lenet:predict"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    keras.utils.set_random_seed(0)
    export_model(zoo.build("lenet"), base, input_name="images", warmup_inputs=np.zeros((1, 28, 28, 1), "float32"))
    with running_server(base, *LIMITS) as (client, process):
        yield client, process


def _image_with(value: str) -> str:
    """A predict body whose first pixel is the JSON text `value`."""
    return '{"instances": [' + json.dumps(IMAGE).replace("0.0", value, 1) + "]}"


@pytest.mark.parametrize("body, message", [
    ("[" * 100_000, "nested too deeply"),
    ('{"instances": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    (_image_with("1" + "0" * 400), "too large for float32"),
    (_image_with('"7"'), "Received strings"),
    (_image_with('"1.5"'), "Received strings"),
    (_image_with("true"), "Received booleans"),
    (_image_with("null"), "Received null"),
], ids=["deep brackets", "deep instances", "10**400", "string 7", "string 1.5", "true", "null"])
def test_absurd_json_is_a_400_with_a_clear_message_and_no_traceback(server, body, message):
    client, process = server
    status, answer = client.post(PREDICT, body)
    assert status == 400 and message in answer["error"], answer
    assert "Traceback" not in process.output()
    assert client.post(PREDICT, {"instances": [IMAGE]})[0] == 200


@pytest.mark.parametrize("version", ["%C2%B2", "%D9%A3", "9" * 5000, "99999999999999999999", "-1"])
def test_a_version_that_is_not_an_ascii_int64_is_a_400(server, version):
    client, process = server
    status, answer = client.get(f"/v1/models/lenet/versions/{version}")
    assert status == 400 and "Version must be a non-negative integer" in answer["error"], answer
    assert len(answer["error"]) < 300  # the client's 5,000 digits are not echoed back
    assert "Traceback" not in process.output()


@pytest.mark.parametrize("shape, values", [([2**40, 28, 28, 1], []), ([20000, 28, 28, 1], [1.0]),
                                           ([1, 28, 28, 1], [0.0] * 10)],
                         ids=["petabytes, no data", "one value for 20,000 images", "too few values"])
def test_a_grpc_tensor_must_carry_the_data_its_shape_declares(server, shape, values):
    client, process = server
    with pytest.raises(grpc.RpcError) as raised:
        grpc_predict(client.grpc_port, shape, values)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "declares shape" in raised.value.details() and "send exactly one value per element" in raised.value.details()
    assert grpc_predict(client.grpc_port, [1, 28, 28, 1], [0.0] * 784).outputs["classes"].int64_val


def _metrics_size(client) -> int:
    sock = socket.create_connection(("127.0.0.1", client.port), timeout=30)
    with sock:
        sock.sendall(b"GET /monitoring/prometheus/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200")
    return len(data)


def test_odd_verbs_models_and_versions_do_not_grow_the_metrics(server):
    client, _ = server
    client.post("/v1/models/lenet:nosuchverb", {})  # the "(unknown)" series exist from here on
    client.post("/v1/models/nosuchmodel:predict", {})
    before = _metrics_size(client)
    for i in range(300):
        letters = "".join(chr(ord("a") + int(digit)) for digit in str(i))  # verbs are letters
        client.post(f"/v1/models/lenet:verb{'x' * 2000}{letters}", {})
        client.post(f"/v1/models/model{i}:predict", {})
        client.get(f"/v1/models/lenet/versions/{i + 5}")
    assert _metrics_size(client) - before < 2000  # counts grow by a few digits, no new series


def _connect(client) -> socket.socket:
    return socket.create_connection(("127.0.0.1", client.port), timeout=30)


def _read_all(sock) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(1 << 16):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_a_huge_header_is_refused_with_431_after_the_limit_not_read_to_its_end(server):
    client, process = server
    sock = _connect(client)
    sent = 0
    with sock:
        sock.sendall(b"POST /v1/models/lenet:predict HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            for _ in range(160):  # up to 160 MB, as the attack did; the server stops it long before
                sock.sendall(b"a" * 2**20)
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_all(sock)
    assert sent < 20, f"the server read {sent} MB of one header"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert client.post(PREDICT, {"instances": [IMAGE]})[0] == 200


def test_a_header_just_over_the_limit_gets_a_431_answer(server):
    client, _ = server
    sock = _connect(client)
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431") and b"exceed the server's limit of 65,536 bytes" in answer


@pytest.mark.parametrize("opening", [b"", b"GET /heal", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"],
                         ids=["silent", "half a request line", "headers never finished"])
def test_a_connection_that_does_not_finish_its_headers_is_closed_at_the_header_timeout(server, opening):
    client, _ = server
    sock = _connect(client)
    with sock:
        sock.sendall(opening)
        start = time.monotonic()
        assert _read_all(sock) == b""  # closed, with nothing to say
        assert 0.5 < time.monotonic() - start < 5


def test_many_idle_connections_are_all_closed_and_others_are_served_meanwhile(server):
    client, _ = server
    idle = [_connect(client) for _ in range(300)]
    try:
        assert client.post(PREDICT, {"instances": [IMAGE]})[0] == 200
        time.sleep(2.5)
        for sock in idle:
            sock.settimeout(5)
            assert _read_all(sock) == b""
    finally:
        for sock in idle:
            sock.close()


def _trickle(client, total: int, seconds: float, results: list, index: int) -> None:
    """A predict whose body of `total` bytes arrives evenly over `seconds`; its status lands in results."""
    sock = _connect(client)
    with sock:
        sock.sendall(b"POST /v1/models/lenet:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % total)
        steps = 10
        try:
            for _ in range(steps):
                sock.sendall(b" " * (total // steps))
                time.sleep(seconds / steps)
            sock.sendall(b" " * (total - steps * (total // steps)))
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_all(sock)
    results[index] = (int(answer.split()[1]) if answer else None, answer.partition(b"\r\n\r\n")[2])


def test_a_body_trickled_slower_than_the_body_timeout_gets_408(server):
    client, process = server
    results = [None]
    _trickle(client, 1000, 3.0, results, 0)
    status, body = results[0]
    assert status == 408 and b"did not arrive within the server's 1 s" in body, results
    assert client.post(PREDICT, {"instances": [IMAGE]})[0] == 200


@pytest.mark.parametrize("count, size, limit", [(5, 1000, b"its limit (--max-enqueued-requests)"),
                                                (3, 700_000, b"(--max-in-flight-mb)")],
                         ids=["requests", "bytes"])
def test_requests_in_flight_are_bounded_without_batching(server, count, size, limit):
    client, _ = server
    results = [None] * count
    threads = [threading.Thread(target=_trickle, args=(client, size, 0.6, results, i)) for i in range(count)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=30)
    statuses = [status for status, _ in results]
    refused = [body for status, body in results if status == 429]
    # The admitted ones are read whole (spaces are not JSON, so 400); the rest refused at once.
    assert refused and all(limit in body for body in refused), results
    assert set(statuses) == {400, 429}, statuses
    assert client.post(PREDICT, {"instances": [IMAGE]})[0] == 200


def test_a_grpc_request_past_the_in_flight_bytes_is_resource_exhausted(server):
    client, _ = server
    with pytest.raises(grpc.RpcError) as raised:  # 2.2 MB of floats; the server holds at most 1.5 MB
        grpc_predict(client.grpc_port, [700, 28, 28, 1], [0.0] * (700 * 784))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "(--max-in-flight-mb): retry later" in raised.value.details()
    assert grpc_predict(client.grpc_port, [1, 28, 28, 1], [0.0] * 784).outputs["classes"].int64_val


def test_a_busy_keep_alive_connection_outlives_the_header_timeout(server):
    """The header deadline is for requests that do not finish, not for a connection's age: one
    connection sending requests back to back for 3 s (the deadline is 1 s) is never cut off."""
    import http.client

    client, _ = server
    connection = http.client.HTTPConnection("127.0.0.1", client.port, timeout=30)
    body = json.dumps({"instances": [IMAGE]})
    deadline, answered = time.monotonic() + 3, 0
    try:
        while time.monotonic() < deadline:
            connection.request("POST", PREDICT, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.status == 200, response.read()
            response.read()
            answered += 1
    finally:
        connection.close()
    assert answered > 10
