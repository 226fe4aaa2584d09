"""Analyzers: sans-IO consumers of stream data and datagrams that state facts (events).

Analyzers never decide severity; the rules do. Each analyzer is one concern with its own typed
per-flow state (`Analyzer.state(flow)`: a slot of the flow that only that analyzer touches). The
`Dispatcher` is the flow table's sink: it runs `classify` first and then the others, and drops
content analyzers from a flow once it is known to be encrypted, so protected traffic is counted,
not scanned.

What one analyzer learns that another needs goes through the functions below, the Dispatcher's
API: they alone set a flow's classification (app / encrypted / how / server name / names) and which
analyzers stay on it, and they keep the declared facts (`FlowNotes`) any analyzer may read:
a STARTTLS upgrade, a framing that claims the flow's card data (ISO 8583, ZVT), a proxy tunnel,
the distinct cards seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast, get_args, get_origin

from netwatch.events import Event
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP
from netwatch.protocols.http import HttpPart

Emit = Callable[[Event], None]  # events are typed and hold a snapshot of the flow (netwatch.events)
S = TypeVar("S")
NOTES = "@dispatch"  # the Dispatcher's slot in flow.state; analyzers' slots are their names
HTTP = "@http"  # the Dispatcher's slot for the HTTP parse of a flow (HttpConnection)
MAX_CARDS = 10_000  # distinct card fingerprints remembered per flow
HOLD_UNCLASSIFIED = 64 * 1024  # stream bytes held per flow while the classifier waits for more first bytes...
HOLD_TOTAL = 16 * 1024 * 1024  # ...and over all flows


class Analyzer(Generic[S]):
    """Base class; override what the analyzer needs. Its class line says what it is, e.g.
    `class Mine(Analyzer[MyState], name="mine", transports=(TCP,), plaintext_only=False)`.

    `Analyzer[MyState]` names its per-flow state (a small declared dataclass, made empty; or override
    `new_state`; `Analyzer[None]`: none), reached with `state(flow)` / `peek(flow)`; no other analyzer sees it.
    """

    name = "analyzer"  # also its slot in flow.state
    plaintext_only = True  # True: it skips encrypted flows
    shared = False  # True: its state serves every flow, so it also runs on other shards' DNS flows
    transports: tuple[int, ...] = ()  # IP protocols it reads (decode.TCP, …); empty: every flow
    state_type: Callable[[], Any] | None = None  # the per-flow state, made empty

    def __init_subclass__(cls, name: str | None = None, transports: tuple[int, ...] | None = None,
                          plaintext_only: bool | None = None, shared: bool | None = None, **kw: Any) -> None:
        """The class line's keywords set the attributes above (unset ones are inherited)."""
        super().__init_subclass__(**kw)
        given = {"name": name, "transports": transports, "plaintext_only": plaintext_only, "shared": shared}
        for attr, value in given.items():
            if value is not None:
                setattr(cls, attr, value)
        for base in cls.__dict__.get("__orig_bases__", ()):
            state = get_args(base)[0] if get_origin(base) is Analyzer else None
            if isinstance(state, type) and state is not type(None):
                cls.state_type = state

    def new_state(self, flow: Flow) -> S:
        """A fresh per-flow state: an empty `state_type` (analyzers whose state depends on the flow override this)."""
        if self.state_type is None:
            raise NotImplementedError(f"{self.name} keeps no per-flow state")
        return cast(S, self.state_type())

    def state(self, flow: Flow) -> S:
        """This analyzer's state for `flow`, made on first use."""
        st = flow.state.get(self.name)
        if st is None:
            st = flow.state[self.name] = self.new_state(flow)
        return cast(S, st)

    def peek(self, flow: Flow) -> S | None:
        """This analyzer's state for `flow`, or None when it has none yet."""
        return cast("S | None", flow.state.get(self.name))

    def wants(self, flow: Flow) -> bool:
        """Called at flow start: False keeps the analyzer off this flow entirely."""
        return not self.transports or flow.proto in self.transports

    def stays_for(self, flow: Flow, *apps: str) -> bool:
        """True when the flow is classified as one of `apps`; once it is classified as anything else
        the analyzer leaves it (False until the classifier has spoken)."""
        if flow.app is None:
            return False
        if flow.app in apps:
            return True
        deactivate(flow, self)
        return False

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        """Contiguous TCP bytes of one direction, in order."""

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        """`size` bytes of a direction were lost; stream state across the hole is invalid."""

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        """One UDP (or other non-TCP) payload."""

    def variant(self, flow: Flow, direction: int, data: bytes, start: int, end: int, ts: float, emit: Emit) -> None:
        """A second copy of stream bytes that differed from the delivered ones (TCP overlap or
        retransmission): `data[start:end]` is that copy, with stream context around it. For scanners
        (the stream's parsers have moved on); what a hit there reports, it reports once."""

    def http(self, flow: Flow, direction: int, part: HttpPart, ts: float, emit: Emit) -> None:
        """One part of an http flow's direction, in stream order, just before `stream` gets the bytes it
        came in: a message head as soon as it is complete, the whole message (body de-chunked and
        decoded up to the cap) when it ends, bytes in no message (`Unparsed`). Parsed once by the Dispatcher."""

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        """The flow ended (closed, idle, or end of input)."""

    def app_changed(self, flow: Flow, ts: float, emit: Emit) -> None:
        """A handshake named the flow's application after the classifier had (`app_named`): called on
        every analyzer that wanted the flow at its start, whether or not it is still on it."""

    def conclude(self, flow: Flow) -> None:
        """The classifier only: the Dispatcher can wait no longer for a verdict, decide from what came."""


@dataclass(slots=True)
class FlowNotes:
    """Facts analyzers declared about one flow, kept by the Dispatcher; any analyzer may read them."""

    upgraded: bool = False  # switched to TLS in place (STARTTLS and kin)
    cards_claimed_by: str | None = None  # a framing analyzer (iso8583, terminal) reports the flow's cards
    via_proxy: str | None = None  # socks4, socks5 or http-connect: the flow is a proxy tunnel
    proxy_target: str | None = None  # host:port the proxy was asked for
    card_fps: set[str] = field(default_factory=set)  # distinct card fingerprints (flow_end `cards`)
    renamed_at: float | None = None  # `app_named` ran at this time; the Dispatcher tells the analyzers
    replay: list[tuple[int, bytes]] = field(default_factory=list)  # a tunnel's first bytes, read with the handshake
    wanted: list[Analyzer[Any]] = field(default_factory=list)  # the analyzers that wanted the flow at start
    # what the analyzers get instead of the stream's bytes: the contents of TLS records that protect
    # nothing (NULL or anonymous suites); called with (direction, bytes)
    unwrap: Callable[[int, bytes], bytes] | None = None
    inner_how: str | None = None  # how such a flow stays named once its contents are classified
    # a stream's first chunks, held while the classifier waits for enough of its first bytes
    held: list[tuple[int, bytes, float]] = field(default_factory=list)
    held_bytes: int = 0
    reopened: bool = False  # analyzers came back on the flow during this chunk: they get it too


def notes(flow: Flow) -> FlowNotes:
    """The declared facts of `flow` (made empty on first use)."""
    n = flow.state.get(NOTES)
    if n is None:
        n = flow.state[NOTES] = FlowNotes()
    return cast(FlowNotes, n)


def _settle(flow: Flow) -> None:
    """After a classification: an encrypted flow keeps only the analyzers that read protected bytes."""
    if flow.encrypted:
        flow.active = [a for a in flow.active if not a.plaintext_only]
    if not flow.active and flow.app is not None:
        flow.inspect = False  # nothing left to learn from payload: count only


# -- the Dispatcher's API: declared facts ---------------------------------------------------------

def deactivate(flow: Flow, analyzer: Analyzer[Any]) -> None:
    """An analyzer is done with a flow (e.g. TLS after the handshake)."""
    if analyzer in flow.active:
        flow.active.remove(analyzer)
    if not flow.active and flow.app is not None:
        flow.inspect = False


def classified(flow: Flow, app: str, encrypted: bool | None, how: str | None = None) -> None:
    """What the flow carries and whether it is protected (the classifier's verdict). Inside a TLS
    session with the NULL cipher (`protects_nothing`), the contents are cleartext whatever they are."""
    n = flow.state.get(NOTES)
    if n is not None and n.inner_how is not None:
        encrypted, how = False, n.inner_how
    flow.app, flow.encrypted, flow.how = app, encrypted, how


def unconfirmed(flow: Flow, how: str) -> None:
    """Bytes that looked like a protocol's protection never completed its handshake (a TLS
    ClientHello without a ServerHello): the flow is not counted protected, nor called cleartext."""
    flow.encrypted, flow.how = None, how


def reopened(flow: Flow, how: str, encrypted: bool | None) -> None:
    """Protection a handshake began never came (TLS records before any ServerHello): from the chunk
    that showed it on, every analyzer that wanted the flow reads it like any payload."""
    n = notes(flow)
    n.reopened = True
    flow.encrypted, flow.how = encrypted, how
    flow.active = [*flow.active, *(a for a in n.wanted if a not in flow.active)]
    flow.inspect = True


def protects_nothing(flow: Flow, how: str, by: Analyzer[Any], unwrap: Callable[[int, bytes], bytes] | None,
                     reclassify: bool, cleartext: bool) -> None:
    """A handshake settled on protection that protects nothing (a NULL cipher, anonymous key
    exchange): from here every analyzer that wanted the flow at its start (but `by`) reads it as
    cleartext, through `unwrap` (the records' contents) when given. `reclassify`: the contents are
    classified afresh (they are the application's bytes), and stay cleartext whatever they are;
    otherwise the flow is `cleartext` (readable) or neither protected nor cleartext (anonymous)."""
    n = notes(flow)
    n.unwrap = unwrap
    flow.active = [a for a in n.wanted if a is not by]
    flow.inspect = True
    if reclassify:
        n.inner_how = how
        flow.app, flow.encrypted, flow.how = None, False, how
    else:
        flow.encrypted, flow.how = (False if cleartext else None), how


def app_named(flow: Flow, app: str, ts: float) -> None:
    """A handshake names the application better than the first bytes did (AnyDesk over TLS); the
    analyzers that wanted the flow hear of it (`Analyzer.app_changed`) once the current call returns."""
    if flow.app != app:
        flow.app = app
        notes(flow).renamed_at = ts


def encrypted_from_here(flow: Flow, how: str, upgraded: bool = False) -> None:
    """The flow switched to encryption mid-way (STARTTLS and kin): plaintext-only analyzers stop here."""
    if upgraded:
        notes(flow).upgraded = True
    flow.encrypted = True
    flow.how = how
    _settle(flow)


def cleartext_after_all(flow: Flow, how: str) -> None:
    """The protection the flow announced turned out to be none (RDP Standard Security, method 0)."""
    flow.encrypted, flow.how = False, how


def negotiated(flow: Flow, how: str | None) -> None:
    """The protocol version the handshake settled on (tls1.2, …)."""
    flow.how = how


def client_is(flow: Flow, direction: int) -> bool:
    """A handshake shows which side is the client (a DTLS ClientHello's sender): a datagram flow whose
    ports named the other side turns round (`Flow.turn`). True when it turned."""
    if direction != 1 or flow.proto == TCP:
        return False
    flow.turn()
    return True


def server_named(flow: Flow, name: str | None) -> None:
    """The name the client asked the server by (SNI, HTTP Host); the first one seen stays."""
    if name and not flow.server_name:
        flow.server_name = name


def names_known(flow: Flow, names: list[str]) -> None:
    """Hostnames DNS answers tied to the server before the flow began."""
    flow.names = list(names)


def claim_cards(flow: Flow, by: str) -> None:
    """A framing analyzer (ISO 8583, ZVT) reports this flow's card data; the generic scanner stands down."""
    notes(flow).cards_claimed_by = by


def card_seen(flow: Flow, fingerprint: str) -> None:
    """One card number (by its keyed fingerprint) was seen in the flow: `flow_end` counts them."""
    fps = notes(flow).card_fps
    if len(fps) < MAX_CARDS:
        fps.add(fingerprint)


def tunnel_opened(flow: Flow, via: str, target: str, by: Analyzer[Any],
                  after: list[tuple[int, bytes]] | None = None) -> None:
    """A proxy granted a tunnel: the tunnelled bytes are classified afresh and every analyzer that
    wanted the flow at its start (but the proxy's) starts again with empty state. `after`: bytes of
    the tunnel (direction, bytes) that came with the handshake; the Dispatcher hands them on next."""
    wanted = [a for a in notes(flow).wanted if a is not by]
    flow.state = {NOTES: FlowNotes(via_proxy=via, proxy_target=target, wanted=wanted, replay=list(after or []))}
    if flow.trace is not None:  # evidence: the analyzers' locations count from the tunnel's first byte now
        flow.trace.rebase(list(after or []))
    flow.app = flow.encrypted = flow.how = None
    flow.active = list(wanted)
    flow.inspect = True
