"""Prometheus metrics of the server (the standard `prometheus_client` library), served at
TF Serving's path `/monitoring/prometheus/metrics`.

- `zoo_serving_requests_total{api, method, model, code}`: requests answered, by outcome;
- `zoo_serving_request_latency_seconds{api, method, model}`: time to answer;
- `zoo_serving_batch_size{model}`: examples per model call when batching is on.

With `zoo serve --workers N`, `PROMETHEUS_MULTIPROC_DIR` is set before this module is
imported, every process counts into files there, and the exposition adds them up
(prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import functools
import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

PATH = "/monitoring/prometheus/metrics"

REQUESTS = Counter("zoo_serving_requests", "Requests answered, by API, method, model and status code.",
                   ["api", "method", "model", "code"])
LATENCY = Histogram("zoo_serving_request_latency_seconds", "Seconds from request to answer.",
                    ["api", "method", "model"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
BATCH_SIZE = Histogram("zoo_serving_batch_size", "Examples per model call with batching on.", ["model"],
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))


def record(api: str, method: str, model: str, code: str | int, seconds: float) -> None:
    requests, latency = _children(api, method, model, str(code))
    requests.inc()
    latency.observe(seconds)


@functools.lru_cache(maxsize=4096)  # label values are bounded: known models or "(unknown)"
def _children(api: str, method: str, model: str, code: str):
    return REQUESTS.labels(api, method, model, code), LATENCY.labels(api, method, model)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several server processes: add theirs up
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
