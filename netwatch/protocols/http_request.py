"""What an HTTP request head says for a metadata record: method, host, path, query names, version.

A request target can carry secrets the card scanner cannot see: a password in a query value
(`?pass=…`), a token as a bare query item, credentials in an absolute URL (`http://user:pw@host/`).
So the path is cut at `?` and `#`, the userinfo of an absolute URL is dropped, and every query
value is replaced by `*` (`a=*&b=*`): names stay, values never leave here. Card numbers that sit
in the path or the names are masked later at the redaction boundary (`redaction.text.redact`).
Pure and bounded: bytes in, short strings out.
"""

from __future__ import annotations

from typing import NamedTuple

from netwatch.protocols.http import HttpHead
from netwatch.protocols.text import clean
from netwatch.protocols.url_auth import ABSOLUTE

MAX_PATH = 512  # characters of a path kept (the rest cut, marked with …)
MAX_QUERY = 256  # characters of the query names kept
MAX_QUERY_ITEMS = 32  # query items listed
MAX_HOST = 255  # a DNS name's longest form
MAX_AGENT = 256
ELIDED = "*"  # what a query value becomes


class RequestFacts(NamedTuple):
    """A request's line and Host, with secrets taken out (see the module docstring)."""

    method: str
    host: str | None
    path: str
    query: str | None  # names with every value elided (`a=*&b=*`); None: no query
    version: str | None
    user_agent: str | None


def _authority(authority: bytes) -> bytes:
    """`user:pw@host:port` → `host:port` (the userinfo never leaves)."""
    return authority.rsplit(b"@", 1)[-1]


def split_target(target: bytes) -> tuple[bytes | None, bytes, bytes | None]:
    """(host from an absolute URL or None, path, raw query or None) of a request target; userinfo dropped."""
    host: bytes | None = None
    if ABSOLUTE.match(target):  # absolute form, any scheme (a proxy is asked for ftp:// URLs too)
        rest = target.split(b"://", 1)[1]
        slash = rest.find(b"/")
        slash = len(rest) if slash < 0 else slash
        # the userinfo ends at the authority's last '@', even one after a '?' or '#' a password held
        authority = _authority(rest[:slash])
        cut = min((i for i in (authority.find(b"?"), authority.find(b"#")) if i >= 0), default=len(authority))
        host, target = authority[:cut], authority[cut:] + rest[slash:]
    elif not target.startswith((b"/", b"*")):  # authority form (CONNECT host:port)
        return _authority(target), b"", None
    target = target.split(b"#", 1)[0]
    path, sep, query = target.partition(b"?")
    return host, path or (b"/" if host is not None else b""), query if sep else None


def elide_query(query: bytes) -> str:
    """Query names with each value replaced by `*`; a bare item (no `=`) is a value: `*`."""
    items = [item for item in query.replace(b";", b"&").split(b"&") if item]
    out = []
    for item in items[:MAX_QUERY_ITEMS]:
        name, sep, _value = item.partition(b"=")
        out.append(f"{clean(name, MAX_QUERY)}={ELIDED}" if sep else ELIDED)
    if len(items) > MAX_QUERY_ITEMS:
        out.append(f"… ({len(items) - MAX_QUERY_ITEMS} more)")
    text = "&".join(out)
    return text if len(text) <= MAX_QUERY else text[: MAX_QUERY - 1] + "…"


def request_facts(head: HttpHead) -> RequestFacts | None:
    """The facts of a request head, or None for a response."""
    if not head.is_request:
        return None
    parts = head.start_line.split(b" ", 2)
    method = clean(parts[0], 16) or ""
    target = parts[1] if len(parts) >= 2 else b""
    version = clean(parts[2], 16) if len(parts) == 3 else None
    url_host, path, query = split_target(target)
    host = head.header(b"host")
    host = _authority(host) if host is not None else url_host
    agent = head.header(b"user-agent")
    return RequestFacts(method, clean(host, MAX_HOST) if host else None, clean(path, MAX_PATH) or "",
                        elide_query(query) if query is not None else None, version,
                        clean(agent, MAX_AGENT) if agent is not None else None)
