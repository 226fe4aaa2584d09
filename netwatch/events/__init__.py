"""The event vocabulary: one frozen class per kind of fact an analyzer states, and their registry.

Analyzers emit events; rules select them by `kind` and read their fields (plus the flow facts and
the policy facts). An event carries a `FlowFacts` snapshot taken when it was emitted, never the live
flow, so a rule sees the flow as it was at that moment. The registry (`KINDS`, `fields_of`) is what
rules are checked against when they load, and what docs/architecture.md lists
(`python -m netwatch.events --markdown` regenerates that section).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol


class FlowLike(Protocol):
    """What a snapshot reads from a live flow (netwatch.flows.table.Flow)."""

    src: str
    dst: str
    client_port: int
    server_port: int
    proto_name: str
    app: str | None
    encrypted: bool | None
    how: str | None
    server_name: str | None
    names: list[str]
    foreign: bool


def _f(doc: str, address: bool = False, default: Any = dataclasses.MISSING) -> Any:
    """A documented field; `address` marks an IP address (valid for `cidr` conditions)."""
    return field(default=default, metadata={"doc": doc, "address": address})


@dataclass(frozen=True, slots=True)
class FlowFacts:
    """The flow as it was when an event was emitted: endpoints and classification, no state."""

    src: str = _f("client address (the side that opened the flow)", address=True)
    dst: str = _f("server address", address=True)
    client_port: int = _f("the client's port (rules and JSON Lines also call it `sport`)")
    server_port: int = _f("the server's port (rules and JSON Lines also call it `dport`)")
    proto: str = _f("transport: tcp, udp, esp, icmp, …")
    app: str | None = _f("what the flow carries, by content (http, tls, ftp, iso8583, …)", default=None)
    encrypted: bool | None = _f("true: protected (TLS, VPN…); false: cleartext; null: unknown", default=None)
    how: str | None = _f("how it is protected or what it is (tls1.2, ssh, esp, smb1, …)", default=None)
    server_name: str | None = _f("TLS SNI or HTTP Host, when seen", default=None)
    names: tuple[str, ...] = _f("hostnames DNS answers tied to dst before the flow started", default=())
    foreign: bool = field(default=False, metadata={"doc": "", "internal": True})  # another shard reports it
    # Where the flow stands in the capture (frame numbers, 1-based as Wireshark counts; 0: unknown):
    # `number` is its first frame, which names the flow (evidence is cut from the flows findings name),
    # `frame` the flow's latest frame when the event was emitted (the finding's first/last packet).
    number: int = field(default=0, metadata={"doc": "", "internal": True})
    frame: int = field(default=0, metadata={"doc": "", "internal": True})

    @classmethod
    def of(cls, flow: FlowLike) -> FlowFacts:
        return cls(flow.src, flow.dst, flow.client_port, flow.server_port, flow.proto_name, flow.app, flow.encrypted,
                   flow.how, flow.server_name, tuple(flow.names), flow.foreign, getattr(flow, "number", 0),
                   getattr(flow, "last_frame", 0))

    def all_names(self) -> list[str]:
        """The names the capture showed for the server: DNS answers, then SNI/Host."""
        names = list(self.names)
        if self.server_name and self.server_name not in names:
            names.append(self.server_name)
        return names


class Location(NamedTuple):
    """Where a detection stands in its flow (the flow is the event's `flow.number`): the direction
    (0 client → server, 1 back), the offset and length in that direction's stream (TCP: the
    reassembled bytes; UDP: its datagrams one after another), what it is (pan, track1, track2,
    pin-block, password, …) and the encoding that wraps it (ascii, url+base64, bcd, …).
    Evidence overwrites exactly this span; it is never shown to rules or reports."""

    direction: int
    offset: int
    length: int
    what: str
    encoding: str


def _located() -> Any:
    """The internal `location` field of a detection event (None: not tied to stream bytes)."""
    return field(default=None, metadata={"doc": "", "internal": True})


# Flow facts as rules name them: JSON Lines names for the ports (`sport` is the client's port).
FLOW_FIELDS: dict[str, str] = {
    "src": "src", "dst": "dst", "sport": "client_port", "dport": "server_port", "client_port": "client_port",
    "server_port": "server_port", "proto": "proto", "app": "app", "encrypted": "encrypted", "how": "how",
    "server_name": "server_name", "names": "names",
}


@typing.dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field, _f))
class _EventType(type):
    """Every event class is a frozen, slotted, keyword-only dataclass; `class X(Event, kind="x")`
    says so once for all of them and names the kind rules select it by. A metaclass, because
    `slots=True` makes a new class object, which `__init_subclass__` could not hand back."""

    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any], kind: str = "") -> _EventType:
        cls = super().__new__(mcs, name, bases, {**ns, "kind": kind} if kind else ns)
        if "__slots__" in ns:  # dataclass(slots=True) builds the class again: nothing more to do
            return cls
        return typing.cast(_EventType, dataclass(frozen=True, slots=True, kw_only=True)(cls))


class Event(metaclass=_EventType):
    """Base of every event: when, and on which flow."""

    kind: ClassVar[str] = ""
    ts: float
    flow: FlowFacts

    def values(self) -> dict[str, Any]:
        """The kind's own fields, in declaration order (evidence keeps this order)."""
        return {RULE_NAMES.get(k, k): getattr(self, k) for k in _OWN[type(self)]}


class FlowEnd(Event, kind="flow_end"):
    """A flow ended (closed, idle or end of input): what it carried and whether it was protected."""

    app: str = _f("what the flow carried (none: no payload, unknown/opaque: not recognised)")
    encrypted: bool | None = _f("true: protected; false: cleartext; null: unknown", default=None)
    how: str | None = _f("protocol version or protection (tls1.2, ssh, esp, smb1, starttls…)", default=None)
    infra: bool = _f("infrastructure protocol with no application data (DNS, DHCP, NTP…)", default=False)
    payload: bool = _f("any payload byte was seen", default=False)
    bytes_to_server: int = _f("payload bytes client → server", default=0)
    bytes_to_client: int = _f("payload bytes server → client", default=0)
    packets: int = _f("packets both ways", default=0)
    duration: float = _f("seconds from first to last packet", default=0.0)
    tcp: bool = _f("the flow is TCP", default=False)
    cards: int = _f("distinct card numbers seen in the flow (high confidence: possible cards are not counted)",
                    default=0)
    upgraded: bool = _f("switched to TLS mid-way (STARTTLS and kin)", default=False)
    via_proxy: str | None = _f("the flow was tunnelled through a proxy: socks4, socks5 or http-connect", default=None)


class CardData(Event, kind="card_data"):
    """A card number or track data in the clear (already masked and fingerprinted)."""

    # `kind` as a field name would shadow the event kind: the card-data kind is `kind` in rules and
    # evidence, stored here as `data_kind` and exposed under its rule name by `RULE_NAMES`.
    data_kind: str = _f("pan, track1 or track2")
    brand: str | None = _f("card brand by issuer prefix (visa, mastercard, …)", default=None)
    encoding: str = _f("how the digits were encoded, outermost first (ascii, gzip+base64, bcd, …)")
    masked: str = _f("the number masked: at most first 6 and last 4 digits")
    fingerprint: str = _f("keyed HMAC of the number (counts distinct cards)")
    channel: str = _f("where it was found (http-body, http-url, http-header, dns, iso8583, datagram, …)")
    direction: str = _f("to_server or to_client")
    expiry_present: bool | None = _f("track data: an expiry date follows the number", default=None)
    confidence: str = _f("high: card context (a card field, track data, a card keyword or expiry within 300"
                         " characters); medium: 14-19 digits alone in text; low: a field named for another"
                         " kind of number, or track-shaped bytes without payment structure", default="high")
    reason: str = _f("why that confidence, in a few words (never digits of the number)", default="")
    location: Location | None = _located()
    receiver: str = _f("the address the card data went to (dst, or src for data sent to the client)",
                       address=True, default="")
    receiver_port: int = _f("the receiver's port", default=0)


class Dns(Event, kind="dns"):
    """A DNS query with its answer (or none), by the names analyzer."""

    qname: str = _f("the name asked")
    qtype: str = _f("record type (A, AAAA, TXT, …)")
    resolver: str = _f("the address the query went to", address=True)
    rcode: int | None = _f("response code (null: no answer in the capture)", default=None)
    answers: tuple[str, ...] = _f("answers as 'TYPE value'", default=())


class HttpRequest(Event, kind="http_request"):
    """An HTTP request line and Host (HTTP/1.x, h2c) and its response's status, for `--log http` and
    rules: no query value, no userinfo. Stated when the response head arrives, or when the flow ends."""

    method: str = _f("request method (GET, POST, …)")
    host: str | None = _f("Host header, else the absolute URL's host (port kept; escaped)", default=None)
    path: str = _f("path without query or fragment (escaped, length-limited; cards masked on output)")
    query: str | None = _f("query names with every value elided: a=*&b=* (null: no query)", default=None)
    version: str | None = _f("HTTP/1.0, HTTP/1.1 or HTTP/2.0", default=None)
    user_agent: str | None = _f("User-Agent (escaped, length-limited)", default=None)
    status: int | None = _f("the response's status code (null: no response before the flow ended)", default=None)


class Iso8583(Event, kind="iso8583"):
    """An ISO 8583 payment message and which card fields it carried readable."""

    mti: str = _f("message type indicator (e.g. 0200)")
    variant: str = _f("ascii, ascii-hexmap or bcd")
    header: str = _f("none, tpdu or tpdu+cup")
    fields: tuple[int, ...] = _f("data elements present", default=())
    clear_fields: tuple[int, ...] = _f("card-bearing data elements readable in clear", default=())
    sensitive_clear: bool = _f("any card-bearing element in clear", default=False)
    pin_block: bool = _f("DE52 (PIN block) present", default=False)
    expiry_field: bool = _f("DE14 (expiry) present", default=False)
    complete: bool = _f("the message parsed to its end", default=False)
    direction: str = _f("to_server or to_client")
    location: Location | None = _located()  # the message; card fields and PIN block inside it


class Credentials(Event, kind="credentials"):
    """A login seen outside TLS; never the password, only its length and whether it is a default."""

    protocol: str = _f("ftp, telnet, http, pop3, imap, smtp, snmp, mysql, postgres, tds, ldap, socks5, …")
    user: str | None = _f("user name (escaped, length-limited)", default=None)
    method: str = _f("how the login was made (USER/PASS, Basic, AUTH PLAIN, Digest, Bearer, simple bind, "
                     "URL userinfo, URL query, form body, JSON body, multipart form, XML body, "
                     "WS-Security PasswordText, WebSocket JSON message, …)")
    secret: str = _f("cleartext, obfuscated, token, none, hash, digest or scram")
    password_length: int | None = _f("length of a readable password", default=None)
    default_password: bool = _f("the password is a well-known default", default=False)
    version: str | None = _f("SNMP version", default=None)
    pdu: str | None = _f("SNMP PDU type", default=None)
    location: Location | None = _located()  # the secret (password, community), where readable


class TlsHello(Event, kind="tls_hello"):
    """One TLS (or DTLS/SSL) handshake: what was offered and what was chosen."""

    version: str | None = _f("version negotiated (sslv3, tls1.0, …, tls1.3)", default=None)
    client_version: str | None = _f("highest version the client offered", default=None)
    cipher: str | None = _f("cipher suite chosen (IANA name)", default=None)
    cipher_weak: str | None = _f("why the chosen suite is weak (rc4, export, null, …), else null", default=None)
    ciphers_offered: int | None = _f("number of suites the client offered", default=None)
    sni: str | None = _f("server name the client asked for", default=None)
    alpn: str | None = _f("application protocol (chosen, else offered)", default=None)
    ja3: str | None = _f("JA3 client fingerprint", default=None)
    ja4: str | None = _f("JA4 client fingerprint", default=None)
    ja3s: str | None = _f("JA3S server fingerprint", default=None)
    quic_version: str | None = _f("QUIC: the version of the Initial packet (0x00000001, …) or gquic", default=None)


class TlsCert(Event, kind="tls_cert"):
    """The server's leaf certificate, where the handshake shows it (TLS ≤ 1.2)."""

    subject: str = _f("subject DN (RFC 4514)")
    issuer: str = _f("issuer DN (RFC 4514)")
    self_signed: bool = _f("issuer == subject and its own key verifies it")
    not_before: str = _f("start of validity (ISO 8601)")
    not_after: str = _f("end of validity (ISO 8601)")
    sig_hash: str | None = _f("signature hash (sha256, sha1, md5, …)", default=None)
    key_type: str = _f("rsa, ec, dsa or other")
    key_bits: int | None = _f("key size in bits", default=None)
    expired: bool = _f("expired at capture time", default=False)
    not_yet_valid: bool = _f("not yet valid at capture time", default=False)
    chain_length: int = _f("certificates the server sent", default=1)
    sni: str | None = _f("server name the client asked for", default=None)


class RemoteAccess(Event, kind="remote_access"):
    """A remote-access tool session (RDP, VNC, TeamViewer, AnyDesk, SSH, Telnet) and its direction."""

    tool: str = _f("rdp, vnc, teamviewer, anydesk, ssh or telnet")
    direction: str = _f("inbound, outbound, internal or external")
    client_scope: str = _f("internal, public or local", default="")
    server_scope: str = _f("internal, public or local", default="")


class DataLimit(Event, kind="data_limit"):
    """An analyzer's bound dropped or skipped data of a flow (e.g. an HTTP body past the decoding cap):
    counted and named in the summary, never a finding by itself."""

    direction: int = _f("0: client to server, 1: server to client")
    bytes: int = _f("how many bytes the bound left out")
    reason: str = _f("which bound, in words")


class _OnHost(Event):
    """Software on a host: what `software` states and `outdated` judges (not a kind of its own)."""

    host: str = _f("the host the software runs on", address=True)
    role: str = _f("client or server (os for an operating system)")
    product: str = _f("product (Windows, OpenSSH, Apache httpd, vsftpd, SMB, …; escaped)")
    version: str | None = _f("version as shown (null: none shown)", default=None)


class Software(_OnHost, kind="software"):
    """A product and version a host showed on the wire (banner, header, NTLMSSP, SMB dialect, …)."""

    name: str = _f("readable product name (Windows 7 / Server 2008 R2, …)")
    protocol: str = _f("where it was seen (ssh banner, http Server, ntlmssp over smb, …)")
    detail: str | None = _f("what else the source said (dialects offered, build, …)", default=None)
    hostname: str | None = _f("the host's own name (DHCP option 12)", default=None)


class Outdated(_OnHost, kind="outdated"):
    """A systems-inventory entry past its end of life (judged at the end of a scan; netwatch.judge.eol)."""

    name: str = _f("the end-of-life table's name for it")
    seen_in: str = _f("where it was seen (protocol)")
    eol: str = _f("end-of-life date (ISO)")
    eol_source: str = _f("where that date comes from")
    status: str = _f("end-of-life or backdoored")
    eol_kind: str = _f("os, software or tls")
    host_store: bool = _f("an internal host (policy networks, else RFC 1918/4193)", default=False)
    host_sends_cards: bool = _f("the same host sent card data in cleartext in this capture", default=False)
    note: str | None = _f("the table's note on the entry", default=None)
    ja4: str | None = _f("JA4 of a TLS client", default=None)


class Proxy(Event, kind="proxy"):
    """A proxy handshake (SOCKS4/4a/5, HTTP CONNECT): the client asked the proxy for another destination."""

    proxy: str = _f("socks4, socks5 or http-connect")
    target_host: str = _f("the destination asked for (address or name; escaped, length-limited)")
    target_port: int = _f("the destination port asked for")
    granted: bool = _f("the proxy said yes (the tunnel opened)")
    login: str = _f("how the client authenticated to the proxy (none, userid, username/password, …)")


class RdpSecurity(Event, kind="rdp_security"):
    """An RDP session with the legacy Standard RDP Security (RC4 inside RDP, no TLS)."""

    security: str = _f("standard (Standard RDP Security)")
    encryption: str = _f("the encryption method the server chose (RC4 40/56/128-bit, FIPS, none)")
    level: str | None = _f("the server's encryption level (low, client-compatible, high, fips)", default=None)
    cleartext: bool = _f("the server chose no encryption at all", default=False)


class SmbNegotiate(Event, kind="smb_negotiate"):
    """An SMB dialect negotiation: the dialects the client offered and the one the server chose."""

    offered: tuple[str, ...] = _f("dialects the client offered (1: NT LM 0.12, lanman: older, 2.0.2 … 3.1.1)",
                                  default=())
    chosen: str | None = _f("dialect the server chose (null: no answer in the capture)", default=None)
    smb1_offered: bool = _f("the client offered an SMB1 dialect (NT LM 0.12 or older)", default=False)
    smb1_chosen: bool = _f("the server answered in SMB1: SMBv1 is in use", default=False)


EVENT_TYPES: tuple[type[Event], ...] = (FlowEnd, CardData, Dns, HttpRequest, Iso8583, Credentials, TlsHello, TlsCert,
                                        RemoteAccess, Software, Outdated, Proxy, RdpSecurity, SmbNegotiate, DataLimit)
KINDS: dict[str, type[Event]] = {c.kind: c for c in EVENT_TYPES}
RULE_NAMES: dict[str, str] = {"data_kind": "kind"}  # attribute → name in rules and evidence
_OWN: dict[type[Event], tuple[str, ...]] = {  # rule-visible fields: internal ones (where a detection stands) stay out
    c: tuple(f.name for f in dataclasses.fields(c) if f.name not in ("ts", "flow") and not f.metadata.get("internal"))
    for c in EVENT_TYPES
}
ATTR_OF: dict[type[Event], dict[str, str]] = {  # rule name → attribute, per kind
    c: {RULE_NAMES.get(a, a): a for a in names} for c, names in _OWN.items()
}
