"""The servers a user might run instead of `zoo serve`, for benchmarks/serving.py: the same
SavedModel behind the same TF Serving REST request and answer.

    python benchmarks/serving_peers.py litserve --export saved_models/lenet/1 --port 8601
    python benchmarks/serving_peers.py fastapi --export saved_models/lenet/1 --port 8602

- `litserve`: LitServe (Lightning AI's serving engine) with dynamic batching at the same
  maximum batch size and timeout as `zoo serve --enable-batching`, tuned as its docs advise:
  `fast_queue=True` (ZeroMQ for the answers, "for high-throughput scenarios (>100 RPS)") and
  one inference process per core (`workers_per_device`, "for CPU, set to the number of cores").
- `fastapi`: the server most tutorials write: a FastAPI endpoint with a pydantic request
  model, calling the model once per request (a plain `def` endpoint, so FastAPI runs it in
  its thread pool off the event loop).

Both call the SavedModel's `serving_default` signature directly (not `model.predict`, which
costs milliseconds per call) with TensorFlow's threads set as `zoo serve` sets them (one
thread per op, one op at a time), answer `{"predictions": [{output: value, ...}, ...]}` as TF
Serving's row format does, and serve `GET /healthz` for the benchmark's start-up check.
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def load_signature(export: str):
    """The export's `serving_default` and its input's name, with `zoo serve`'s thread settings."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    signature = tf.saved_model.load(export).signatures["serving_default"]
    (name,) = signature.structured_input_signature[1].keys()
    return signature, name


def rows(outputs) -> list[dict]:
    """A batch's outputs (name -> array) as TF Serving's row format: one dict per example."""
    arrays = {name: value.numpy() for name, value in outputs.items()}
    count = len(next(iter(arrays.values())))
    return [{name: array[i].tolist() for name, array in arrays.items()} for i in range(count)]


try:
    from pydantic import BaseModel
except ImportError:  # without the bench extra: the script says what is missing when run
    BaseModel = object


class PredictRequest(BaseModel):  # at module level: FastAPI resolves the endpoint's annotation here
    instances: list


def fastapi_app(export: str):
    from fastapi import FastAPI

    signature, name = load_signature(export)
    app = FastAPI()

    @app.post("/v1/models/lenet:predict")
    def predict(request: PredictRequest):
        x = np.asarray(request.instances, dtype=np.float32)
        return {"predictions": rows(signature(**{name: x}))}

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


try:
    import litserve as ls
except ImportError:  # the fastapi peer needs no LitServe
    ls = None
else:
    class LenetAPI(ls.LitAPI):
        """One example per request in, TF Serving's row answer out. At module level: LitServe
        pickles it into its inference worker process."""

        def __init__(self, export: str, **options):
            super().__init__(**options)
            self.export = export

        def setup(self, device):
            self.signature, self.name = load_signature(self.export)

        def decode_request(self, request):
            return np.asarray(request["instances"], dtype=np.float32)[0]

        def batch(self, inputs):
            return np.stack(inputs)

        def predict(self, x):
            x = x if x.ndim == 4 else x[None]  # unbatched when max_batch_size is 1
            return rows(self.signature(**{self.name: x}))

        def unbatch(self, output):
            return output

        def encode_response(self, output):
            return {"predictions": [output]}


def litserve_server(export: str, max_batch_size: int, batch_timeout_s: float, workers: int):
    api = LenetAPI(export, max_batch_size=max_batch_size, batch_timeout=batch_timeout_s,
                   api_path="/v1/models/lenet:predict")
    return ls.LitServer(api, accelerator="cpu", workers_per_device=workers, fast_queue=True,
                        healthcheck_path="/healthz")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server", choices=("litserve", "fastapi"))
    parser.add_argument("--export", required=True, help="a lenet SavedModel version directory")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch-size", type=int, default=32, help="litserve (default 32, as zoo serve)")
    parser.add_argument("--batch-timeout-s", type=float, default=0.002, help="litserve (default 0.002, as zoo serve)")
    parser.add_argument("--workers-per-device", type=int, default=os.cpu_count(),
                        help="litserve inference processes (default: one per core, as its docs advise for CPUs)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.server == "fastapi":
        import uvicorn

        uvicorn.run(fastapi_app(args.export), host="127.0.0.1", port=args.port, log_level="warning")
    else:
        litserve_server(args.export, args.max_batch_size, args.batch_timeout_s, args.workers_per_device).run(
            port=args.port, host="127.0.0.1", log_level="warning", generate_client_file=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
