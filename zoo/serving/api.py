"""`zoo serve` from Python, for notebooks, tests and scripts: the CLI's options as keyword
arguments (`rest_api_port=8501`, `enable_batching=True`, ...; the same names as the flags).

- `serve(...)` runs the server in this process until SIGTERM or Ctrl-C, as `zoo serve` does
  (the command is a thin layer over it);
- `background(...)` starts `zoo serve` in a child process, waits until it answers, yields a
  `RunningServer` (its URLs, a `predict` helper, its log) and stops it when the block ends,
  also on an error or a notebook's interrupt. A separate process keeps the server's
  TensorFlow threads and signal handling out of the caller's.

Example:
    >>> from zoo import serving
    >>> with serving.background(model_base_path="saved_models") as server:  # doctest: +SKIP
    ...     server.predict("lenet", images)["classes"]
    [7, 2, 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def options(**kwargs: Any) -> argparse.Namespace:
    """The command line `zoo serve` would parse, from keyword arguments named like its flags
    (`model_base_path="saved_models"`, `rest_api_port=8601`). Unknown names raise `TypeError`
    listing the accepted ones; values are checked by the server as the flags are."""
    from zoo.serving import server

    parser = argparse.ArgumentParser(prog="zoo serve", add_help=False)
    server.add_arguments(parser)
    accepted = {action.dest for action in parser._actions}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise TypeError(f"Unknown zoo serve option {unknown[0]!r}. Accepted: {', '.join(sorted(accepted))}.")
    if not kwargs.get("model_base_path") and not kwargs.get("model_config_file"):
        raise TypeError("Give model_base_path= (a directory of exported models, e.g. 'saved_models') or "
                        "model_config_file=.")
    defaults = {action.dest: action.default for action in parser._actions}
    return argparse.Namespace(**{**defaults, **kwargs})


def serve(**kwargs: Any) -> int:
    """Runs `zoo serve` in this process until SIGTERM or Ctrl-C; returns its exit code.

    Example:
        >>> serve(model_base_path="saved_models", rest_api_port=8601, enable_batching=True)  # doctest: +SKIP
    """
    from zoo.serving import server

    return server.serve(options(**kwargs))


def to_flags(**kwargs: Any) -> list[str]:
    """`zoo serve` flags for keyword options: `enable_batching=True` -> `--enable-batching`."""
    options(**kwargs)  # the same checks as in-process
    flags: list[str] = []
    for key, value in kwargs.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is not False and value is not None:  # not `in (False, None)`: 0 == False
            flags += [flag, str(value)]
    return flags


class RunningServer:
    """A `zoo serve` started by `background`: its addresses, process and log."""

    def __init__(self, process: subprocess.Popen, rest_port: int, grpc_port: int, host: str, log_path: str):
        self.process = process
        self.url = f"http://{host}:{rest_port}"
        self.grpc_target = f"{host}:{grpc_port}" if grpc_port else None
        self._log_path = log_path

    def log(self) -> str:
        """What the server has printed so far."""
        return Path(self._log_path).read_text(errors="replace")

    def models(self) -> dict[str, list[int]]:
        """{model: its available versions}, from GET /v1/models."""
        listed = request_json(self.url + "/v1/models")["models"]
        return {entry["name"]: sorted(int(s["version"]) for s in entry["model_version_status"]
                                      if s["state"] == "AVAILABLE") for entry in listed}

    def predict(self, model: str, inputs, *, version: int | None = None, signature: str | None = None) -> dict:
        """POST :predict with `inputs` (an array, or {input name: array}); the columnar answer's
        outputs ({name: list})."""
        import numpy as np

        if isinstance(inputs, dict):
            body_inputs = {name: np.asarray(value).tolist() for name, value in inputs.items()}
        else:
            body_inputs = np.asarray(inputs).tolist()
        body = {"inputs": body_inputs, **({"signature_name": signature} if signature else {})}
        path = f"/v1/models/{model}" + (f"/versions/{version}" if version is not None else "") + ":predict"
        outputs = request_json(self.url + path, body)["outputs"]
        return outputs if isinstance(outputs, dict) else {"outputs": outputs}

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (requests in flight finish), then SIGKILL after `timeout` s; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __repr__(self) -> str:
        state = "running" if self.process.poll() is None else f"exited {self.process.returncode}"
        return f"RunningServer({self.url!r}, {state})"


@contextlib.contextmanager
def background(*, startup_timeout: float = 120, **kwargs: Any) -> Iterator[RunningServer]:
    """Starts `zoo serve` with these options in a child process and yields a `RunningServer`
    once it answers; stops it when the block ends. `rest_api_port` defaults to a free port and
    `port` (gRPC) to 0, off; pass `port=None` for a free gRPC port as well.

    Raises `RuntimeError` with the server's own output when it exits or does not answer
    within `startup_timeout` seconds (a bad directory, a busy port).

    Example:
        >>> with background(model_base_path="saved_models") as server:  # doctest: +SKIP
        ...     print(server.url, server.models())
        http://127.0.0.1:40231 {'lenet': [1]}
    """
    kwargs.setdefault("host", "127.0.0.1")
    if kwargs.get("rest_api_port") is None:
        kwargs["rest_api_port"] = _free_port(kwargs["host"])
    if "port" in kwargs and kwargs["port"] is None:
        kwargs["port"] = _free_port(kwargs["host"])
    kwargs.setdefault("port", 0)
    flags = to_flags(**kwargs)
    log = tempfile.NamedTemporaryFile("w+", prefix="zoo-serve-", suffix=".log", delete=False)
    process = subprocess.Popen([sys.executable, "-m", "zoo", "serve", *flags], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    running = RunningServer(process, kwargs["rest_api_port"], kwargs["port"], kwargs["host"], log.name)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"`zoo serve` exited with {process.returncode}:\n{running.log()[-3000:]}")
            try:
                request_json(running.url + "/healthz", timeout=2)
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"`zoo serve` did not answer within {startup_timeout:g} s:\n"
                                       f"{running.log()[-3000:]}") from None
                time.sleep(0.1)
        yield running
    finally:
        running.stop()
        log.close()
        os.unlink(log.name)


def request_json(url: str, body: dict | None = None, timeout: float = 60) -> dict:
    """GET `url` (or POST `body` as JSON) and return the JSON answer; an HTTP error status becomes
    `RuntimeError` with the server's own `error` message. Connection failures stay `URLError`."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read() or b"{}").get("error", error.reason)
        except ValueError:
            message = error.reason
        raise RuntimeError(f"The server answered {error.code}: {message}") from None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
