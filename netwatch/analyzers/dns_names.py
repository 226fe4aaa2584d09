"""Names for server addresses, learnt from the DNS answers the capture shows (CNAME chains included).

Runs first at every flow start: gives the Dispatcher (`names_known`) the names DNS tied to the
flow's server address before the flow began, so policy hostnames can match. It stays only on DNS
flows (port 53), where it reads each message and emits a `dns` observation per query: name, type,
resolver, answers.
Sans-IO and bounded: the address map and the per-flow query table are capped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netwatch.analyzers import Analyzer, Emit, names_known
from netwatch.events import Dns, FlowFacts
from netwatch.flows.table import Flow
from netwatch.protocols.dns import TYPE_NAMES, DnsMessage, parse_dns

DNS_PORT = 53
MAX_ADDRESSES = 65536  # address → names entries kept (oldest dropped first)
MAX_NAMES = 8  # names kept per address
MAX_PENDING = 32  # unanswered queries held per flow
MAX_ANSWERS = 8  # answers reported per query
MAX_TCP_BUFFER = 65536 + 2  # one DNS-over-TCP message at most
CHAIN_DEPTH = 10


def answer_names(msg: DnsMessage) -> dict[str, list[str]]:
    """Address → names from one response: the A/AAAA owner and every alias whose CNAME chain leads to it."""
    aliases: dict[str, list[str]] = {}  # target → names pointing at it
    for name, rtype, value in msg.answers:
        if rtype == 5:
            aliases.setdefault(value, []).append(name)
    out: dict[str, list[str]] = {}
    for name, rtype, value in msg.answers:
        if rtype not in (1, 28):
            continue
        chain = [name]
        frontier = [name]
        for _ in range(CHAIN_DEPTH):
            frontier = [a for n in frontier for a in aliases.get(n, ()) if a not in chain]
            if not frontier:
                break
            chain.extend(frontier)
        names = out.setdefault(value, [])
        for n in reversed(chain):  # the name asked for first, the canonical name last
            if n not in names:
                names.append(n)
    return out


@dataclass(slots=True)
class _Dns:
    pending: dict[int, tuple[float, tuple[str, int]]] = field(default_factory=dict)  # id → (ts, question)
    tcp: list[bytes] = field(default_factory=lambda: [b"", b""])  # DNS over TCP: bytes of a message


class Names(Analyzer[_Dns], name="names", plaintext_only=False, shared=True):
    """Per-run map of server address → DNS names; names each new flow's server (through the
    Dispatcher); emits `dns` observations."""

    def __init__(self) -> None:
        self.by_addr: dict[str, list[str]] = {}

    def learn(self, addr: str, names: list[str]) -> None:
        known = self.by_addr.pop(addr, None)  # re-insert: most recently seen last
        if known is None:
            if len(self.by_addr) >= MAX_ADDRESSES:
                del self.by_addr[next(iter(self.by_addr))]
            known = []
        for n in names:
            if n and n not in known and len(known) < MAX_NAMES:
                known.append(n)
        self.by_addr[addr] = known

    def wants(self, flow: Flow) -> bool:
        names = self.by_addr.get(flow.dst)
        if names:
            names_known(flow, names)
        return flow.server_port == DNS_PORT

    # -- DNS messages ---------------------------------------------------------------------------
    def _message(self, flow: Flow, direction: int, msg: DnsMessage, ts: float, emit: Emit) -> None:
        pending = self.state(flow).pending
        if not msg.response:
            if msg.questions and len(pending) < MAX_PENDING:
                pending[msg.id] = (ts, msg.questions[0])
            return
        for addr, names in answer_names(msg).items():
            self.learn(addr, names)
        asked = pending.pop(msg.id, None)
        q = msg.questions[0] if msg.questions else (asked[1] if asked else ("", 0))
        answers = [f"{TYPE_NAMES.get(t, t)} {v}" for _n, t, v in msg.answers[:MAX_ANSWERS]]
        emit(self._obs(flow, asked[0] if asked else ts, q, msg.rcode, answers))

    def _obs(self, flow: Flow, ts: float, q: tuple[str, int], rcode: int | None, answers: list[str]) -> Dns:
        return Dns(ts=ts, flow=FlowFacts.of(flow), qname=q[0], qtype=TYPE_NAMES.get(q[1], str(q[1])),
                   resolver=flow.dst, rcode=rcode, answers=tuple(answers))

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        msg = parse_dns(data)
        if msg is not None:
            self._message(flow, direction, msg, ts, emit)

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        """DNS over TCP: 2-byte length-prefixed messages, possibly split across segments."""
        bufs = self.state(flow).tcp
        buf = bufs[direction] + data
        for _ in range(64):
            if len(buf) < 2:
                break
            n = int.from_bytes(buf[:2], "big")
            if len(buf) < 2 + n:
                break
            msg = parse_dns(buf[: 2 + n], tcp=True)
            if msg is not None:
                self._message(flow, direction, msg, ts, emit)
            buf = buf[2 + n :]
        bufs[direction] = buf if len(buf) <= MAX_TCP_BUFFER else b""

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        st = self.peek(flow)
        if st is not None:
            st.tcp[direction] = b""  # message boundaries are lost across a hole

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        st = self.peek(flow)
        for ts, q in (st.pending if st else {}).values():  # queries that got no answer in the capture
            emit(self._obs(flow, ts, q, None, []))
