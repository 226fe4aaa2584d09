"""What the login analyzers (`credentials`, `logins`, `app_logins`) and the proxy's SOCKS5 login
share: a login state per flow, a budget of client bytes, and the one way a login becomes a
`credentials` observation (`found`: never the password, only its length). Not an analyzer itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, deactivate
from netwatch.flows.table import Flow
from netwatch.protocols.auth import is_default
from netwatch.protocols.http import HttpHead, HttpPart
from netwatch.protocols.text import clean

MAX_BYTES = 64 * 1024  # client bytes looked at per flow
MAX_LINE = 2048


@dataclass(slots=True)
class LoginState:
    """One flow's login dialogue so far (a line buffer, the step it is at, the user named)."""

    buf: bytes = b""  # an unfinished line
    seen: int = 0  # client bytes looked at
    user: bytes | str | None = None  # the user named, until the password comes
    mode: str | None = None  # the step a multi-line login is at (plain, login-user, user, pass, …)
    screen: bytes = b""  # Telnet: the end of what the server printed (for its prompts)
    typed: bytearray = field(default_factory=bytearray)  # Telnet: keystrokes since the prompt
    auth: int | None = None  # PostgreSQL: the authentication type the server asked for
    literal: int = 0  # IMAP: the length of the LOGIN password literal that comes next
    communities: set[int] = field(default_factory=set)  # hashes of what was reported (SNMP communities, SIP users)

    def take_user(self) -> bytes | str | None:
        user, self.user = self.user, None
        return user


class LoginWatcher(Analyzer[LoginState]):
    """What `Credentials` and `Logins` share: a login state per flow, a budget of client bytes and
    a handler per application."""

    def _budget(self, flow: Flow, direction: int, data: bytes, apps: Container[str]) -> LoginState | None:
        """The flow's state while its application is one of `apps` and the budget lasts; else None
        (and the analyzer leaves the flow)."""
        app = flow.app
        if app is None:
            return None
        st = self.state(flow)
        if app not in apps or st.seen > MAX_BYTES:
            deactivate(flow, self)
            return None
        if direction == 0:
            st.seen += len(data)
        return st

    def _request_head(self, flow: Flow, direction: int, part: HttpPart) -> HttpHead | None:
        """`part` when it is a request head within the budget (the Dispatcher hands them over just
        before `stream` counts the bytes they came in), else None."""
        if direction != 0 or not isinstance(part, HttpHead):
            return None
        st = self.peek(flow)
        return part if st is None or st.seen <= MAX_BYTES else None

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        st = self.peek(flow)
        if st is not None:
            st.buf = b""


def found(flow: Flow, ts: float, emit: Emit, protocol: str, user: Any, password: bytes | str | None,
          method: str, secret: str = "cleartext", **extra: Any) -> None:
    """Emit one `credentials` observation: the user (escaped), never the password, only its length and
    whether it is a well-known default."""
    fields: dict[str, Any] = {"protocol": protocol, "user": clean(user), "method": method, "secret": secret}
    if password is not None:
        fields["password_length"] = len(password)
        fields["default_password"] = is_default(password)
    else:
        fields["default_password"] = False
    fields.update(extra)
    emit(events.Credentials(ts=ts, flow=events.FlowFacts.of(flow), **fields))


def locating(emit: Emit, where: events.Location | None) -> Emit:
    """`emit`, with a readable secret's `credentials` events located at `where` (evidence overwrites it)."""
    if where is None:
        return emit

    def out(ev: events.Event) -> None:
        if isinstance(ev, events.Credentials) and ev.password_length is not None:
            ev = dataclasses.replace(ev, location=where)
        emit(ev)
    return out
