"""Where callbacks may go: URL syntax, the address policy (no SSRF), and the checked connect.

A callback URL is checked twice: at submission (a clear 400 for the game server) and again
when the worker connects, on the addresses resolved then. The socket goes to exactly the
address that passed the check, so a name that re-resolves to 127.0.0.1 between the check and
the connect (DNS rebinding) gets nowhere.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}
# Prefixes that carry an IPv4 address inside an IPv6 one: a gateway may forward to it.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")

# getaddrinfo has no timeout of its own; it runs here and is waited for at most that long.
# A resolver that never answers keeps a thread, not a request or a delivery.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="callback-resolve")


class CallbackUrlError(ValueError):
    """A callback URL refused, with a stable code for the API's error body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def invalid(message: str) -> CallbackUrlError:
    return CallbackUrlError("CALLBACK_URL_INVALID", message)


def forbidden(message: str) -> CallbackUrlError:
    return CallbackUrlError("CALLBACK_URL_FORBIDDEN", message)


@dataclass(frozen=True)
class CallbackPolicy:
    """Production's https rule, the operator's allowlist and the resolver's patience."""

    require_https: bool = False
    # Exact `host:port` pairs (host as written in the URL, port explicit or the default):
    # internal game servers an operator admits although they resolve to private addresses.
    allow: frozenset[str] = frozenset()
    resolve_timeout: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CallbackPolicy:
        env = os.environ if env is None else env
        allow = (item.strip().lower() for item in env.get("FACEFIT_CALLBACK_ALLOW", "").split(","))
        return cls(
            require_https=env.get("FACEFIT_ENV", "development") == "production",
            allow=frozenset(item for item in allow if item),
            resolve_timeout=float(env.get("FACEFIT_CALLBACK_RESOLVE_TIMEOUT", cls.resolve_timeout)),
        )


@dataclass(frozen=True)
class Destination:
    """A callback URL taken apart: what to resolve, where to connect, what to ask for."""

    scheme: str
    host: str  # as the URL writes it, lower case, IPv6 without brackets
    port: int
    target: str  # path and query, as sent on the request line

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_callback_url(url: str, policy: CallbackPolicy) -> Destination:
    """The URL's parts if it is a well-formed http(s) URL this site may call, else invalid()."""
    if len(url) > MAX_URL_LENGTH:
        raise invalid(f"callback_url is longer than {MAX_URL_LENGTH} characters.")
    if any(not 0x21 <= ord(char) <= 0x7E for char in url):
        # Spaces, controls (CR/LF header injection) and raw non-ASCII: percent-encode them.
        raise invalid("callback_url may contain only printable ASCII, without spaces.")
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise invalid(f"callback_url is not a valid URL ({exc}).") from exc
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise invalid("callback_url must be an http or https URL with a host.")
    if policy.require_https and parts.scheme != "https":
        raise invalid("callback_url must use https.")
    if parts.username is not None or parts.password is not None:
        raise invalid("callback_url may not carry a user name or password.")
    if port == 0:
        raise invalid("callback_url has port 0.")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Destination(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or DEFAULT_PORTS[parts.scheme],
        target=target,
    )


def forbidden_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a callback may not go to `address` (None: a public unicast address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (address in NAT64 or address in NAT64_LOCAL):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = forbidden_reason(embedded)
            return f"{reason} (inside {address})" if reason else None
        if address.is_site_local:
            return "site-local"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally reachable", not address.is_global),  # 100.64/10 and the rest
    )
    return next((name for name, hit in checks if hit), None)


def resolve(host: str, port: int, timeout: float) -> list[str]:
    """The host's addresses (decimal, octal and hex spellings resolve as the OS reads them)."""
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout)
    except FutureTimeout as exc:
        raise CallbackUrlError(
            "CALLBACK_URL_UNRESOLVED", f"{host} did not resolve within {timeout:g} s."
        ) from exc
    except (OSError, UnicodeError) as exc:
        raise CallbackUrlError("CALLBACK_URL_UNRESOLVED", f"{host} does not resolve.") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def checked_addresses(destination: Destination, policy: CallbackPolicy) -> list[str]:
    """The addresses to connect to, each one allowed; forbidden() if any one is not.

    Any forbidden address refuses the whole name: a name with one public and one private
    address would otherwise reach the private one whenever the public one is slow.
    """
    addresses = resolve(destination.host, destination.port, policy.resolve_timeout)
    if destination.host_port.lower() in policy.allow:
        return addresses
    for text in addresses:
        reason = forbidden_reason(ipaddress.ip_address(text.split("%", 1)[0]))
        if reason:
            # Not the address itself: the answer must not map our internal names for a caller.
            raise forbidden(f"callback_url's host resolves to a {reason} address.")
    return addresses


def check_callback_url(url: str, policy: CallbackPolicy) -> Destination:
    """The submission-time check: syntax, scheme, and every resolved address."""
    destination = parse_callback_url(url, policy)
    checked_addresses(destination, policy)
    return destination


def connect_checked(
    destination: Destination, policy: CallbackPolicy, timeout: float
) -> socket.socket:
    """A TCP connection to one of the destination's addresses, resolved and checked now."""
    error: OSError | None = None
    for address in checked_addresses(destination, policy):
        try:
            return socket.create_connection((address, destination.port), timeout=timeout)
        except OSError as exc:
            error = exc
    raise error or OSError(f"no address to connect to for {destination.host}")
