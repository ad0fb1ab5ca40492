"""Deadlines that hold for every HTTP exchange with Ollama, whatever the server does.

httpx's `read` timeout is per socket read and starts again with every byte, so a server that
sends one header byte a second, or a stream that never ends, holds a caller as long as it likes.
Here every request gets four limits:

- `connect`: the TCP connection (httpx's connect timeout; the kernel does not dribble);
- `first_byte`: from sending the request to having the whole response head (status and
  headers): the model may have to load first, so this is the long one;
- `idle`: between two NDJSON lines of a streaming answer (between any two reads otherwise);
- `total`: the whole exchange, head and body (None: no limit, e.g. a model download).

A single watchdog thread holds the next due time of every open exchange. When one passes it
marks the exchange expired and shuts its socket down, which wakes the blocked read at once;
the transport then raises `DeadlineExceeded` (an httpx.TimeoutException naming the limit), which
`kb.llm.ollama.ollama_errors` turns into an `OllamaTimeout` with a code. The socket is found through
httpcore's `trace` extension, so connections are not kept alive between requests: every
exchange has its own socket, and a shut-down one is never reused (a loopback connect costs
~0.1 ms).
"""
from __future__ import annotations

import logging
import math
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import httpx

log = logging.getLogger(__name__)

PHASES = ("connect", "first_byte", "idle", "total")


@dataclass(frozen=True)
class Deadlines:
    """Seconds allowed per phase of one exchange (see the module docstring)."""

    connect: float
    first_byte: float
    idle: float
    total: float | None

    def __post_init__(self) -> None:
        for name in ("connect", "first_byte", "idle", "total"):
            value = getattr(self, name)
            if value is None and name == "total":
                continue
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"deadline {name} must be a finite number of seconds > 0, got {value!r}")

    def limit(self, phase: str) -> float | None:
        return getattr(self, phase)

    def httpx_timeout(self) -> httpx.Timeout:
        """The per-operation backstop; the watchdog enforces the real limits. The backstop is set well
        past them: at the same value, on a loaded machine httpx's own read timeout could win the race
        and a stalled stream was reported as a plain timeout instead of the idle deadline it passed."""
        read = 2 * max(self.first_byte, self.idle) + 1.0
        return httpx.Timeout(connect=self.connect, read=read, write=read, pool=self.connect)


class DeadlineExceeded(httpx.TimeoutException):
    """The exchange ran past one of its deadlines; `phase` is connect, first_byte, idle or total."""

    def __init__(self, phase: str, seconds: float | None, request: httpx.Request | None = None):
        super().__init__(f"deadline {phase} ({seconds} s) passed", request=request)
        self.phase = phase
        self.seconds = seconds


class _Watch:
    """One open exchange: its due times, its socket once known, and whether it expired."""

    def __init__(self, deadlines: Deadlines):
        now = time.monotonic()
        self.deadlines = deadlines
        self.total_at = now + deadlines.total if deadlines.total else math.inf
        self.phase = "first_byte"
        self.phase_at = now + deadlines.first_byte
        self.ndjson = False
        self.expired: str | None = None
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    def due(self) -> tuple[float, str]:
        return (self.phase_at, self.phase) if self.phase_at <= self.total_at else (self.total_at, "total")

    def trace(self, previous: Callable[[str, dict[str, Any]], Any] | None) -> Callable[[str, dict[str, Any]], Any]:
        def hook(event: str, info: dict[str, Any]) -> Any:
            if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
                stream = info.get("return_value")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if isinstance(sock, socket.socket):
                    self._attach(sock)
            return previous(event, info) if previous is not None else None
        return hook

    def _attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._socket = sock
            late = self.expired is not None
        if late:  # the deadline passed while connecting: cut it now
            _shutdown(sock)

    def head_received(self, content_type: str) -> None:
        self.ndjson = "ndjson" in content_type.lower()
        self._advance()

    def received(self, data: bytes) -> None:
        if not self.ndjson or b"\n" in data:  # a stream's progress is a whole line, not a byte
            self._advance()

    def _advance(self) -> None:
        self.phase = "idle"
        self.phase_at = time.monotonic() + self.deadlines.idle

    def expire(self, phase: str) -> None:
        with self._lock:
            if self.expired is not None:
                return
            self.expired = phase
            sock = self._socket
        log.warning("ollama_deadline phase=%s seconds=%s", phase, self.deadlines.limit(phase))
        if sock is not None:
            _shutdown(sock)

    def error(self, request: httpx.Request | None) -> DeadlineExceeded:
        assert self.expired is not None
        return DeadlineExceeded(self.expired, self.deadlines.limit(self.expired), request)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a recv() blocked in another thread, unlike close()
    except OSError:
        pass  # already closed: nothing is waiting on it any more


class _Watchdog:
    """One daemon thread for the process: sleeps until the earliest due time of any open exchange."""

    def __init__(self) -> None:
        self._watches: set[_Watch] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ollama-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def remove(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [(w, *w.due()) for w in self._watches]
                expired = [(w, phase) for w, at, phase in due if at <= now]
                for w, _ in expired:
                    self._watches.discard(w)
                if not expired:
                    wait = min((at for _, at, _ in due), default=now + 60.0) - now
                    self._cond.wait(timeout=max(wait, 0.001))
                    continue
            for w, phase in expired:  # outside the lock: shutdown() may take a moment
                w.expire(phase)


_WATCHDOG = _Watchdog()


class _WatchedStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, watch: _Watch, request: httpx.Request):
        self._inner = inner
        self._watch = watch
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            for data in self._inner:
                if self._watch.expired:
                    raise self._watch.error(self._request)
                self._watch.received(data)
                yield data
        except httpx.HTTPError as exc:
            if self._watch.expired and not isinstance(exc, DeadlineExceeded):
                raise self._watch.error(self._request) from exc
            raise
        if self._watch.expired:
            raise self._watch.error(self._request)

    def close(self) -> None:
        _WATCHDOG.remove(self._watch)
        self._inner.close()


class DeadlineTransport(httpx.BaseTransport):
    """An httpx transport whose every exchange is bounded by `deadlines` (see the module docstring)."""

    def __init__(self, deadlines: Deadlines):
        self.deadlines = deadlines
        self._inner = httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        watch = _Watch(self.deadlines)
        request.extensions["trace"] = watch.trace(request.extensions.get("trace"))
        _WATCHDOG.add(watch)
        try:
            response = self._inner.handle_request(request)
        except httpx.HTTPError as exc:
            _WATCHDOG.remove(watch)
            if watch.expired:
                raise watch.error(request) from exc
            raise
        except BaseException:
            _WATCHDOG.remove(watch)
            raise
        if watch.expired:
            response.close()
            _WATCHDOG.remove(watch)
            raise watch.error(request)
        watch.head_received(response.headers.get("content-type", ""))
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(status_code=response.status_code, headers=response.headers,
                              stream=_WatchedStream(response.stream, watch, request),
                              extensions=response.extensions)

    def close(self) -> None:
        self._inner.close()


def client_kwargs(deadlines: Deadlines) -> dict[str, Any]:
    """What an `ollama.Client` / ChatOllama `client_kwargs` needs for deadlines that hold."""
    return {"timeout": deadlines.httpx_timeout(), "transport": DeadlineTransport(deadlines)}


def http_client(deadlines: Deadlines) -> httpx.Client:
    """A plain httpx client with the same deadlines (for the calls the ollama client lacks)."""
    return httpx.Client(**client_kwargs(deadlines))
