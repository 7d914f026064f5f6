"""uvicorn as `zoo serve` runs it: with the connection limits its HTTP protocol lacks (a cap on
a request's header bytes, deadlines for headers and bodies to arrive), and a hook that tells
the server the moment a stop signal arrives, so gRPC stops accepting calls when REST does.

uvicorn (0.55, httptools) accepts headers of any size and waits forever for them: one client
sending a 160 MB header line cost ~28 s of server CPU (httptools joins the pieces of a header
value again for every chunk) and slowed every other request to seconds, and a connection that
never sends a byte stays open for good, as does one trickling a body at 1 byte/s.
`LimitedHttpToolsProtocol` counts the bytes that arrive while a request's headers are
incomplete and answers 431 (then closes) past `max_header_bytes`; a connection whose request
line and headers are not complete within `header_timeout_s` is closed, and so is one still
sending, after that long, the body of a request already refused (413, 429); a body not
complete within `body_timeout_s` of its headers is answered 408. uvicorn's own keep-alive
timeout still closes idle connections between requests.

Example:
    >>> protocol = limited_protocol(max_header_bytes=64 * 1024, header_timeout_s=10)  # doctest: +SKIP
    >>> uvicorn.run(app, http=protocol)  # doctest: +SKIP
"""

from __future__ import annotations

import functools

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Multiprocess

from zoo.serving import tensors

MAX_HEADER_BYTES = 64 * 1024  # what common servers allow in total (nginx: 4 x 8 KB buffers by default; ours is larger)
HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 60.0


def limited_protocol(max_header_bytes: int = MAX_HEADER_BYTES, header_timeout_s: float = HEADER_TIMEOUT_S,
                     body_timeout_s: float = BODY_TIMEOUT_S):
    """uvicorn's `http=` argument: the protocol class with these limits bound (picklable, so
    `--workers` processes receive it too)."""
    return functools.partial(LimitedHttpToolsProtocol, max_header_bytes=max_header_bytes,
                             header_timeout_s=header_timeout_s, body_timeout_s=body_timeout_s)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size cap and deadlines for headers and bodies.

    Everything happens after a read (`data_received`), from uvicorn's own state, and one timer
    per connection is armed only when a read leaves a request unfinished: the common request,
    whose headers and body arrive in one read, costs a few attribute checks and no timer. The
    timer closes a connection whose headers are late, or whose refused body (413, 429) is still
    coming, and answers 408 for a body slower than `body_timeout_s`.
    """

    def __init__(self, *args, max_header_bytes: int = MAX_HEADER_BYTES, header_timeout_s: float = HEADER_TIMEOUT_S,
                 body_timeout_s: float = BODY_TIMEOUT_S, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_header_bytes, self.header_timeout_s, self.body_timeout_s = \
            max_header_bytes, header_timeout_s, body_timeout_s
        self._header_bytes = 0
        self._counted = None  # the request (scope) whose header bytes are being counted
        self._timer = None
        self._timed = None  # what the timer is for: (state, request)

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm("headers", None)  # a client that connects and never sends a byte

    def connection_lost(self, exc) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def _state(self) -> tuple[str, object]:
        """(what the connection waits for, the request it concerns): "headers" (no request, or
        its headers are incomplete), "body" (the app waits for the rest of the body), "drain"
        (a body nobody reads any more is still coming), "idle" (after a dropped body) or
        "answering"."""
        scope, cycle = self.scope, self.cycle
        if scope is None or "method" not in scope:  # uvicorn sets the method when headers complete
            return "headers", scope
        if cycle is None or not cycle.more_body:
            return ("idle" if cycle is not None and cycle.response_complete else "answering"), cycle
        return ("drain" if cycle.response_complete or cycle.response_started else "body"), cycle

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        scope = self.scope
        if scope is not None and "method" in scope:  # headers complete: the common case ends here
            cycle = self.cycle
            if cycle is not None and cycle.more_body:
                if self._timer is None or self._timed[0] == "headers":
                    self._arm(*self._state())  # the body is late, or a refused one still comes
            elif self._timer is not None and self._timed[0] != "drain":
                # The request is complete: between requests, uvicorn's keep-alive timeout rules.
                self._timer.cancel()
                self._timer = None
            return
        # Whatever arrived while a request's headers are incomplete is header bytes (at most one
        # read more than the limit is ever held, whatever the client sends).
        if self._counted is not scope:
            self._counted, self._header_bytes = scope, 0
        self._header_bytes += len(data)
        if self._header_bytes > self.max_header_bytes:
            self._refuse(431, "Request Header Fields Too Large", f"The request line and headers exceed the "
                                                                 f"server's limit of {self.max_header_bytes:,} bytes.")
        elif self._timer is None or self._timed != ("headers", scope):
            self._arm("headers", scope)

    def _arm(self, state: str, request) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timed = (state, request)
        seconds = self.body_timeout_s if state == "body" else self.header_timeout_s
        self._timer = self.loop.call_later(seconds, self._deadline)

    def _deadline(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        state, request = self._state()
        if state == "idle" and self._timed[0] == "drain":
            # A dropped body ended and nothing came since; its bytes had cancelled uvicorn's
            # keep-alive timer, which is not set again.
            self.transport.close()
        elif (state, request) == self._timed:
            if state == "body":
                # The app is waiting for the body: answer for it. Closing the connection tells
                # the app the client is gone, so it sends nothing of its own.
                self._refuse(408, "Request Timeout", f"The request body did not arrive within the server's "
                                                     f"{self.body_timeout_s:g} s (--client-body-timeout-seconds).")
            elif state in ("headers", "drain"):  # late headers, or a dropped body still coming
                self.transport.close()
        elif state in ("headers", "body", "drain"):  # a newer request or stage: its own deadline
            self._arm(state, request)

    def _refuse(self, status: int, reason: str, message: str) -> None:
        body = tensors.json_bytes({"error": message})
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n%s" % (status, reason.encode(), len(body), body))
        self.transport.close()


class Server(uvicorn.Server):
    """uvicorn's server, calling `on_exit()` the moment a stop signal arrives (uvicorn then
    stops accepting connections and lets requests in flight finish)."""

    def __init__(self, config: uvicorn.Config, *, on_exit):
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        self._on_exit()


class Supervisor(Multiprocess):
    """uvicorn's supervisor of `--workers` processes, calling `on_exit()` when asked to stop."""

    def __init__(self, config: uvicorn.Config, *, on_exit, sockets):
        super().__init__(config, sockets=sockets)
        self._on_exit = on_exit

    def handle_term(self) -> None:
        self._on_exit()
        super().handle_term()

    def handle_int(self) -> None:
        self._on_exit()
        super().handle_int()
