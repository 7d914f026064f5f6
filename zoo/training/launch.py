"""`zoo launch --workers N RECIPE [ARGS]`: a local multi-worker cluster for a recipe.

    zoo launch --workers 2 recipes/lenet_mnist.py --dataset digits

Starts N processes of the recipe, each with a `TF_CONFIG` naming all of them on free
127.0.0.1 ports (worker 0 is the chief), so the recipe trains with
MultiWorkerMirroredStrategy. Their output is streamed line by line with a `[worker i]`
prefix. Ctrl-C (or SIGTERM) stops them all; so does one worker failing. When a worker dies
from a signal (killed, out of memory, preempted) the launcher restarts the whole cluster, at
most `--max-restarts` times, and the recipe resumes from its last completed epoch (its
`BackupAndRestore` backup in the model dir). A worker that exits with an error is not
restarted: the same error would come back.

On a real cluster, set `TF_CONFIG` on each machine yourself and run the recipe there; this
command is for one machine (tests, and trying multi-worker training before renting nodes).
It imports neither TensorFlow nor the recipe, so it starts at once.

Example:
    >>> launch(make_parser().parse_args(["--workers", "2", "lenet_mnist", "--dataset", "digits"]))  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from zoo.training.script import find_recipe

POLL_S = 0.2
STOP_GRACE_S = 10.0  # SIGTERM first; SIGKILL after this


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="worker processes (default 2)")
    parser.add_argument("--max-restarts", type=int, default=3, metavar="N",
                        help="restart the cluster at most N times when a worker is killed (default 3)")
    parser.add_argument("recipe", metavar="RECIPE", help="a recipe name (lenet_mnist) or a script path")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the recipe's own flags")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo launch", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return parser


def tf_config(addresses: list[str], index: int) -> str:
    """The `TF_CONFIG` of worker `index` in a cluster of `addresses`.

    Example:
        >>> tf_config(["127.0.0.1:2222", "127.0.0.1:2223"], 1)
        '{"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}, "task": {"type": "worker", "index": 1}}'
    """
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def launch(args: argparse.Namespace) -> int:
    """Runs the cluster until every worker succeeds (0), one fails (its exit code), or Ctrl-C."""

    if args.workers < 1:
        print(f"zoo launch: error: --workers must be at least 1. Received: {args.workers}", file=sys.stderr)
        return 2
    if args.max_restarts < 0:
        print(f"zoo launch: error: --max-restarts must be 0 or more. Received: {args.max_restarts}",
              file=sys.stderr)
        return 2
    try:
        script = find_recipe(args.recipe)
    except LookupError as error:
        print(f"zoo launch: error: {error}", file=sys.stderr)
        return 2
    stopping: list[int] = []  # the signal that asked us to stop, if any
    previous = {sig: signal.signal(sig, lambda number, frame: stopping.append(number))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        restarts = 0
        while True:
            cluster = Cluster(script, args.args, args.workers)
            outcome = cluster.run(stopping)
            if stopping:
                _say("stopped: every worker was stopped.")
                return 128 + stopping[0]
            if outcome.code == 0:
                _say(f"all {args.workers} workers finished.")
                return 0
            if not outcome.lost_worker:
                _say(f"{outcome.reason}; the other workers were stopped (not restarting: the same error "
                     "would come back).")
                return outcome.code
            if restarts >= args.max_restarts:
                _say(f"{outcome.reason}; not restarting: {args.max_restarts} restart(s) used.")
                return outcome.code
            restarts += 1
            _say(f"{outcome.reason}; restarting the cluster ({restarts} of at most {args.max_restarts}): "
                 "training resumes from the last completed epoch.")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a cluster run ended: the exit code to report, why, and whether a worker was lost
    (killed by a signal), which is what a restart can fix."""

    code: int
    reason: str = ""
    lost_worker: bool = False


class Cluster:
    """N worker processes of one script on free local ports."""

    def __init__(self, script: Path, script_args: list[str], workers: int):
        self.script, self.script_args, self.workers = script, list(script_args), workers
        self.processes: list[subprocess.Popen] = []
        self._readers: list[threading.Thread] = []
        self._print_lock = threading.Lock()

    def run(self, stopping: list[int]) -> Outcome:
        """Starts the workers and waits; stops them all when one fails or `stopping` fills."""
        addresses = [f"127.0.0.1:{port}" for port in _free_ports(self.workers)]
        try:
            for index in range(self.workers):
                self._start(index, addresses)
            while True:
                codes = [process.poll() for process in self.processes]
                if stopping:
                    return Outcome(128 + stopping[0])
                if all(code == 0 for code in codes):
                    return Outcome(0)
                failed = [(i, code) for i, code in enumerate(codes) if code not in (None, 0)]
                if failed:
                    return _outcome(failed)
                time.sleep(POLL_S)
        finally:
            self.stop()

    def _start(self, index: int, addresses: list[str]) -> None:
        env = {**os.environ, "TF_CONFIG": tf_config(addresses, index), "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen([sys.executable, str(self.script), *self.script_args], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   text=True, errors="replace", bufsize=1,
                                   start_new_session=True)  # Ctrl-C reaches the launcher, which stops them
        self.processes.append(process)
        role = " (chief)" if index == 0 else ""
        _say(f"worker {index}{role}: pid {process.pid}, {addresses[index]}")
        reader = threading.Thread(target=self._stream, args=(index, process), daemon=True)
        reader.start()
        self._readers.append(reader)

    def _stream(self, index: int, process: subprocess.Popen) -> None:
        for line in process.stdout:
            with self._print_lock:
                print(f"[worker {index}] {line.rstrip()}", flush=True)

    def stop(self) -> None:
        """SIGTERM to every worker still running, SIGKILL after a grace period; waits for all."""
        running = [process for process in self.processes if process.poll() is None]
        for process in running:
            _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL)
                process.wait(timeout=30)
        for reader in self._readers:
            reader.join(timeout=5)


def _outcome(failed: list[tuple[int, int]]) -> Outcome:
    killed = [(i, code) for i, code in failed if code < 0]
    if killed:
        index, code = killed[0]
        return Outcome(1, f"worker {index} was killed ({_signal_name(-code)})", lost_worker=True)
    index, code = failed[0]
    return Outcome(code, f"worker {index} failed with exit code {code}")


def _signal(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the worker and anything it started
    except (ProcessLookupError, PermissionError):
        pass


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):  # held open together, so the ports differ
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _say(message: str) -> None:
    print(f"zoo launch: {message}", flush=True)
