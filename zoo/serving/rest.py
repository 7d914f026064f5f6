"""TensorFlow Serving's REST API as an ASGI app (served by uvicorn in `zoo serve`).

    GET  /v1/models                                               every model and its versions (zoo only)
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]             model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata    signature defs
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict     row or columnar predict
    POST ...:classify | ...:regress                               as TF Serving, for signatures
                                                                  that support them
    GET  /healthz                                                 liveness (200 while running)
    GET  /monitoring/prometheus/metrics                           Prometheus metrics

Errors are `{"error": "..."}` with the status `zoo.serving.errors` assigns. The model runs in
a worker thread (or the batcher's), never on the event loop. POSTs, the hot path, are a plain
ASGI handler; Starlette routes the rest.

Example:
    >>> app = create_app(ModelManager("saved_models"))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8501)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
import re
import time
import types
import urllib.parse
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from zoo.layout import DEFAULT_SIGNATURE, MAX_VERSION, read_card, version_of
from zoo.serving import metrics, tensors
from zoo.serving.batching import BatchingOptions
from zoo.serving.admission import Admission, Ticket
from zoo.serving.errors import DeadlineExceeded, InvalidArgument, NotFound, ServingError, TooLarge
from zoo.serving.manager import ModelManager, call_signature

log = logging.getLogger("zoo.serving")
MAX_BODY_BYTES = 64 * 2**20  # TF Serving's REST default is also large; `--max-body-mb` sets it
DEFAULT_MAX_REQUESTS = 1024  # predict requests in flight at once (`--max-enqueued-requests`)
PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)"
                  r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                  r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?$")
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
METRIC_VERBS = frozenset({"predict", "classify", "regress", "status", "metadata"})


def _json(content: Any, status: int = 200) -> Response:
    return Response(tensors.json_bytes(content), status_code=status, media_type="application/json")


def _error(error: ServingError) -> Response:
    return _json({"error": error.message}, error.http_status)


def _raw_path(scope) -> str:
    """The path as sent: percent-escapes intact, so an escaped '/' stays inside a name."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1").split("?", 1)[0] if raw else scope["path"]


def _parse_path(path: str) -> Mapping[str, Any]:
    """{name, version, label, metadata, verb} of a /v1/models/... path (read-only: cached)."""
    # Clients send the same few short paths again and again; a long one is parsed each time,
    # so a flood of odd URLs cannot fill the cache with megabytes.
    return _parse_short_path(path) if len(path) <= 256 else _parse_any_path(path)


def _parse_any_path(path: str) -> Mapping[str, Any]:
    match = PATH.match(path)
    if match is None:
        raise NotFound(f"Malformed request: {_clip(path)}. Expected /v1/models/NAME[/versions/N|/labels/L]"
                       "[/metadata|:predict|:classify|:regress]")
    parts = {key: urllib.parse.unquote(value) if isinstance(value, str) else value
             for key, value in match.groupdict().items()}
    if parts["version"] is not None:
        version = version_of(parts["version"])
        if version is None:
            raise InvalidArgument(f"Version must be a non-negative integer (ASCII digits, at most "
                                  f"{MAX_VERSION}). Received: {_clip(parts['version'])!r}")
        parts["version"] = version
    return types.MappingProxyType(parts)


_parse_short_path = functools.lru_cache(maxsize=1024)(_parse_any_path)


def _clip(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters for an error message (a client chooses its length)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def create_app(manager: ModelManager, *, max_body_bytes: int = MAX_BODY_BYTES,
               batching: BatchingOptions | None = None, timeout_s: float | None = None,
               admission: Admission | None = None) -> RestApp:
    """The REST app over `manager`'s models; `batching` turns dynamic batching on, `timeout_s`
    bounds each predict request (504 after it), `admission` bounds the requests and bytes in
    flight (429 beyond). (Slow headers and bodies are the HTTP protocol's to cut off:
    `zoo.serving.http_server`.)

    Example:
        >>> app = create_app(ModelManager("saved_models"), timeout_s=30)  # doctest: +SKIP
    """
    return RestApp(manager, max_body_bytes=max_body_bytes, batching=batching, timeout_s=timeout_s,
                   admission=admission)


class RestApp:
    """The ASGI app: one method per endpoint. POSTs go straight to `post_model`, the hot path;
    Starlette routes the GETs.

    `cut_off` counts the requests it could not answer because the server stopped first
    (uvicorn cancels them when its shutdown grace period ends).
    """

    def __init__(self, manager: ModelManager, *, max_body_bytes: int = MAX_BODY_BYTES,
                 batching: BatchingOptions | None = None, timeout_s: float | None = None,
                 admission: Admission | None = None):
        self.manager = manager
        self.max_body_bytes = max_body_bytes
        self.batching = batching
        self.deadlines = _Deadlines(timeout_s) if timeout_s else None
        self.admission = admission or Admission(DEFAULT_MAX_REQUESTS, 2 * max_body_bytes)
        self.cut_off = 0
        routes = [Route("/healthz", self.healthz, methods=["GET"]),
                  Route(metrics.PATH, self.prometheus, methods=["GET"]),
                  Route("/v1/models", self.list_models, methods=["GET"]),
                  Route("/v1/models/", self.list_models, methods=["GET"]),
                  Route("/v1/models/{rest:path}", self._measured("status", self.get_model), methods=["GET"])]
        self.everything_else = Starlette(routes=routes, exception_handlers={
            404: self.not_found, 405: self.not_found, Exception: self.internal_error})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith("/v1/models/"):
            await self.post_model(scope, receive, send)
        else:
            await self.everything_else(scope, receive, send)

    # -- GET endpoints -----------------------------------------------------------------------
    async def get_model(self, request: Request, parts) -> Response:
        """GET /v1/models/NAME[...]: the model's status, or its metadata."""
        if parts["verb"]:
            raise InvalidArgument(f"Use POST for :{parts['verb']}.")
        if parts["metadata"]:
            return _json(await run_in_threadpool(_metadata, self.manager, parts))
        return _json(_to_dict(self.manager.status(parts["name"], parts["version"], parts["label"])))

    async def list_models(self, request: Request) -> Response:
        """GET /v1/models: every served model with its versions' status (not in TF Serving, which
        answers 404 here; each entry is what GET /v1/models/NAME answers)."""
        models = []
        for name in self.manager.model_names():
            try:
                models.append({"name": name, **_to_dict(self.manager.status(name))})
            except NotFound:  # unloaded in between
                continue
        return _json({"models": models})

    async def healthz(self, request: Request) -> Response:
        """Liveness, and the no-op endpoint benchmarks use to measure the HTTP stack alone."""
        return _json({"status": "ok", "models": self.manager.model_names()})

    async def prometheus(self, request: Request) -> Response:
        content, media_type = await run_in_threadpool(metrics.exposition)  # off the event loop
        return Response(content, media_type=media_type)

    async def not_found(self, request: Request, exc) -> Response:
        return _error(NotFound(f"Malformed request: {request.method} {_clip(request.url.path)}"))

    async def internal_error(self, request: Request, exc: Exception) -> Response:
        log.exception("Internal error answering %s %s", request.method, request.url.path, exc_info=exc)
        return _json({"error": f"Internal error: {type(exc).__name__}: {exc}"}, 500)

    # -- POST: predict, classify, regress ------------------------------------------------------
    async def post_model(self, scope, receive, send) -> None:
        """POST /v1/models/...: a plain ASGI handler, the hot path (Starlette's request,
        routing and middleware layers cost 10-15% of predict throughput, measured)."""
        start, parts, status, ticket, close = time.perf_counter(), {}, 200, None, False
        try:
            parts = _parse_path(_raw_path(scope))
            if parts["verb"] not in ("predict", "classify", "regress"):
                raise NotFound(f"Unknown method {_clip(parts['verb'] or '(none)')!r}: use :predict, :classify or :regress.")
            declared = _declared_length(scope, self.max_body_bytes)
            ticket = self.admission.admit(declared or 0)
            body = await _read_body(receive, self.max_body_bytes, None if declared is not None else ticket)
            content = await self.predict(parts, body)
        except ServingError as error:
            status, content = error.http_status, tensors.json_bytes({"error": error.message})
        except _ClientGone:
            return
        except asyncio.CancelledError:  # the server's shutdown grace period ended first
            self.cut_off += 1
            close = True
            log.warning("Cut off POST %s: the server stopped before it was answered", _clip(scope.get("path", "")))
            status, content = 503, tensors.json_bytes({"error": "The server stopped before this request was "
                                                                "answered: retry it."})
        except Exception as exc:  # noqa: BLE001 - a failure inside the server or the model: 500
            log.exception("Internal error answering POST %s", scope.get("path"), exc_info=exc)
            status, content = 500, tensors.json_bytes({"error": f"Internal error: {type(exc).__name__}: {exc}"})
        finally:
            if ticket is not None:
                ticket.release()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        self._record(parts, "predict", status, start)

    async def predict(self, parts: Mapping[str, Any], raw: bytes) -> bytes:
        """The JSON answer to a predict (classify, regress) body for the model `parts` names."""
        numeric = tensors.match_numeric_body(raw)
        body = _decode_json(raw) if numeric is None else None  # malformed JSON: 400 before 404
        servable = self.manager.lookup(parts["name"], parts["version"], parts["label"])

        def signature(name: str | None):
            function = servable.signature(name)
            if parts["verb"] != "predict":
                _check_method(servable, name, parts["verb"])
            return function

        # The common request, read without json.loads. Anything it does not settle (not all
        # numbers, several inputs, an unknown signature, ...) is decided by the general path
        # from the decoded body, so both answer, and refuse, exactly alike.
        inputs = None
        if numeric is not None:
            try:
                signature_name, function = numeric.signature_name, signature(numeric.signature_name)
            except ServingError:
                pass
            else:
                inputs, request_format = tensors.numeric_input(numeric, function), numeric.request_format
        if inputs is None:
            body = _decode_json(raw) if body is None else body
            signature_name = _signature_name(body)
            function = signature(signature_name)
            inputs, request_format = tensors.parse_predict_request(body, function)
        # With batching the request waits on the event loop for its batch (no thread per
        # request); without, the model runs in a worker thread.
        loop = asyncio.get_running_loop()
        waiter = (servable.submit(signature_name, inputs, self.batching, loop)
                  if self.batching is not None else None)
        if waiter is None:
            waiter = loop.create_future()
            loop.run_in_executor(None, call_signature, function, inputs).add_done_callback(
                functools.partial(_copy_result, waiter))
        deadline = self.deadlines.watch(waiter) if self.deadlines is not None else None
        outputs = await waiter
        if deadline is not None and time.monotonic() > deadline:  # answered, but too late
            raise self.deadlines.error()
        return tensors.encode_predict_response(outputs, request_format)

    # -- metrics -------------------------------------------------------------------------------
    def _record(self, parts: Mapping[str, Any], method: str, status: int, start: float) -> None:
        name = parts.get("name")
        # Every label value comes from a bounded set, so no client can grow the metrics.
        model = name if self.manager.has_model(name) else "(unknown)"
        verb = parts.get("verb") or ("metadata" if parts.get("metadata") else method)
        verb = verb if verb in METRIC_VERBS else "(unknown)"
        metrics.record("rest", verb, model, status, time.perf_counter() - start)

    def _measured(self, method: str, handler):
        """`handler(request, parts)` as a Starlette endpoint: the path parsed, serving errors
        answered, the request counted in the metrics."""
        async def endpoint(request: Request) -> Response:
            start, parts = time.perf_counter(), {}
            try:
                parts = _parse_path(_raw_path(request.scope))
                response = await handler(request, parts)
            except ServingError as error:
                response = _error(error)
            self._record(parts, method, response.status_code, start)
            return response
        return endpoint


class _Deadlines:
    """Answers predict requests that outlive the server's timeout with `DeadlineExceeded`.

    Every request has the same timeout, so one sweeper task (running while requests wait)
    checks them all a few times per timeout; a request costs a list append instead of a timer
    of its own, which at thousands of requests per second was 5% of the event loop.
    """

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._tick = min(0.1, max(0.001, timeout_s / 10))
        self._waiting: collections.deque[tuple[float, asyncio.Future]] = collections.deque()
        self._sweeper: asyncio.Task | None = None

    def watch(self, waiter: asyncio.Future) -> float:
        """Fails `waiter` if it is still waiting at its deadline; returns the deadline."""
        deadline = time.monotonic() + self.timeout_s
        self._waiting.append((deadline, waiter))
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return deadline

    def error(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"The request took longer than the server's {self.timeout_s:g} s timeout.")

    async def _sweep(self) -> None:
        while self._waiting:  # stops when nothing waits; the next `watch` starts it again
            await asyncio.sleep(self._tick)
            now = time.monotonic()
            still = collections.deque()
            for deadline, waiter in self._waiting:  # deadlines are in order: requests arrive in order
                if waiter.done():
                    continue
                if deadline <= now:
                    waiter.set_exception(self.error())
                else:
                    still.append((deadline, waiter))
            self._waiting = still


def _copy_result(waiter: asyncio.Future, done: asyncio.Future) -> None:
    """Passes a worker thread's outcome to the request's waiter, unless it timed out already."""
    if done.cancelled():
        waiter.done() or waiter.cancel()
        return
    error = done.exception()  # read even when unused, so asyncio does not report it as lost
    if waiter.done():
        return
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(done.result())


class _ClientGone(Exception):
    """The client disconnected before its request body arrived: there is nobody to answer."""


def _declared_length(scope, limit: int) -> int | None:
    """The request's Content-Length (None for a chunked body); `TooLarge` past `limit`."""
    declared = dict(scope["headers"]).get(b"content-length")
    if declared is None or not declared.isdigit():
        return None  # uvicorn's parser has refused a malformed length already
    if len(declared) > 18 or int(declared) > limit:
        raise TooLarge(f"Request body of {int(declared):,} bytes exceeds the server's limit of {limit:,} bytes.")
    return int(declared)


async def _read_body(receive, limit: int, ticket: Ticket | None) -> bytes:
    """The whole body; one without a Content-Length counts its bytes against `ticket` as they
    come. (A body that is too slow is answered 408 by the HTTP protocol.)"""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone()
        chunk = message.get("body", b"")
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"Request body exceeds the server's limit of {limit:,} bytes.")
        if ticket is not None:
            ticket.add(len(chunk))
        if not message.get("more_body", False):
            return bytes(body)


def _decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)  # accepts NaN/Infinity like TF Serving; the tensor checks reject them
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidArgument(f"Malformed JSON in the request body: {error}") from None
    except RecursionError:
        raise InvalidArgument("The request body's JSON is nested too deeply: no signature takes a tensor of "
                              "hundreds of dimensions.") from None


def _signature_name(body: Any) -> str | None:
    signature_name = body.get("signature_name") if isinstance(body, dict) else None
    if signature_name is not None and not isinstance(signature_name, str):
        raise InvalidArgument(f"'signature_name' must be a string. Received: {signature_name!r}")
    return signature_name


def _check_method(servable, signature_name, verb: str) -> None:
    """TF Serving answers :classify / :regress only for signatures with those method names."""
    signature_defs = servable.signature_def_map().signature_def
    method = signature_defs[signature_name or DEFAULT_SIGNATURE].method_name
    expected = CLASSIFY_METHOD if verb == "classify" else REGRESS_METHOD
    if method != expected:
        kind = "classification" if verb == "classify" else "regression"
        raise InvalidArgument(f"Expected {kind} signature method_name to be {expected}. Was: {method}")
    raise InvalidArgument(f"{verb} requests with tf.Example inputs are not supported by this server; "
                          "use :predict.")


def _metadata(manager: ModelManager, parts) -> dict[str, Any]:
    from tensorflow_serving.apis import get_model_metadata_pb2

    servable = manager.lookup(parts["name"], parts["version"], parts["label"])
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    response.metadata["signature_def"].Pack(servable.signature_def_map())
    as_dict = _to_dict(response)
    # TF Serving's REST answer shows the packed SignatureDefMap without the Any's "@type".
    as_dict["metadata"]["signature_def"].pop("@type", None)
    # Beyond TF Serving (its clients ignore the extra key): what a client needs from the zoo's card
    # to prepare inputs and read outputs, e.g. that the model was trained on white-on-black digits.
    card = read_card(servable.path)
    if card:
        as_dict["metadata"]["zoo_card"] = {key: card[key] for key in CLIENT_CARD_KEYS if key in card}
        as_dict["metadata"]["zoo_card"]["dataset"] = {
            key: value for key, value in card.get("dataset", {}).items() if key in ("name", "classes", "background")}
    return as_dict


CLIENT_CARD_KEYS = ("name", "version", "head", "outputs", "mc_samples", "target_scale", "signature")


def _to_dict(message) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)
