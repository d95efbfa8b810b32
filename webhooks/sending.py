"""One attempt to deliver a callback: a POST to a checked address, bounded in time and size.

http.client rather than urllib: it follows no redirects (a 3xx is a failed attempt; a
redirect could point anywhere, loopback included) and lets the connection be opened by
`connect_checked`, so the socket goes to the address that was checked while the Host header,
TLS SNI and certificate check still use the URL's host name.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
from dataclasses import dataclass

from webhooks.destinations import (
    CallbackPolicy,
    CallbackUrlError,
    Destination,
    connect_checked,
    parse_callback_url,
)
from webhooks.schedule import parse_retry_after

RESPONSE_BYTES_READ = 1024  # the answer's body is not ours to store; read a little, then close
USER_AGENT = "facefit-webhooks/1"


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0  # resolving and opening the connection
    total: float = 15.0  # the whole attempt, however slowly the receiver drips its answer


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt got: an HTTP status, or an error (connection, timeout, refused URL)."""

    http_status: int | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver says this endpoint will never take callbacks again."""
        return self.http_status == 410


def _connection(
    destination: Destination, policy: CallbackPolicy, timeouts: Timeouts
) -> http.client.HTTPConnection:
    if destination.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            destination.host,
            destination.port,
            timeout=timeouts.connect,
            context=ssl.create_default_context(),
        )
    else:
        connection = http.client.HTTPConnection(
            destination.host, destination.port, timeout=timeouts.connect
        )

    # http.client opens its socket through this attribute (then wraps it in TLS for the URL's
    # host name): resolving and checking happen here, on every attempt.
    def open_socket(_address, timeout, _source_address=None) -> socket.socket:
        sock = connect_checked(destination, policy, timeout)
        sock.settimeout(timeouts.total)  # the connect had its own limit; the watchdog has the rest
        return sock

    connection._create_connection = open_socket  # type: ignore[attr-defined]
    return connection


def _abort(connection: http.client.HTTPConnection, fired: threading.Event) -> None:
    fired.set()  # before the shutdown: the attempt's thread reads it when its socket ends
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # closed already
            sock.shutdown(socket.SHUT_RDWR)  # the attempt's thread gets an OSError at once


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: CallbackPolicy,
    timeouts: Timeouts = Timeouts(),
) -> AttemptResult:
    """POST `body` to `url` once; never raises for what the network or the receiver does."""
    try:
        destination = parse_callback_url(url, policy)
    except CallbackUrlError as exc:
        return AttemptResult(error=f"{exc.code}: {exc.message}")
    connection = _connection(destination, policy, timeouts)
    # A receiver that sends its answer a byte at a time stays under any per-read timeout;
    # this timer ends the attempt at the total limit whatever it is waiting for.
    fired = threading.Event()
    watchdog = threading.Timer(timeouts.total, _abort, args=(connection, fired))
    watchdog.start()
    try:
        connection.request(
            "POST",
            destination.target,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        response.read(RESPONSE_BYTES_READ)
        result = AttemptResult(
            http_status=response.status,
            error=_status_error(response),
            retry_after=parse_retry_after(response.getheader("Retry-After")),
        )
    except CallbackUrlError as exc:
        result = AttemptResult(error=f"{exc.code}: {exc.message}")
    except (OSError, http.client.HTTPException) as exc:
        timed_out = fired.is_set() or isinstance(exc, TimeoutError)
        what = "timed out" if timed_out else f"{type(exc).__name__}: {exc}"
        result = AttemptResult(error=what[:500])
    finally:
        watchdog.cancel()
        connection.close()
    return result


def _status_error(response: http.client.HTTPResponse) -> str | None:
    if 200 <= response.status < 300:
        return None
    if 300 <= response.status < 400:
        location = (response.getheader("Location") or "")[:300]
        return f"redirect not followed (Location: {location})"
    return f"HTTP {response.status} {response.reason}"[:300]
