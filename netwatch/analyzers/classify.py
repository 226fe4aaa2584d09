"""What a flow carries and whether it is protected, judged by content (the port is only a hint).

`Classifier` runs the recognisers of `recognise` on a flow's first payloads and sets flow.app /
flow.encrypted / flow.how; every flow ends with a `flow_end` observation. A stream is judged by its
first bytes once enough have arrived, not by its first segment alone (HTTP sent a byte per segment,
an LPD job whose commands are a few bytes each): each TCP payload is tried on its own, then the
direction's first bytes so far (up to `SAMPLE` bytes, `MAX_TRIES` payloads). Infrastructure that is
cleartext by design (DNS, DHCP, NTP, …) is marked `infra` so rules inventory it instead of calling
it cleartext. Unrecognised payload is `opaque` (random-looking) or `unknown`, encrypted=None: never
called cleartext. `Upgrade` watches cleartext protocols that can switch to TLS mid-way (STARTTLS,
AUTH TLS, PostgreSQL/MySQL SSL requests, RDP, TDS) and marks the flow encrypted from the upgrade on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netwatch.analyzers import Analyzer, Emit, classified, deactivate, encrypted_from_here, notes, server_named
from netwatch.analyzers.recognise import TCP_RECOGNISERS, UDP_RECOGNISERS, Recogniser, opaque_or_unknown
from netwatch.events import FlowEnd, FlowFacts
from netwatch.flows.table import Flow
from netwatch.packets.decode import ESP, ICMP, ICMP6, TCP, UDP
from netwatch.protocols.http import request_host

INFRA_APPS = {"dns", "dhcp", "ntp", "icmp", "mdns", "llmnr", "netbios-ns", "netbios-dgm", "ssdp", "arp", "stun",
              "epmap"}
PROVISIONAL = {"stun"}  # decides a flow only when nothing else shows up in it (WebRTC: DTLS follows STUN)
UPGRADABLE = {"smtp", "imap", "pop3", "ftp", "postgres", "mysql", "rdp", "tds", "text", "ldap", "xmpp"}
TRIES = 4  # payloads looked at before a flow is called opaque/unknown, once each direction that spoke...
SAMPLE = 256  # ...has this many first bytes (or the flow has spent MAX_TRIES payloads)
MAX_TRIES = 32
PROVISIONAL_TRIES = 32  # payloads looked at past a PROVISIONAL verdict (ICE checks before DTLS)


@dataclass(slots=True)
class _Tries:
    sample: bytes | None = None  # the first unrecognised datagram
    tries: int = 0
    provisional: tuple[str, bool | None, str | None] | None = None  # a PROVISIONAL verdict, held
    heads: list[bytes] = field(default_factory=lambda: [b"", b""])  # each direction's first bytes (TCP)
    first: int = -1  # the direction whose bytes came first (TCP)

    def first_bytes(self) -> bytes | None:
        return self.heads[self.first] if self.first >= 0 else self.sample


class Classifier(Analyzer[_Tries], name="classify", plaintext_only=False):
    """Tells the Dispatcher what the flow carries from the first payloads; emits `flow_end`."""

    def _decide(self, flow: Flow, direction: int, data: bytes, recognisers: list[Recogniser]) -> None:
        if flow.app is not None:
            return
        if self._recognised(flow, direction, data, recognisers):
            return
        st = self.state(flow)
        st.tries += 1
        if flow.proto == TCP:  # a stream: its first bytes so far, whatever the segments were
            head = st.heads[direction]
            if not head:
                st.heads[direction] = data[:SAMPLE]
            elif len(head) < SAMPLE:
                head = st.heads[direction] = head + data[: SAMPLE - len(head)]
                if self._recognised(flow, direction, head, recognisers):
                    return
            if st.first < 0:
                st.first = direction
        elif st.sample is None:
            st.sample = data[:SAMPLE]
        full = all(len(h) >= SAMPLE for h in st.heads if h)  # every direction that spoke said enough
        if st.tries >= MAX_TRIES or (st.tries >= TRIES and (flow.proto != TCP or full)):
            self._give_up(flow)  # several payloads and still nothing known: opaque or unknown, not cleartext

    def _recognised(self, flow: Flow, direction: int, data: bytes, recognisers: list[Recogniser]) -> bool:
        """True: the flow is decided, or a PROVISIONAL verdict is held (its own protocol may follow)."""
        for r in recognisers:
            v = r(data, flow, direction)
            if v is not None and v[0] in PROVISIONAL:
                st = self.state(flow)
                st.provisional = v  # the flow's own protocol may follow: look a while longer
                st.tries += 1
                if st.tries >= PROVISIONAL_TRIES:
                    self._give_up(flow)
                return True
            if v is not None:
                classified(flow, *v)
                if v[0] == "http" and direction == 0:
                    server_named(flow, request_host(data))
                return True
        return False

    def conclude(self, flow: Flow) -> None:
        if flow.app is None and self.peek(flow) is not None:
            self._give_up(flow)

    def _give_up(self, flow: Flow) -> None:
        st = self.peek(flow)
        if st is not None and st.provisional is not None:
            classified(flow, *st.provisional)
            return
        classified(flow, opaque_or_unknown((st.first_bytes() or b"") if st else b""), None, flow.how)

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        self._decide(flow, direction, data, TCP_RECOGNISERS)

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if flow.app is not None:
            return
        if flow.proto == UDP:
            self._decide(flow, direction, data, UDP_RECOGNISERS)
        elif flow.proto == ESP:
            classified(flow, "esp", True, "esp")
        elif flow.proto in (ICMP, ICMP6):
            classified(flow, "icmp", False, flow.how)
        else:
            classified(flow, flow.proto_name, None, flow.how)

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        payload = flow.bytes[0] + flow.bytes[1]
        if flow.app is None:
            if flow.proto == ESP:
                classified(flow, "esp", True, "esp")
            elif flow.proto in (ICMP, ICMP6):
                classified(flow, "icmp", False, flow.how)
            elif payload and (st := self.peek(flow)) is not None and (st.first_bytes() is not None or st.provisional):
                self._give_up(flow)
            elif notes(flow).inner_how is not None:  # a NULL-cipher session that carried no data
                classified(flow, "tls", False)
        facts = notes(flow)
        emit(FlowEnd(
            ts=flow.last_ts, flow=FlowFacts.of(flow), app=flow.app or ("none" if not payload else "unknown"),
            encrypted=flow.encrypted, how=flow.how, infra=(flow.app or "") in INFRA_APPS, payload=payload > 0,
            bytes_to_server=flow.bytes[0], bytes_to_client=flow.bytes[1], packets=flow.packets[0] + flow.packets[1],
            duration=round(flow.last_ts - flow.first_ts, 6), tcp=flow.proto == TCP, cards=len(facts.card_fps),
            upgraded=facts.upgraded, via_proxy=facts.via_proxy,  # socks4/socks5/http-connect tunnel
        ))


def _tls_client_hello(data: bytes) -> bool:
    return len(data) >= 6 and data[0] == 0x16 and data[1] == 3 and data[2] <= 4 and data[5] == 1


MYSQL_SSL_REQUEST = 36  # header (length 32, sequence 1) and the capability flags with CLIENT_SSL


def client_hello_at(data: bytes, app: str | None) -> int:
    """Where a TLS ClientHello starts in a client chunk of an upgradable flow, or -1. MySQL clients
    send the SSLRequest and the ClientHello back to back: reassembly may hand both over at once."""
    if _tls_client_hello(data):
        return 0
    n = MYSQL_SSL_REQUEST
    if (app == "mysql" and len(data) > n and data[:4] == b"\x20\0\0\x01" and data[5] & 0x08
            and _tls_client_hello(data[n:])):
        return n
    return -1


def _tds_encrypts(data: bytes) -> bool:
    """A TDS pre-login response whose ENCRYPTION option is ON or REQ: TLS runs inside TDS from here."""
    if len(data) < 14 or data[0] != 0x04:
        return False
    body = data[8:]
    i = 0
    while i + 5 <= len(body) and body[i] != 0xFF and i < 80:
        if body[i] == 1:  # ENCRYPTION: (offset, length) of a one-byte value
            off = int.from_bytes(body[i + 1 : i + 3], "big")
            return off < len(body) and body[off] in (1, 3)
        i += 5
    return False


class Upgrade(Analyzer[None], name="upgrade", transports=(TCP,), plaintext_only=False):
    """Marks a cleartext flow encrypted when it switches to TLS in place (STARTTLS and kin)."""

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        app = flow.app
        if app is None:
            return
        if flow.encrypted is not False or app not in UPGRADABLE:
            deactivate(flow, self)
            return
        if (direction == 0 and client_hello_at(data, app) >= 0) or (app == "tds" and direction == 1
                                                                      and _tds_encrypts(data)):
            encrypted_from_here(flow, "tls", upgraded=True)
            deactivate(flow, self)
