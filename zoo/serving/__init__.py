"""Serving exports with TensorFlow Serving's APIs: `zoo serve --model-base-path saved_models`.

- `manager`: which models and versions are loaded (version policy, warm-up, hot reload);
- `tensors`: TF Serving's JSON request and response formats <-> tensors, with validation;
- `errors`: the one mapping from failures to HTTP statuses (and gRPC codes);
- `rest`: the REST API (an ASGI app served by uvicorn);
- `grpc_service`: the gRPC PredictionService and ModelService (tensorflow-serving-api's protos);
- `server`: `zoo serve`, which runs them all;
- `api`: the same from Python: `serve(...)` here, `background(...)` in a child process.

Example:
    >>> from zoo import serving
    >>> with serving.background(model_base_path="saved_models") as server:  # doctest: +SKIP
    ...     server.predict("lenet", images)["classes"]
    >>> from zoo.serving import ModelManager  # doctest: +SKIP
    >>> manager = ModelManager("saved_models"); manager.poll()  # doctest: +SKIP
    >>> manager.status("lenet")  # doctest: +SKIP
"""

from zoo.serving.api import RunningServer, background, serve
from zoo.serving.errors import InvalidArgument, NotFound, ServingError
from zoo.serving.manager import ModelManager, Servable

__all__ = ["InvalidArgument", "ModelManager", "NotFound", "RunningServer", "Servable", "ServingError",
           "background", "serve"]
