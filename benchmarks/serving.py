"""Serving throughput and latency for the `lenet` export, `zoo serve` beside the servers a
user would run instead, side by side in one run.

    python benchmarks/serving.py [--repeats 3] [--seconds 3] [--workers 1 2] [--export saved_models/lenet/1]

Measures, alternating the servers within each repeat and reporting medians over repeats
(min-max beside them):
1. in-process `serving_default` throughput on batches of 32 (the model's limit);
2. REST predict with one example per request, throughput and p50 / p99 latency at
   concurrency 1, 8 and 32, for `zoo serve --workers N` with batching off and on, and for its
   peers (benchmarks/serving_peers.py, `pip install -e ".[bench]"`): LitServe with dynamic
   batching at the same maximum batch size (32) and timeout (2 ms), `fast_queue` on as its
   docs advise, and the FastAPI server most tutorials write (the model called once per
   request);
3. gRPC Predict, the same table for `zoo serve --workers 1` (the main process answers gRPC
   whatever --workers says);
4. the CPU time each request costs the server processes and the load generator (Linux), and
   the predict rate both cores would give at that cost if never idle: the CPU ceiling. The
   no-op endpoint (`/healthz`) rate is context only: it measures the HTTP stack, not what a
   predict costs, so predict / no-op measures the machine more than the server.

Servers not being measured are stopped (SIGSTOP), so their idle polling (LitServe's inference
worker asks its queue every millisecond) takes nothing from the one measured.

Targets: at concurrency 32 with batching, >= 80% of the CPU ceiling and >= 2x LitServe and
>= 5x the tutorial server; batching on within 10% of off, or better, at concurrency 1 and 8;
--workers 2 >= --workers 1.
The load generator runs on the same cores as the servers (2 here), so absolute numbers are
this machine's; the ratios are the point. Clients keep their connections alive, as
production clients do. REST clients are asyncio protocols on one event loop with the request
bytes built once, so they take little of the shared cores (about 20 µs of CPU per request)
and the server, not the load generator, sets every figure. gRPC clients are `grpc.aio` calls
on one channel sending the request's bytes serialised once.

Results, dated and with their command: benchmarks/RESULTS.md (the README keeps a headline).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CONCURRENCY = (1, 8, 32)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process `pid` and every process below it
    (`zoo serve --workers N`'s workers, LitServe's API server and inference worker); None where
    there is no Linux `/proc`."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    parents, used = {}, {}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                # the command name (field 2) may hold spaces: the fields after it are split
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:  # the process has just exited
            continue
        parents[int(entry)], used[int(entry)] = int(fields[1]), int(fields[11]) + int(fields[12])  # ppid, utime+stime

    def below(process: int) -> bool:
        while process > 1:
            if process == pid:
                return True
            process = parents.get(process, 0)
        return False

    return sum(ticks for process, ticks in used.items() if below(process)) / tick


@contextlib.contextmanager
def started(command: list[str], port: int):
    """Runs a server process until the block ends, once its `GET /healthz` answers 200; yields
    its pid."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{' '.join(command[:4])} did not start")
            time.sleep(0.2)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):  # LitServe's processes, should any remain
            os.killpg(process.pid, signal.SIGKILL)


class _Connection(asyncio.Protocol):
    """One keep-alive client: sends `request`, reads the whole answer (by its Content-Length),
    and sends it again until `stop_at`."""

    def __init__(self, request: bytes, stop_at: float, done: asyncio.Future):
        self.request, self.stop_at, self.done = request, stop_at, done
        self.latencies: list[float] = []
        self.errors = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self) -> None:
        self.buffer, self.expected, self.began = bytearray(), None, time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.expected is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            length = head.find(b"\r\ncontent-length:")
            if length < 0:
                self.done.set_exception(RuntimeError(f"an answer without Content-Length: {head[:200]!r}"))
                return
            self.status = int(head[9:12])
            self.expected = end + 4 + int(head[length + 17:].split(b"\r\n", 1)[0])
        if len(self.buffer) >= self.expected:
            now = time.perf_counter()
            self.latencies.append(now - self.began)
            self.errors += self.status != 200
            if now < self.stop_at:
                self.send()
            elif not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"the server closed a connection: {exc}"))


def load(target: tuple[int, int], method: str, path: str, body: bytes | None, concurrency: int, seconds: float):
    """(requests/s, p50 ms, p99 ms, errors, server CPU µs per request, client CPU µs per request)
    for `concurrency` keep-alive clients of the server `target` (port, pid) over `seconds`.

    The clients are asyncio protocols on one event loop (uvloop when installed) with the
    request bytes built once, so they cost the shared cores as little as Python can: with
    `http.client` and a thread per client, the load generator, not the server, set the no-op
    figure (it used a whole core; the server did not)."""
    port, pid = target
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    request = head.encode() + b"\r\n" + (body or b"")

    async def run():
        loop = asyncio.get_running_loop()
        stop_at = time.perf_counter() + 3600
        clients = []
        for _ in range(concurrency):
            client = _Connection(request, stop_at, loop.create_future())
            await loop.create_connection(lambda c=client: c, "127.0.0.1", port)
            clients.append(client)
        server_cpu, client_cpu, began = _cpu_seconds(pid), time.process_time(), time.perf_counter()
        for client in clients:
            client.stop_at = began + seconds
            client.send()
        await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), seconds + 60)
        elapsed = time.perf_counter() - began
        client_cpu = time.process_time() - client_cpu
        server_cpu = None if server_cpu is None else _cpu_seconds(pid) - server_cpu
        for client in clients:
            client.transport.close()
        return clients, elapsed, server_cpu, client_cpu

    clients, elapsed, server_cpu, client_cpu = _run_event_loop(run())
    every = np.concatenate([np.asarray(c.latencies) for c in clients]) * 1000
    per_request = 1e6 / len(every)
    return len(every) / elapsed, float(np.percentile(every, 50)), float(np.percentile(every, 99)), \
        sum(c.errors for c in clients), None if server_cpu is None else server_cpu * per_request, \
        client_cpu * per_request


def _run_event_loop(coroutine):
    try:
        import uvloop
    except ImportError:  # Windows: the default loop
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def grpc_load(target: tuple[int, int], payload: bytes, concurrency: int, seconds: float):
    """`load`'s figures for gRPC Predict: `concurrency` calls kept in flight on one channel,
    each sending `payload` (a serialised PredictRequest) and taking the answer's bytes
    unparsed, so the clients cost as little as `grpc.aio` allows."""
    import grpc

    port, pid = target

    async def run():
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            predict = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")  # bytes in, bytes out
            await predict(payload, timeout=60)
            latencies, errors = [], 0

            async def client(stop_at: float):
                nonlocal errors
                while (began := time.perf_counter()) < stop_at:
                    try:
                        await predict(payload, timeout=60)
                    except grpc.aio.AioRpcError:
                        errors += 1
                    latencies.append(time.perf_counter() - began)

            server_cpu, client_cpu, began = _cpu_seconds(pid), time.process_time(), time.perf_counter()
            await asyncio.gather(*(client(began + seconds) for _ in range(concurrency)))
            elapsed = time.perf_counter() - began
            return latencies, errors, elapsed, \
                None if server_cpu is None else _cpu_seconds(pid) - server_cpu, time.process_time() - client_cpu

    latencies, errors, elapsed, server_cpu, client_cpu = asyncio.run(run())
    every = np.asarray(latencies) * 1000
    per_request = 1e6 / len(every)
    return len(every) / elapsed, float(np.percentile(every, 50)), float(np.percentile(every, 99)), errors, \
        None if server_cpu is None else server_cpu * per_request, client_cpu * per_request


def predict_request(example: np.ndarray) -> bytes:
    """A serialised TF Serving PredictRequest for `lenet` with `example` as its `images`."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "lenet"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(example.astype("float32")))
    return request.SerializeToString()


def in_process(export: Path, seconds: float, batch: int = 32) -> float:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(export))
    serve = loaded.signatures["serving_default"]
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, 28, 28, 1)).astype("float32"))
    serve(images=x)
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        serve(images=x)["classes"].numpy()
        count += batch
    return count / (time.perf_counter() - began)


PEERS = ("LitServe", "FastAPI")
PEER_SCRIPT = Path(__file__).with_name("serving_peers.py")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="`zoo serve --workers` configurations to measure (default: 1 2)")
    parser.add_argument("--export", type=Path, help="a lenet version dir (default: export an untrained lenet)")
    parser.add_argument("--server-flags", default="", help="extra `zoo serve` flags for every server, e.g. "
                        "'--tensorflow-intra-op-parallelism 0'")
    parser.add_argument("--peers", nargs="*", choices=PEERS, default=list(PEERS),
                        help="peer servers to measure beside zoo serve (default: both; none: --peers)")
    parser.add_argument("--no-grpc", action="store_true", help="skip the gRPC table")
    args = parser.parse_args(argv)
    missing = [peer for peer in args.peers if importlib.util.find_spec(peer.lower()) is None]
    if missing:
        parser.error(f"{' and '.join(missing)} not installed: pip install -e \".[bench]\", or leave them out "
                     "with --peers")

    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "models"
        if args.export:
            (base / "lenet").mkdir(parents=True)
            os.symlink(args.export.resolve(), base / "lenet" / "1")
        else:
            import zoo
            from zoo.export import export_model

            warm = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
            export_model(zoo.build("lenet"), base, input_name="images", warmup_inputs=warm)
        export = base / "lenet" / "1"
        example = np.random.default_rng(1).uniform(0, 255, (1, 28, 28, 1)).round(1)
        body = json.dumps({"instances": example.tolist()}).encode()
        grpc_payload = predict_request(example)
        results: dict[tuple, list] = {}
        extra = args.server_flags.split()
        batching = ["--enable-batching", "--max-batch-size", "32", "--batch-timeout-micros", "2000"]
        rest, grpc_targets = {}, {}  # label -> (port, pid)
        with contextlib.ExitStack() as servers:
            for workers in args.workers:
                for on in (False, True):
                    label = f"zoo serve --workers {workers}, batching {'on' if on else 'off'}"
                    port, grpc_port = _free_port(), _free_port() if workers == 1 and not args.no_grpc else 0
                    pid = servers.enter_context(started(
                        [sys.executable, "-m", "zoo", "serve", "--model-base-path", str(base), "--rest-api-port",
                         str(port), "--port", str(grpc_port), *extra, "--workers", str(workers),
                         *(batching if on else [])], port))
                    rest[label] = port, pid
                    if grpc_port:
                        grpc_targets[label] = grpc_port, pid
            for peer in args.peers:
                port = _free_port()
                rest[peer] = port, servers.enter_context(started(
                    [sys.executable, str(PEER_SCRIPT), peer.lower(), "--export", str(export), "--port", str(port)],
                    port))
            measurements = [("REST", label, concurrency) for label in rest for concurrency in CONCURRENCY]
            measurements += [("gRPC", label, concurrency) for label in grpc_targets for concurrency in CONCURRENCY]
            measurements += [("no-op", label, 32) for label in rest if label.startswith("zoo")]
            pids = {label: pid for label, (_, pid) in rest.items()}
            for pid in pids.values():  # idle servers still poll (LitServe's worker every millisecond): stopped
                os.killpg(pid, signal.SIGSTOP)
            for repeat in range(args.repeats):
                print(f"repeat {repeat + 1}/{args.repeats}", file=sys.stderr, flush=True)
                results.setdefault(("in-process",), []).append(in_process(export, args.seconds))
                for api, label, concurrency in measurements if repeat % 2 == 0 else measurements[::-1]:
                    with _running(pids[label]):
                        figures = _measure(api, rest, grpc_targets, label, grpc_payload, body, concurrency,
                                           args.seconds)
                    results.setdefault((api, label, concurrency), []).append(figures)
            for pid in pids.values():
                os.killpg(pid, signal.SIGCONT)  # to stop them
    report(results, args.repeats, args.seconds)
    return 0


@contextlib.contextmanager
def _running(pid: int):
    """Resumes the stopped server `pid` (its whole process group) for one measurement."""
    os.killpg(pid, signal.SIGCONT)
    time.sleep(0.3)  # let timers that fell due while it was stopped run before measuring
    try:
        yield
    finally:
        os.killpg(pid, signal.SIGSTOP)


def _measure(api, rest, grpc_targets, label, grpc_payload, body, concurrency, seconds):
    if api == "gRPC":
        return grpc_load(grpc_targets[label], grpc_payload, concurrency, seconds)
    if api == "REST":
        return load(rest[label], "POST", "/v1/models/lenet:predict", body, concurrency, seconds)
    return load(rest[label], "GET", "/healthz", None, concurrency, seconds)


def report(results: dict[tuple, list], repeats: int, seconds: float) -> None:
    """Prints the tables (Markdown) from every repeat's figures."""
    def median(key, index=0):
        return statistics.median(r[index] for r in results[key])

    def spread(key, index=0):  # "1,234 (1,100-1,300)"
        values = [r[index] for r in results[key]]
        return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"

    rest = [key[1] for key in results if key[0] == "REST" and key[2] == 32]
    zoo_labels = [label for label in rest if label.startswith("zoo")]
    cores = os.cpu_count()
    print(f"\nlenet export, {repeats} alternating repeats of {seconds:g} s, medians (min-max); "
          f"{cores} CPU cores shared by servers and clients\n")
    in_process_rates = results[("in-process",)]
    print(f"in-process serving_default, batches of 32: {statistics.median(in_process_rates):,.0f} examples/s "
          f"({min(in_process_rates):,.0f}-{max(in_process_rates):,.0f})\n")

    best = max(zoo_labels, key=lambda label: median(("REST", label, 32)))
    print(f"REST predict at concurrency 32, one example per request: `{best}` against the others\n")
    print("| server | requests/s | p50 ms | p99 ms | best zoo serve / this |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label in rest:
        key = ("REST", label, 32)
        print(f"| {label} | {spread(key)} | {median(key, 1):.1f} | {median(key, 2):.1f} | "
              f"{median(('REST', best, 32)) / median(key):.1f}x |")
    print()
    for api in ("REST", "gRPC"):
        labels = [key[1] for key in results if key[0] == api and key[2] == 32]
        if not labels:
            continue
        print(f"{api} predict, one example per request\n")
        print("| server | concurrency | requests/s | p50 ms | p99 ms | errors | batching on / off |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for label in labels:
            for concurrency in CONCURRENCY:
                key = (api, label, concurrency)
                off = (api, label.replace("batching on", "batching off"), concurrency)
                ratio = f"{median(key) / median(off):.2f}x" if "batching on" in label and off in results else ""
                print(f"| {label} | {concurrency} | {spread(key)} | {median(key, 1):.1f} | {median(key, 2):.1f} | "
                      f"{sum(r[3] for r in results[key])} | {ratio} |")
        print()
    if all(r[4] is not None for key, rs in results.items() if key[0] != "in-process" for r in rs):
        print(f"CPU time per request at concurrency 32 (server: all its processes; clients: this load generator), "
              f"and the CPU ceiling: what all {cores} cores would answer at that cost if never idle\n")
        print("| server | API | server µs | clients µs | ceiling | requests/s | of the ceiling |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for key in results:
            if key[0] in ("REST", "gRPC", "no-op") and key[2] == 32:
                api, label = key[:2]
                ceiling = cores * 1e6 / (median(key, 4) + median(key, 5))
                print(f"| {label} | {api if api != 'no-op' else 'REST no-op (/healthz)'} | {median(key, 4):.0f} | "
                      f"{median(key, 5):.0f} | {ceiling:,.0f} | {median(key):,.0f} | {median(key) / ceiling:.0%} |")
        print()


if __name__ == "__main__":
    raise SystemExit(main())
