"""`http_request` events: one per HTTP request head the Dispatcher parsed (HTTP/1.x and h2c).

Only for `--log http` (or a rule on `http_request`): `build_analyzers` leaves it out otherwise, so
a scan without it pays nothing. The facts come from `protocols.http_request`, which keeps no query
value and no userinfo; the metadata record masks card numbers at the redaction boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

from netwatch.analyzers import Analyzer, Emit
from netwatch.events import FlowFacts, HttpRequest
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP
from netwatch.protocols.http import HttpHead, HttpPart
from netwatch.protocols.http_request import request_facts

MAX_REQUESTS = 1000  # requests reported per flow (a keep-alive flow may carry many more)


@dataclass(slots=True)
class _Requests:
    reported: int = 0


class HttpRequests(Analyzer[_Requests], name="httpreq", transports=(TCP,)):
    """Reads the parsed heads of http flows; states each request line (method, host, path)."""

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        self.stays_for(flow, "http")  # any other protocol: leave the flow (a tunnel starts it again)

    def http(self, flow: Flow, direction: int, part: HttpPart, ts: float, emit: Emit) -> None:
        if direction != 0 or not isinstance(part, HttpHead):
            return
        seen = self.state(flow)
        facts = request_facts(part) if seen.reported < MAX_REQUESTS else None
        if facts is None:
            return
        seen.reported += 1
        emit(HttpRequest(ts=ts, flow=FlowFacts.of(flow), method=facts.method, host=facts.host, path=facts.path,
                         query=facts.query, version=facts.version, user_agent=facts.user_agent))
