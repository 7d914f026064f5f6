"""`zoo serve`: the model manager, its polling thread, the REST app under uvicorn and the
gRPC services.

    zoo serve --model-base-path saved_models [--rest-api-port 8501] [--port 8500] [--host 127.0.0.1]

Binds to 127.0.0.1 unless `--host` says otherwise. SIGTERM and Ctrl-C stop it gracefully:
it stops accepting connections and lets requests in flight finish (uvicorn's shutdown).

One Python process answers REST on one core at most (the event loop holds the GIL).
`--workers N` runs N REST processes on the same port, each with its own copy of the models
(uvicorn's supervisor starts them, replaces any that die, and stops them on SIGTERM); the
main process then answers gRPC, and the Prometheus metrics add up all processes.
TF Serving's own flag spellings (`--model_base_path`, `--rest_api_port`) work too; `--port`
is the gRPC port, as in TF Serving (0 turns gRPC off).
"""

from __future__ import annotations

import argparse
import errno
import gc
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

DEFAULT_REST_PORT = 8501
WORKER_OPTIONS = "ZOO_SERVE_WORKER_OPTIONS"  # how `--workers` processes receive the command line
SUPERVISOR_PID = "ZOO_SERVE_SUPERVISOR_PID"  # ... and whose child they are


def add_arguments(parser: argparse.ArgumentParser) -> None:
    models = parser.add_mutually_exclusive_group(required=True)
    models.add_argument("--model-base-path", "--model_base_path", metavar="DIR",
                        help="directory of model directories, e.g. saved_models (each holds integer versions); "
                             "with --model-name, the one model's directory (TF Serving's meaning)")
    models.add_argument("--model-config-file", "--model_config_file", metavar="FILE",
                        help="a TF Serving model config (text ModelServerConfig): names, base paths, "
                             "version policies (latest / all / specific) and version labels")
    parser.add_argument("--model-name", "--model_name", metavar="NAME",
                        help="serve only this model, whose versions are in --model-base-path")
    parser.add_argument("--rest-api-port", "--rest_api_port", type=int, default=DEFAULT_REST_PORT, metavar="PORT",
                        help=f"REST port (default {DEFAULT_REST_PORT}, as TF Serving)")
    parser.add_argument("--port", "--grpc-port", type=int, default=8500, metavar="PORT",
                        help="gRPC port (default 8500, as TF Serving; 0: no gRPC)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 for all)")
    parser.add_argument("--num-versions", type=int, default=1, metavar="N",
                        help="serve the latest N versions of each model (default 1, as TF Serving)")
    parser.add_argument("--file-system-poll-wait-seconds", "--file_system_poll_wait_seconds", type=float,
                        default=1.0, metavar="S", help="how often to look for new or removed versions (default 1)")
    parser.add_argument("--max-body-mb", type=float, default=64.0, metavar="MB",
                        help="largest request body accepted (default 64 MB); larger ones get 413")
    parser.add_argument("--enable-batching", "--enable_batching", action="store_true",
                        help="merge concurrent requests for the same model and signature into one call")
    parser.add_argument("--max-batch-size", type=int, default=32, metavar="N",
                        help="with batching: most examples per model call (default 32)")
    parser.add_argument("--batch-timeout-micros", type=int, default=2000, metavar="US",
                        help="with batching: the longest a batch waits for requests already on their way "
                             "(default 2000 us, as TF Serving's examples); with none coming it runs at once")
    parser.add_argument("--max-enqueued-requests", type=int, default=1024, metavar="N",
                        help="predict requests in flight at once (REST and gRPC each, batching on or off); "
                             "beyond it requests get 429 / RESOURCE_EXHAUSTED (default 1024)")
    parser.add_argument("--max-in-flight-mb", type=float, default=None, metavar="MB",
                        help="request bodies held at once; beyond it requests get 429 / RESOURCE_EXHAUSTED "
                             "(default: twice --max-body-mb)")
    parser.add_argument("--max-header-kb", type=float, default=64.0, metavar="KB",
                        help="largest request line + headers accepted (default 64 KB); larger ones get 431")
    parser.add_argument("--client-header-timeout-seconds", type=float, default=10.0, metavar="S",
                        help="close a connection whose request headers have not arrived within S (default 10)")
    parser.add_argument("--client-body-timeout-seconds", type=float, default=60.0, metavar="S",
                        help="answer 408 when a request body has not fully arrived within S (default 60)")
    parser.add_argument("--shutdown-grace-seconds", type=float, default=30.0, metavar="S",
                        help="on SIGTERM, how long requests in flight may take to finish (default 30)")
    parser.add_argument("--tensorflow-intra-op-parallelism", "--tensorflow_intra_op_parallelism", type=int,
                        default=1, metavar="N", help="threads within one op (default 1: requests give the parallelism; 0: TensorFlow decides)")
    parser.add_argument("--tensorflow-inter-op-parallelism", "--tensorflow_inter_op_parallelism", type=int,
                        default=1, metavar="N", help="ops run at once within one call (default 1; 0: TensorFlow decides)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="REST server processes (default 1). One process serves REST on one core; N use N "
                             "cores, each holding its own copy of the models")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="warning",
                        help="the HTTP server's log level (default warning); info adds one access log line per "
                             "request. Models loading and unloading are always logged")
    parser.add_argument("--request-timeout-seconds", type=float, default=30.0, metavar="S",
                        help="answer 504 / DEADLINE_EXCEEDED when a predict takes longer (default 30)")


def serve(args: argparse.Namespace) -> int:
    """Runs the server until SIGTERM or Ctrl-C; returns the exit code."""
    problem = _check_options(args)
    if problem:
        print(f"zoo serve: error: {problem}", file=sys.stderr)
        return 2
    metrics_dir = None
    if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Before prometheus_client is imported: every process then counts into shared files.
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="zoo-serve-metrics-")
    try:
        return _serve(args)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_options(args: argparse.Namespace) -> str | None:
    """What is wrong with the numeric flags, before anything is loaded."""
    checks = [("--workers", args.workers, 1), ("--max-enqueued-requests", args.max_enqueued_requests, 1),
              ("--max-body-mb", args.max_body_mb, 1e-6), ("--max-header-kb", args.max_header_kb, 1),
              ("--client-header-timeout-seconds", args.client_header_timeout_seconds, 1e-3),
              ("--client-body-timeout-seconds", args.client_body_timeout_seconds, 1e-3),
              ("--shutdown-grace-seconds", args.shutdown_grace_seconds, 0)]
    if args.max_in_flight_mb is not None:
        checks.append(("--max-in-flight-mb", args.max_in_flight_mb, args.max_body_mb))
    for flag, value, low in checks:
        if not (value >= low and value < float("inf")):  # also refuses NaN
            return f"{flag} must be a number >= {low:g}. Received: {value}"
    return None


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from zoo.serving.errors import ServingError
    from zoo.serving.http_server import Server, Supervisor

    _configure(args)
    try:
        manager, batching = _manager(args), _batching(args)
        rest_socket = _bind_rest(args)  # before anything is loaded or announced: a busy port fails first
    except (OSError, ValueError, ServingError) as error:
        print(f"zoo serve: error: {error}", file=sys.stderr)
        return 2
    timeout_s = args.request_timeout_seconds or None
    in_process_rest = args.workers == 1
    grpc_server = None
    if args.port:
        from zoo.serving.grpc_service import create_grpc_server

        try:
            grpc_server = create_grpc_server(manager, f"{args.host}:{args.port}", batching=batching,
                                             timeout_s=timeout_s, admission=_admission(args))
        except OSError as error:
            rest_socket.close()
            print(f"zoo serve: error: {error}", file=sys.stderr)
            return 2
    if in_process_rest or args.port:
        manager.start(args.file_system_poll_wait_seconds)
        # TensorFlow and the loaded models are millions of long-lived Python objects; freezing them
        # keeps the garbage collector's full passes (which paused requests for ~200 ms) off them.
        gc.freeze()
    if grpc_server is not None:
        grpc_server.start()
    served = ", ".join(f"{name}" for name in manager.model_names()) or "none yet"
    if not in_process_rest and not args.port:
        served = "loading in the workers"
    print(f"Serving models from {args.model_config_file or args.model_base_path} ({served}): REST at "
          f"http://{args.host}:{args.rest_api_port}/v1/models/<name>"
          + (f" ({args.workers} processes)" if not in_process_rest else "")
          + (f", gRPC at {args.host}:{args.port}" if grpc_server else "")
          + (f"; batching up to {batching.max_batch_size}" if batching else ""), flush=True)
    grace = args.shutdown_grace_seconds
    stopping = threading.Event()

    def stop_grpc() -> None:  # when the signal arrives, so both APIs stop accepting at once
        if grpc_server is not None and not stopping.is_set():
            stopping.set()
            threading.Thread(target=grpc_server.stop, args=(grace,), name="zoo-grpc-stop").start()

    app = _rest_app(args, manager, batching) if in_process_rest else None
    config = uvicorn.Config(app or f"{__name__}:worker_app",
                            factory=not in_process_rest, workers=args.workers, host=args.host,
                            port=args.rest_api_port, log_level=getattr(args, "log_level", "warning"),
                            timeout_graceful_shutdown=grace, access_log=getattr(args, "log_level", "warning") in ("debug", "info"),
                            proxy_headers=False, http=_protocol(args))
    # uvicorn handles SIGTERM/SIGINT itself (stop accepting, finish requests in flight), then
    # re-raises the signal once it is done; this handler turns that into a clean exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if in_process_rest:
            Server(config, on_exit=stop_grpc).run(sockets=[rest_socket])
        else:
            os.environ[WORKER_OPTIONS] = json.dumps({key: value for key, value in vars(args).items()
                                                     if not callable(value)})
            os.environ[SUPERVISOR_PID] = str(os.getpid())
            Supervisor(config, on_exit=stop_grpc, sockets=[rest_socket]).run()
    except KeyboardInterrupt:
        pass
    finally:
        stop_grpc()
        if grpc_server is not None:
            grpc_server.stop(grace=grace).wait(timeout=grace + 5)  # in-flight RPCs finish
        manager.stop()
        cut_off = app.cut_off if app is not None else 0
        if cut_off:
            print(f"Server stopped: {cut_off} request(s) were still running after the {grace:g} s grace period "
                  "and were answered 503.", flush=True)
        elif in_process_rest:
            print("Server stopped: requests in flight were answered.", flush=True)
        else:
            print("Server stopped (each worker logs any request it cut off).", flush=True)
    return 0


def _bind_rest(args: argparse.Namespace) -> socket.socket:
    """The REST listening socket, bound now: a busy port is reported before models load.

    With `--workers N` on Linux each worker process listens on a socket of its own on this
    port (SO_REUSEPORT), and the kernel spreads new connections over them by their addresses:
    on one shared socket, whichever worker woke first accepted a burst of connections (23 of
    32, or 31), leaving the other process idle half the time.
    """
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    try:
        # A socket without SO_REUSEPORT first: it fails on a busy port, also one that another
        # `--workers` server holds with SO_REUSEPORT, which would otherwise share it silently.
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((args.host, args.rest_api_port))
            address = probe.getsockname()
        sock = _bound_socket(family, address, reuse_port=args.workers > 1 and sys.platform.startswith("linux"))
    except OSError as error:
        reason = "is in use (another server?)" if error.errno == errno.EADDRINUSE else f"cannot be bound ({error.strerror})"
        raise OSError(f"The REST port {args.host}:{args.rest_api_port} {reason}. Pick another with "
                      "--rest-api-port.") from None
    sock.set_inheritable(True)  # `--workers` processes serve on it too (or on their own, below)
    return sock


def _bound_socket(family: int, address, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to `address`; with `reuse_port`, a `_ReusePortSocket` with SO_REUSEPORT."""
    sock = (_ReusePortSocket if reuse_port else socket.socket)(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class _ReusePortSocket(socket.socket):
    """A REST socket that SO_REUSEPORT shares. The supervisor's is never listened on: uvicorn
    pickles it into each worker process it starts (or restarts), and unpickling binds that
    worker a socket of its own on the same address."""

    def __reduce__(self):
        return _bound_socket, (self.family, self.getsockname(), True)


def _protocol(args: argparse.Namespace):
    from zoo.serving.http_server import limited_protocol

    return limited_protocol(int(args.max_header_kb * 1024), args.client_header_timeout_seconds,
                            args.client_body_timeout_seconds)


def _admission(args: argparse.Namespace):
    from zoo.serving.admission import Admission

    in_flight_mb = args.max_in_flight_mb if args.max_in_flight_mb is not None else 2 * args.max_body_mb
    return Admission(args.max_enqueued_requests, int(in_flight_mb * 2**20))


def worker_app():
    """The REST app of one `zoo serve --workers N` process: uvicorn's supervisor calls this in
    each process it starts, with the command line in the environment."""
    args = argparse.Namespace(**json.loads(os.environ[WORKER_OPTIONS]))
    _configure(args)
    _exit_with_parent()
    manager = _manager(args)
    manager.start(args.file_system_poll_wait_seconds)
    gc.freeze()  # as in a single process: keep full GC passes off TensorFlow's objects
    return _rest_app(args, manager, _batching(args))


def _exit_with_parent() -> None:
    """Stops this worker (gracefully, SIGTERM) when the `zoo serve` that started it dies, even by
    SIGKILL: an orphaned worker would keep the port and the next start would fail."""
    # The supervisor's pid, from before this process started: a worker still importing
    # TensorFlow when the supervisor was killed already has another parent by now.
    parent = int(os.environ.get(SUPERVISOR_PID) or os.getppid())
    if sys.platform.startswith("linux"):
        import ctypes

        try:  # the kernel sends the signal the moment the parent dies
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:  # elsewhere, and if the parent died before the line above: notice it
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="zoo-parent-watch", daemon=True).start()


def _configure(args: argparse.Namespace) -> None:
    from zoo import console

    tf = console.import_tensorflow()  # first: later imports would print TensorFlow's start-up lines

    process = " [%(process)d]" if args.workers > 1 else ""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(name)s{process} %(levelname)s %(message)s")
    # Before any model loads: TensorFlow fixes its thread pools on first use.
    tf.config.threading.set_intra_op_parallelism_threads(args.tensorflow_intra_op_parallelism)
    tf.config.threading.set_inter_op_parallelism_threads(args.tensorflow_inter_op_parallelism)


def _manager(args: argparse.Namespace):
    from zoo.serving.manager import ModelManager, ModelSource, VersionPolicy, check_model_name, read_model_config

    if args.model_config_file:
        return ModelManager(models=read_model_config(args.model_config_file), num_versions=args.num_versions)
    if args.model_name:
        check_model_name(args.model_name)
        source = ModelSource(args.model_name, Path(args.model_base_path), VersionPolicy("latest", args.num_versions))
        return ModelManager(models=[source], num_versions=args.num_versions)
    return ModelManager(args.model_base_path, num_versions=args.num_versions)


def _batching(args: argparse.Namespace):
    from zoo.serving.batching import BatchingOptions

    if not args.enable_batching:
        return None
    return BatchingOptions(args.max_batch_size, args.batch_timeout_micros / 1e6, args.max_enqueued_requests)


def _rest_app(args: argparse.Namespace, manager, batching):
    from zoo.serving.rest import create_app

    return create_app(manager, max_body_bytes=int(args.max_body_mb * 2**20), batching=batching,
                      timeout_s=args.request_timeout_seconds or None, admission=_admission(args))
