"""Serving throughput and latency for the `lenet` export, side by side in one run.

    python benchmarks/serving.py [--repeats 3] [--seconds 3] [--workers 1 2] [--export saved_models/lenet/1]

Measures, alternating the variants within each repeat and reporting medians over repeats:
1. in-process `serving_default` throughput on batches of 32 (the model's limit);
2. for each `zoo serve --workers N` configuration: the no-op endpoint (`/healthz`) at
   concurrency 32 (the HTTP stack's limit), and predict
   throughput with one example per request, with p50 / p99 latency, at concurrency 1, 8 and
   32, with batching off and on (two servers per configuration, started once);
3. the CPU time each request costs the server processes and the load generator (Linux), and
   the predict rate both cores would give at that cost if never idle: the ceiling of the
   predict / no-op ratio on this machine.

Targets at concurrency 32: batching on >= 2x batching off, and predict >= 50% of no-op.
The load generator runs on the same cores as the server (2 here), so absolute numbers are
this machine's; the ratios are the point. Clients keep their connections alive, as
production clients do. They are asyncio protocols on one event loop with the request bytes
built once, so they take little of the shared cores (about 10% of one core at 4,000 predict
requests/s) and the server, not the load generator, sets every figure: the earlier
generator (`http.client`, a thread per client) used a whole core and capped the no-op figure
at 6,000-7,700 requests/s, where the server answers 16,000.

Results, dated and with their command: benchmarks/RESULTS.md (the README keeps a headline).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
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
    """CPU seconds (user + system) used so far by process `pid` and its children, which are
    `zoo serve --workers N`'s worker processes; None where there is no Linux `/proc`."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                # the command name (field 2) may hold spaces: the fields after it are split
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:  # the process has just exited
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


@contextlib.contextmanager
def server(base: Path, *flags: str):
    """Starts `zoo serve` on a free port; yields (REST port, pid)."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "zoo", "serve", "--model-base-path", str(base),
                                "--rest-api-port", str(port), "--port", "0", *flags],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("zoo serve did not start") from None
                time.sleep(0.2)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)


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
    args = parser.parse_args(argv)

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
        results: dict[str, list] = {}

        def add(key, value):
            results.setdefault(key, []).append(value)

        extra = args.server_flags.split()
        batching = ["--enable-batching", "--max-batch-size", "32", "--batch-timeout-micros", "2000"]
        with contextlib.ExitStack() as servers:
            ports = {(workers, label): servers.enter_context(
                        server(base, *extra, "--workers", str(workers), *(batching if label == "on" else [])))
                     for workers in args.workers for label in ("off", "on")}
            for repeat in range(args.repeats):
                print(f"repeat {repeat + 1}/{args.repeats}", file=sys.stderr, flush=True)
                add("in-process", in_process(export, args.seconds))
                for workers in args.workers if repeat % 2 == 0 else args.workers[::-1]:
                    add(f"w{workers} no-op c32", load(ports[workers, "off"], "GET", "/healthz", None, 32, args.seconds))
                    for concurrency in CONCURRENCY:
                        for label in ("off", "on") if repeat % 2 == 0 else ("on", "off"):
                            add(f"w{workers} predict c{concurrency} batching {label}",
                                load(ports[workers, label], "POST", "/v1/models/lenet:predict", body, concurrency,
                                     args.seconds))

    def median(key, index=None):
        values = results[key] if index is None else [r[index] for r in results[key]]
        return statistics.median(values)

    print(f"\nlenet export, {args.repeats} alternating repeats of {args.seconds:g} s, medians; "
          f"{os.cpu_count()} CPU cores shared by server and clients\n")
    print(f"in-process serving_default, batches of 32: {median('in-process'):,.0f} examples/s\n")
    print("| zoo serve | no-op (/healthz) c32 | predict c32 batching off | on | on / off | best predict / no-op |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for workers in args.workers:
        noop = median(f"w{workers} no-op c32", 0)
        on32, off32 = (median(f"w{workers} predict c32 batching {label}", 0) for label in ("on", "off"))
        print(f"| --workers {workers} | {noop:,.0f} req/s | {off32:,.0f} req/s | {on32:,.0f} req/s | "
              f"{on32 / off32:.2f}x | {max(on32, off32) / noop:.0%} |")
    print("\ntargets at concurrency 32: batching on / off >= 2x; best predict / no-op >= 50%\n")
    if all(r[4] is not None for key, rs in results.items() if key != "in-process" for r in rs):
        cores = os.cpu_count()
        print("CPU time per request at concurrency 32 (server: every `zoo serve` process; clients: this "
              f"load generator). The ceiling is what all {cores} cores would answer at that cost.\n")
        print("| zoo serve | no-op: server µs | predict off: server µs | predict on: server µs | "
              f"predict on: clients µs | predict on: ceiling at {cores} cores | ceiling / no-op |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for workers in args.workers:
            noop = median(f"w{workers} no-op c32", 0)
            on = f"w{workers} predict c32 batching on"
            ceiling = cores * 1e6 / (median(on, 4) + median(on, 5))
            print(f"| --workers {workers} | {median(f'w{workers} no-op c32', 4):.0f} | "
                  f"{median(f'w{workers} predict c32 batching off', 4):.0f} | {median(on, 4):.0f} | "
                  f"{median(on, 5):.0f} | {ceiling:,.0f} req/s | {ceiling / noop:.0%} |")
        print()
    print("| predict, 1 example/request | zoo serve | batching | requests/s | p50 ms | p99 ms | errors |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for concurrency in CONCURRENCY:
        for workers in args.workers:
            for label in ("off", "on"):
                key = f"w{workers} predict c{concurrency} batching {label}"
                print(f"| concurrency {concurrency} | --workers {workers} | {label} | {median(key, 0):,.0f} | "
                      f"{median(key, 1):.1f} | {median(key, 2):.1f} | {sum(r[3] for r in results[key])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
