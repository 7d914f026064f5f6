"""TensorFlow Serving's gRPC services, with the `tensorflow-serving-api` package's protos:
`tensorflow.serving.PredictionService` (Predict, GetModelMetadata) and
`tensorflow.serving.ModelService` (GetModelStatus). Clients built on that package's stubs
work unchanged.

Example:
    >>> server = create_grpc_server(manager, "127.0.0.1:8500"); server.start()  # doctest: +SKIP
"""

from __future__ import annotations

import time
from concurrent import futures

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (get_model_metadata_pb2, model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc)

from zoo.serving import metrics, tensors
from zoo.serving.admission import Admission
from zoo.serving.batching import BatchingOptions
from zoo.serving.errors import InvalidArgument, ServingError
from zoo.layout import DEFAULT_SIGNATURE
from zoo.serving.manager import ModelManager

MAX_MESSAGE_BYTES = 64 * 2**20
DEFAULT_MAX_RPCS = 1024


def _spec(model_spec) -> tuple[str, int | None, str | None]:
    version = model_spec.version.value if model_spec.HasField("version") else None
    label = model_spec.version_label or None
    return model_spec.name, version, label


def _guarded(method):
    """Turns a `ServingError` into the gRPC status its kind maps to, and records metrics."""

    def wrapper(self, request, context):
        start, code = time.perf_counter(), "OK"
        try:
            return method(self, request, context)
        except ServingError as error:
            code = error.grpc_code
            context.abort(getattr(grpc.StatusCode, error.grpc_code), error.message)
        finally:
            name = request.model_spec.name
            model = name if self.manager.has_model(name) else "(unknown)"
            metrics.record("grpc", method.__name__, model, code, time.perf_counter() - start)

    wrapper.__name__ = method.__name__
    return wrapper


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager: ModelManager, *, batching: BatchingOptions | None = None,
                 timeout_s: float | None = None, admission: Admission | None = None):
        self.manager, self.batching, self.timeout_s = manager, batching, timeout_s
        self.admission = admission or Admission(DEFAULT_MAX_RPCS, 2 * MAX_MESSAGE_BYTES)

    @_guarded
    def Predict(self, request, context):
        with self.admission.admit(request.ByteSize()):
            return self._predict(request)

    def _predict(self, request):
        servable = self.manager.lookup(*_spec(request.model_spec))
        function = servable.signature(request.model_spec.signature_name or None)
        specs = tensors.input_specs(function)
        unknown = sorted(set(request.inputs) - set(specs))
        missing = sorted(set(specs) - set(request.inputs))
        if unknown or missing:
            raise InvalidArgument(f"Inputs {', '.join(map(repr, unknown)) or '(none)'} are unknown and "
                                  f"{', '.join(map(repr, missing)) or '(none)'} are missing. The signature's "
                                  f"inputs: {', '.join(sorted(specs))}")
        inputs = {}
        for name, proto in request.inputs.items():
            inputs[name] = tensors.array_from_proto(name, proto, specs[name])
        outputs = servable.predict(request.model_spec.signature_name or None, inputs, batching=self.batching,
                                   timeout_s=self.timeout_s)
        if request.output_filter:
            unknown = sorted(set(request.output_filter) - set(outputs))
            if unknown:
                raise InvalidArgument(f"output_filter names unknown outputs {unknown}; outputs: {sorted(outputs)}")
            outputs = {name: outputs[name] for name in request.output_filter}
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response

    @_guarded
    def GetModelMetadata(self, request, context):
        if list(request.metadata_field) != ["signature_def"]:
            raise InvalidArgument("Metadata field(s) must be exactly ['signature_def']. "
                                  f"Received: {list(request.metadata_field)}")
        servable = self.manager.lookup(*_spec(request.model_spec))
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata["signature_def"].Pack(servable.signature_def_map())
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager):
        self.manager = manager

    @_guarded
    def GetModelStatus(self, request, context):
        return self.manager.status(*_spec(request.model_spec))


def create_grpc_server(manager: ModelManager, address: str, *, workers: int = 64,
                       batching: BatchingOptions | None = None, timeout_s: float | None = None,
                       admission: Admission | None = None) -> grpc.Server:
    """A gRPC server (not started) with both services bound to `address`, e.g.
    "127.0.0.1:8500"; `OSError` when the address is taken.

    At most `workers` RPCs run at once, and as many more wait (each holding its message);
    beyond that gRPC answers RESOURCE_EXHAUSTED, as it does past `admission`'s limits.
    """
    admission = admission or Admission(DEFAULT_MAX_RPCS, 2 * MAX_MESSAGE_BYTES)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zoo-grpc"),
                         maximum_concurrent_rpcs=min(admission.max_requests, 2 * workers),
                         options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                  ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                                  # Without this a second server could share a busy port unnoticed.
                                  ("grpc.so_reuseport", 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(manager, batching=batching, timeout_s=timeout_s, admission=admission), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager), server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:  # grpcio >= 1.60 raises where older releases returned 0
        bound = 0
    if bound == 0:
        raise OSError(f"The gRPC port {address} is in use (another server?) or cannot be bound. "
                      "Pick another with --port, or --port 0 to serve REST only.")
    return server
