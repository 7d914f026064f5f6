"""`zoo serve`: the model manager, its polling thread, the REST app under uvicorn and the
gRPC services.

    zoo serve --model-base-path saved_models [--rest-api-port 8501] [--port 8500] [--host 127.0.0.1]

Binds to 127.0.0.1 unless `--host` says otherwise. SIGTERM and Ctrl-C stop it gracefully:
it stops accepting connections and lets requests in flight finish (uvicorn's shutdown).
TF Serving's own flag spellings (`--model_base_path`, `--rest_api_port`) work too; `--port`
is the gRPC port, as in TF Serving (0 turns gRPC off).
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
from pathlib import Path

DEFAULT_REST_PORT = 8501


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
                        help="with batching: how long a batch waits to fill (default 2000 us, as TF Serving's examples)")
    parser.add_argument("--max-enqueued-requests", type=int, default=1024, metavar="N",
                        help="with batching: queue bound; beyond it requests get 429 / RESOURCE_EXHAUSTED")
    parser.add_argument("--tensorflow-intra-op-parallelism", "--tensorflow_intra_op_parallelism", type=int,
                        default=1, metavar="N", help="threads within one op (default 1: requests give the parallelism; 0: TensorFlow decides)")
    parser.add_argument("--tensorflow-inter-op-parallelism", "--tensorflow_inter_op_parallelism", type=int,
                        default=1, metavar="N", help="ops run at once within one call (default 1; 0: TensorFlow decides)")
    parser.add_argument("--request-timeout-seconds", type=float, default=30.0, metavar="S",
                        help="answer 504 / DEADLINE_EXCEEDED when a predict takes longer (default 30)")


def serve(args: argparse.Namespace) -> int:
    """Runs the server until SIGTERM or Ctrl-C; returns the exit code."""
    import tensorflow as tf
    import uvicorn

    from zoo.serving.batching import BatchingOptions
    from zoo.serving.errors import ServingError
    from zoo.serving.manager import ModelManager, ModelSource, VersionPolicy, check_model_name, read_model_config
    from zoo.serving.rest import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Before any model loads: TensorFlow fixes its thread pools on first use.
    tf.config.threading.set_intra_op_parallelism_threads(args.tensorflow_intra_op_parallelism)
    tf.config.threading.set_inter_op_parallelism_threads(args.tensorflow_inter_op_parallelism)
    try:
        if args.model_config_file:
            manager = ModelManager(models=read_model_config(args.model_config_file), num_versions=args.num_versions)
        elif args.model_name:
            check_model_name(args.model_name)
            source = ModelSource(args.model_name, Path(args.model_base_path), VersionPolicy("latest", args.num_versions))
            manager = ModelManager(models=[source], num_versions=args.num_versions)
        else:
            manager = ModelManager(args.model_base_path, num_versions=args.num_versions)
    except (FileNotFoundError, ValueError, ServingError) as error:
        print(f"zoo serve: error: {error}", file=sys.stderr)
        return 2
    try:
        batching = BatchingOptions(args.max_batch_size, args.batch_timeout_micros / 1e6,
                                   args.max_enqueued_requests) if args.enable_batching else None
    except ValueError as error:
        print(f"zoo serve: error: {error}", file=sys.stderr)
        return 2
    timeout_s = args.request_timeout_seconds or None
    manager.start(args.file_system_poll_wait_seconds)
    # TensorFlow and the loaded models are millions of long-lived Python objects; freezing them
    # keeps the garbage collector's full passes (which paused requests for ~200 ms) off them.
    gc.freeze()
    app = create_app(manager, max_body_bytes=int(args.max_body_mb * 2**20), batching=batching, timeout_s=timeout_s)
    grpc_server = None
    if args.port:
        from zoo.serving.grpc_service import create_grpc_server

        try:
            grpc_server = create_grpc_server(manager, f"{args.host}:{args.port}", batching=batching,
                                             timeout_s=timeout_s)
        except OSError as error:
            manager.stop()
            print(f"zoo serve: error: {error}", file=sys.stderr)
            return 2
        grpc_server.start()
    served = ", ".join(f"{name}" for name in manager.model_names()) or "none yet"
    print(f"Serving models from {args.model_config_file or args.model_base_path} ({served}): REST at "
          f"http://{args.host}:{args.rest_api_port}/v1/models/<name>"
          + (f", gRPC at {args.host}:{args.port}" if grpc_server else "")
          + (f"; batching up to {batching.max_batch_size}" if batching else ""), flush=True)
    # uvicorn handles SIGTERM/SIGINT itself (stop accepting, finish requests in flight), then
    # re-raises the signal once it is done; this handler turns that into a clean exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(app, host=args.host, port=args.rest_api_port, log_level="warning",
                    timeout_graceful_shutdown=30)
    except KeyboardInterrupt:
        pass
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=30).wait(timeout=35)  # in-flight RPCs finish
        manager.stop()
        print("Server stopped: requests in flight were answered.", flush=True)
    return 0
