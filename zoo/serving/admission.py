"""How much work a server takes on at once: requests in flight and the request bytes they hold.

Without a bound, four clients sending 47 MB predict requests at once took `zoo serve` to 2.7 GB,
with batching off nothing bounded the number of requests at all. Every predict request (REST
and gRPC, batching on or off) now takes a ticket before its body is read; beyond
`max_requests` requests, or `max_bytes` of request bodies held at once, it is refused at once
with `ResourceExhausted` (HTTP 429, gRPC RESOURCE_EXHAUSTED), which clients retry, instead of
the server running out of memory.

Example:
    >>> admission = Admission(max_requests=2, max_bytes=100)
    >>> with admission.admit(declared_bytes=60) as ticket:
    ...     ticket.add(30)  # a body without Content-Length counts its bytes as they arrive
    >>> admission.in_flight
    (0, 0)
"""

from __future__ import annotations

import threading

from zoo.serving.errors import ResourceExhausted


class Admission:
    """Counts the requests in flight and the body bytes they hold; thread-safe."""

    def __init__(self, max_requests: int, max_bytes: int):
        if max_requests < 1 or max_bytes < 1:
            raise ValueError(f"Admission limits must be positive. Received: max_requests={max_requests}, "
                             f"max_bytes={max_bytes}")
        self.max_requests, self.max_bytes = max_requests, max_bytes
        self._requests = self._bytes = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> tuple[int, int]:
        """(requests, bytes) held now."""
        return self._requests, self._bytes

    def admit(self, declared_bytes: int = 0) -> Ticket:
        """A ticket for one request that says it will send `declared_bytes`; raises
        `ResourceExhausted` when the server already holds its limit."""
        with self._lock:
            if self._requests >= self.max_requests:
                raise ResourceExhausted(f"The server is answering {self._requests} requests, its limit "
                                        "(--max-enqueued-requests): retry later.")
            self._check(declared_bytes)
            self._requests += 1
            self._bytes += declared_bytes
        return Ticket(self, declared_bytes)

    def _check(self, more: int) -> None:
        if self._bytes + more > self.max_bytes:
            raise ResourceExhausted(f"The server holds {self._bytes / 2**20:.1f} MB of requests; {more / 2**20:.1f} MB "
                                    f"more would pass its limit of {self.max_bytes / 2**20:g} MB "
                                    "(--max-in-flight-mb): retry later.")

    def _release(self, nbytes: int) -> None:
        with self._lock:
            self._requests -= 1
            self._bytes -= nbytes


class Ticket:
    """One admitted request; `add` counts bytes beyond those declared, `release` (or leaving
    the `with` block) gives everything back."""

    def __init__(self, admission: Admission, nbytes: int):
        self._admission, self._bytes, self._released = admission, nbytes, False

    def add(self, nbytes: int) -> None:
        admission = self._admission
        with admission._lock:
            admission._check(nbytes)
            admission._bytes += nbytes
            self._bytes += nbytes

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._admission._release(self._bytes)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
