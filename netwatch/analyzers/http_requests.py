"""`http_request` events: one per HTTP request head the Dispatcher parsed (HTTP/1.x and h2c), with
the status of the response that answered it (Zeek's http.log pairs them the same way).

Only for `--log http` (or a rule on `http_request`): `build_analyzers` leaves it out otherwise, so
a scan without it pays nothing. The facts come from `protocols.http_request`, which keeps no query
value and no userinfo; the metadata record masks card numbers at the redaction boundary.

Pairing: HTTP/1.x answers requests in the order they were sent (pipelining included, RFC 9112 §9.3);
HTTP/2 answers on the request's stream, and the HTTP/1.1 request that asked for the h2c upgrade is
answered on stream 1 (RFC 7540 §3.2). 1xx responses are interim (101 Switching Protocols ends the
request). A request still unanswered when the flow ends, or when the flow leaves HTTP, is stated
without a status.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field

from netwatch.analyzers import Analyzer, Emit
from netwatch.events import FlowFacts, HttpRequest
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP
from netwatch.protocols.http import HttpHead, HttpPart
from netwatch.protocols.http_request import request_facts

MAX_REQUESTS = 1000  # requests reported per flow (a keep-alive flow may carry many more)
MAX_WAITING = 64  # requests awaiting their response per flow; past it the oldest is stated without one
UPGRADE_STREAM = 1  # where HTTP/2 answers the HTTP/1.1 request that upgraded the connection


@dataclass(slots=True)
class _Requests:
    reported: int = 0
    # requests awaiting their response; None: one past MAX_REQUESTS, kept so later answers pair right
    in_order: deque[HttpRequest | None] = field(default_factory=deque)  # HTTP/1.x, oldest first
    by_stream: dict[int, HttpRequest | None] = field(default_factory=dict)  # h2c, by stream id


class HttpRequests(Analyzer[_Requests], name="httpreq", transports=(TCP,)):
    """Reads the parsed heads of http flows; states each request line (method, host, path) and its status."""

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if flow.app is not None and not self.stays_for(flow, "http"):  # left HTTP (a tunnel starts it again)
            self._unanswered(flow, emit)

    def http(self, flow: Flow, direction: int, part: HttpPart, ts: float, emit: Emit) -> None:
        if not isinstance(part, HttpHead):
            return
        seen = self.state(flow)
        if not part.is_request:
            self._answered(seen, part, emit)
            return
        facts = request_facts(part) if seen.reported < MAX_REQUESTS else None
        request = None
        if facts is not None:
            seen.reported += 1
            request = HttpRequest(ts=ts, flow=FlowFacts.of(flow), method=facts.method, host=facts.host,
                                  path=facts.path, query=facts.query, version=facts.version,
                                  user_agent=facts.user_agent)
        if part.stream is not None:
            seen.by_stream[part.stream] = request
        else:
            seen.in_order.append(request)
        if len(seen.in_order) + len(seen.by_stream) > MAX_WAITING:
            oldest = seen.in_order.popleft() if seen.in_order else seen.by_stream.pop(next(iter(seen.by_stream)))
            if oldest is not None:
                emit(oldest)

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        self._unanswered(flow, emit)

    @staticmethod
    def _answered(seen: _Requests, response: HttpHead, emit: Emit) -> None:
        status = response.status
        if status is not None and 100 <= status < 200 and status != 101:
            return  # interim (100 Continue, 103 Early Hints): the final response is still to come
        if response.stream is not None and response.stream in seen.by_stream:
            request = seen.by_stream.pop(response.stream)
        elif seen.in_order and response.stream in (None, UPGRADE_STREAM):
            request = seen.in_order.popleft()
        else:
            return  # an answer to no request seen (the capture began after it)
        if request is not None:
            emit(dataclasses.replace(request, status=status))

    def _unanswered(self, flow: Flow, emit: Emit) -> None:
        seen = self.peek(flow)
        if seen is None:
            return
        waiting = sorted([r for r in (*seen.in_order, *seen.by_stream.values()) if r is not None], key=lambda r: r.ts)
        seen.in_order.clear()
        seen.by_stream.clear()
        for request in waiting:
            emit(request)
