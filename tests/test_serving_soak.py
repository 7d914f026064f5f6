"""A soak of `zoo serve` (slow: `pytest -m slow tests/test_serving_soak.py -s`): 32 clients
predict for ZOO_SOAK_SECONDS (default 60) while a second client cycles through the hostile
cases of test_serving_hostile.py and a third deploys versions with `cp`, corrupts them and
repairs them. Every good request must succeed, the server's memory must stay bounded, and at
the end the status must list exactly the versions on disk, all serving.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import grpc
import keras
import numpy as np
import pytest

import zoo
from zoo.export import export_model
from serving_helpers import _wait, grpc_predict, running_server

SECONDS = float(os.environ.get("ZOO_SOAK_SECONDS", "60"))
CLIENTS = 32
RSS_LIMIT_MB = 3000  # the server's resident memory must stay under this, whatever the clients send
IMAGE = np.random.default_rng(0).uniform(0, 255, (1, 28, 28, 1)).round(1).tolist()
GOOD = json.dumps({"instances": IMAGE}).encode()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _raw(port: int, data: bytes, timeout: float = 30) -> bytes:
    """Sends `data` on a fresh connection and returns what comes back until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := sock.recv(1 << 16):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def _post(path: str, body: bytes) -> bytes:
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))


def _hostile_cases(port: int, grpc_port: int):
    """(name, callable) pairs; each attacks once and returns nothing (the server's answers are
    checked by the unit tests; here only their effect on everyone else matters)."""
    def grpc_shape(shape, values):
        try:
            grpc_predict(grpc_port, shape, values)
        except grpc.RpcError:
            pass

    def huge_header():
        _raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (8 * 2**20) + b"\r\n\r\n")

    def idle_connections():
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(200)]
        time.sleep(1.5)
        for sock in socks:
            sock.close()

    def trickle():
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"POST /v1/models/lenet:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
            try:
                for _ in range(30):
                    sock.sendall(b" ")
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass

    # Made once, before the soak: encoding it holds this process's GIL for seconds, which
    # would stall the good clients here between their headers and their bodies.
    big = _post("/v1/models/lenet:predict", json.dumps({"instances": np.zeros((8000, 28, 28, 1)).tolist()}).encode())

    def big_bodies():  # four ~20 MB valid requests at once: admitted or refused, never unbounded
        threads = [threading.Thread(target=_raw, args=(port, big, 120))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)

    image = json.dumps(IMAGE[0])
    return [
        ("huge header", huge_header),
        ("deep JSON", lambda: _raw(port, _post("/v1/models/lenet:predict", b"[" * 100_000))),
        ("10**400", lambda: _raw(port, _post("/v1/models/lenet:predict",
                                             ('{"instances": [' + image.replace("[", "[1" + "0" * 400 + ",", 1)
                                              + "]}").encode()))),
        ("string number", lambda: _raw(port, _post("/v1/models/lenet:predict", b'{"instances": [[["7"]]]}'))),
        ("odd versions", lambda: [_raw(port, b"GET /v1/models/lenet/versions/%s HTTP/1.1\r\nHost: x\r\n"
                                        b"Connection: close\r\n\r\n" % v) for v in (b"%C2%B2", b"9" * 5000)]),
        ("odd verbs", lambda: [_raw(port, _post(f"/v1/models/lenet:v{'x' * 2000}{chr(97 + i)}", b"{}"))
                               for i in range(20)]),
        ("gRPC petabytes", lambda: grpc_shape([2**40, 28, 28, 1], [])),
        ("gRPC broadcast", lambda: grpc_shape([20000, 28, 28, 1], [1.0])),
        ("trickled body", trickle),
        ("idle connections", idle_connections),
        ("big bodies", big_bodies),
    ]


def _deploy(base: Path, source: Path, stop: threading.Event, log: list) -> None:
    """Deploys with `cp` (graph first, variables later), corrupts and repairs, removes old
    versions, until `stop`; keeps 2-3 versions on disk."""
    version = 1
    while not stop.is_set():
        version += 1
        target = base / "lenet" / str(version)
        target.mkdir()
        shutil.copy(source / "saved_model.pb", target)
        time.sleep(0.5)
        shutil.copytree(source / "variables", target / "variables")
        shutil.copytree(source / "assets.extra", target / "assets.extra")
        log.append(f"deployed {version}")
        time.sleep(1.0)
        if version % 2 == 0:  # a broken version arrives, serves nothing, and is then repaired
            (target / "saved_model.pb").write_bytes(b"corrupt" * 1000)
            time.sleep(1.5)
            shutil.copy(source / "saved_model.pb", target / "saved_model.pb")
            log.append(f"corrupted and repaired {version}")
        versions = sorted(int(p.name) for p in (base / "lenet").iterdir() if p.name.isdigit())
        for old in versions[:-3]:
            shutil.rmtree(base / "lenet" / str(old))
        time.sleep(1.0)


@pytest.mark.slow
def test_soak_good_clients_never_fail_while_hostile_clients_and_deploys_run(tmp_path):
    keras.utils.set_random_seed(0)
    source = export_model(zoo.build("lenet"), tmp_path / "source", name="lenet", version=1,
                          input_name="images", warmup_inputs=np.zeros((1, 28, 28, 1), "float32"))
    base = tmp_path / "models"
    shutil.copytree(source, base / "lenet" / "1")
    with running_server(base, "--enable-batching", "--num-versions", "1000",
                        "--client-body-timeout-seconds", "10") as (client, process):
        stop = threading.Event()
        good, failures, hostile, deploys, rss = [0], [], {}, [], [_rss_mb(process.pid)]

        def predict():
            connection = http.client.HTTPConnection("127.0.0.1", client.port, timeout=60)
            while not stop.is_set():
                try:
                    connection.request("POST", "/v1/models/lenet:predict", body=GOOD,
                                       headers={"Content-Type": "application/json"})
                    response = connection.getresponse()
                    answer = response.read()
                    if response.status != 200:
                        failures.append((response.status, answer[:300]))
                    else:
                        good[0] += 1
                except (OSError, http.client.HTTPException) as error:
                    failures.append(("connection", repr(error)))
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", client.port, timeout=60)
            connection.close()

        cases = _hostile_cases(client.port, client.grpc_port)

        def attack():
            while not stop.is_set():
                for name, case in cases:
                    if stop.is_set():
                        break
                    case()
                    hostile[name] = hostile.get(name, 0) + 1

        def sample():
            while not stop.is_set():
                rss.append(_rss_mb(process.pid))
                time.sleep(0.2)

        threads = [threading.Thread(target=predict) for _ in range(CLIENTS)]
        threads += [threading.Thread(target=attack), threading.Thread(target=sample),
                    threading.Thread(target=_deploy, args=(base, source, stop, deploys))]
        for thread in threads:
            thread.start()
        time.sleep(SECONDS)
        stop.set()
        for thread in threads:
            thread.join(timeout=300)

        on_disk = sorted(p.name for p in (base / "lenet").iterdir())

        def status_matches_disk():
            code, answer = client.get("/v1/models/lenet")
            entries = answer.get("model_version_status", [])
            return code == 200 and sorted(e["version"] for e in entries) == sorted(on_disk, key=int) and \
                all(e["state"] == "AVAILABLE" for e in entries)

        _wait(status_matches_disk, 60, f"the status to list exactly {on_disk}")
        output = process.output()
    print(f"\nsoak {SECONDS:g} s: {good[0]:,} good predicts at c{CLIENTS}, {len(failures)} failed; hostile cases "
          f"run: {sum(hostile.values())} ({', '.join(f'{k} x{v}' for k, v in hostile.items())}); "
          f"{len(deploys)} deploy steps; versions on disk at the end {on_disk}; server RSS start "
          f"{rss[0]:.0f} MB, peak {max(rss):.0f} MB")
    assert failures == [], failures[:5]
    assert good[0] > 100 and len(hostile) == 11 and deploys
    assert max(rss) < RSS_LIMIT_MB
    assert "Traceback" not in output
