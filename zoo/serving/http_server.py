"""uvicorn as `zoo serve` runs it: with the connection limits its HTTP protocol lacks (a cap on
a request's header bytes and a deadline for them to arrive), and a hook that tells the server
the moment a stop signal arrives, so gRPC stops accepting calls when REST does.

uvicorn (0.55, httptools) accepts headers of any size and waits forever for them: one client
sending a 160 MB header line cost ~28 s of server CPU (httptools joins the pieces of a header
value again for every chunk) and slowed every other request to seconds, and a connection that
never sends a byte stays open for good. `LimitedHttpToolsProtocol` counts the bytes that arrive
while a request's headers are incomplete and answers 431 (then closes) past `max_header_bytes`;
a connection whose request line and headers are not complete within `header_timeout_s` of
opening (or of the request's first byte) is closed, and so is one still sending, after that
long, the body of a request already refused (413, 429). uvicorn's own keep-alive timeout still
closes idle connections between requests.

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


def limited_protocol(max_header_bytes: int = MAX_HEADER_BYTES, header_timeout_s: float = HEADER_TIMEOUT_S):
    """uvicorn's `http=` argument: the protocol class with these limits bound (picklable, so
    `--workers` processes receive it too)."""
    return functools.partial(LimitedHttpToolsProtocol, max_header_bytes=max_header_bytes,
                             header_timeout_s=header_timeout_s)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size cap and a header deadline."""

    def __init__(self, *args, max_header_bytes: int = MAX_HEADER_BYTES,
                 header_timeout_s: float = HEADER_TIMEOUT_S, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_header_bytes, self.header_timeout_s = max_header_bytes, header_timeout_s
        self._header_bytes = 0
        self._awaiting_headers = True  # until the first request's headers are complete
        self._header_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Whatever arrived while the headers are still incomplete is header bytes (at most one
        # chunk more than the limit is ever held, whatever the client sends).
        if self._awaiting_headers and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(431, "Request Header Fields Too Large",
                             f"The request line and headers exceed the server's limit of "
                             f"{self.max_header_bytes:,} bytes.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers, self._header_bytes = True, 0
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and self.cycle.more_body and self._header_timer is None:
            # Answered before its body was read (413, 429): the parser reads the rest and drops
            # it, so the client sees the answer rather than a reset, but only for so long.
            self._arm_header_timer()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete and self._header_timer is None:
            # The dropped body has ended. uvicorn's keep-alive timer was cancelled by its bytes
            # and is not set again, so the next request must start within the deadline.
            self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_deadline)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline(self) -> None:
        self._header_timer = None
        # Close unless a request is being answered (its body and run time have deadlines of
        # their own): the client never finished a request's headers, never finished a body
        # nobody reads any more, or never started another request after that.
        answering = not self._awaiting_headers and self.cycle is not None and not self.cycle.response_complete
        if not answering and not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: int, reason: str, message: str) -> None:
        body = tensors.json_bytes({"error": message})
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n%s" % (status, reason.encode(), len(body), body))
        self.transport.close()
        self._cancel_header_timer()


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
