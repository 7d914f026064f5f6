"""Serving exports with TensorFlow Serving's APIs: `zoo serve --model-base-path saved_models`.

- `manager`: which models and versions are loaded (version policy, warm-up, hot reload);
- `tensors`: TF Serving's JSON request and response formats <-> tensors, with validation;
- `errors`: the one mapping from failures to HTTP statuses (and gRPC codes);
- `rest`: the REST API (an ASGI app served by uvicorn);
- `grpc_service`: the gRPC PredictionService and ModelService (tensorflow-serving-api's protos);
- `server`: `zoo serve`, which runs them all.

Example:
    >>> from zoo.serving import ModelManager  # doctest: +SKIP
    >>> manager = ModelManager("saved_models"); manager.poll()  # doctest: +SKIP
    >>> manager.status("lenet")  # doctest: +SKIP
"""

from zoo.serving.errors import InvalidArgument, NotFound, ServingError
from zoo.serving.manager import ModelManager, Servable

__all__ = ["InvalidArgument", "ModelManager", "NotFound", "Servable", "ServingError"]
