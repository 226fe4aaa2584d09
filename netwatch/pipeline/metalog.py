"""Metadata records (`--log flow,tls,dns,http`): what the host did, beside the findings, like Zeek's
and Suricata's logs, so an analyst can pivot from a finding (its `community_id`) to everything else.

`MetaLog` turns the session's events into plain records: one `flow` per ended flow (its
classification, protection and policy verdict), one `tls` per handshake (its certificate merged in),
one `dns` per query, one `http` per request. Every string taken from packets passes the redaction
boundary (`redaction.text.redact`) here, before it is kept. The report layer (`report/metadata.py`)
adds the header (ISO timestamp, flow id, Community ID) when it writes them.

Kept compressed (zlib over the JSON lines), so a large capture's records cost little memory and a
Dask worker's report stays small to send; `live` hands each record to a sink at once instead.
Bounded: at most `MAX_RECORDS` per source (the rest counted), DNS answers and names capped where
the events are made, every packet-derived string cut to `MAX_TEXT` characters.
"""

from __future__ import annotations

import functools
import heapq
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from netwatch.events import Dns, Event, FlowEnd, FlowFacts, HttpRequest, TlsCert, TlsHello
from netwatch.judge.policy import Policy, judge_event
from netwatch.redaction.text import redact

LOG_KINDS = ("flow", "tls", "dns", "http")  # what --log names, in the README's order
MAX_RECORDS = 2_000_000  # per source; past it records are counted, not kept
MAX_NAMES = 8  # DNS names listed per flow record
MAX_TEXT = 512  # characters of one packet-derived string (a TXT answer, a certificate name), cut after redaction:
# with the other bounds no record nears a SIEM's line limit (Splunk cuts at 10,000 bytes)
LEVEL = 1  # zlib level: JSON lines shrink ~5x even at the fastest one
CERT_FIELDS = ("subject", "issuer", "self_signed", "not_before", "not_after", "sig_hash", "key_type", "key_bits",
               "expired", "not_yet_valid", "chain_length")

# the fields that hold text from packets (names, URLs, certificate names, answers): each passes `redact`;
# the rest are numbers, addresses netwatch formatted, or netwatch's own words (app, how, cipher, JA3/JA4 hashes)
PACKET_TEXT = frozenset({"server_name", "names", "sni", "alpn", "qname", "answers", "method", "host", "path", "query",
                         "version", "user_agent", "subject", "issuer"})
KEEP_NULL = frozenset({"protected", "rcode"})  # null says something here (unknown; no answer); others are left out
Record = dict[str, Any]
AT = "_at"  # in a kept record: the capture time it was made at (the latest event seen), for merging shards


@dataclass
class MetaRecords:
    """One source's records, compressed: picklable, merged by concatenation (shards)."""

    kinds: frozenset[str] = frozenset()  # the types asked for
    streams: list[bytes] = field(default_factory=list)  # each a whole zlib stream of JSON lines
    counts: Counter[str] = field(default_factory=Counter)  # records made, per type (kept, or handed to a sink)
    omitted: int = 0  # records past MAX_RECORDS

    def records(self) -> Iterator[Record]:
        """The records in the order the scan made them: one stream as written; the streams of a
        capture's shards interleaved by when each record was made (`AT`, then dropped), as one
        process scanning the whole capture would have written them."""
        merged = heapq.merge(*map(_inflated, self.streams), key=lambda r: r.get(AT, 0.0))
        for rec in merged if len(self.streams) > 1 else _inflated(self.streams[0]) if self.streams else ():
            rec.pop(AT, None)
            yield rec


def _inflated(stream: bytes) -> Iterator[Record]:
    inflate = zlib.decompressobj()
    rest = b""
    for i in range(0, len(stream), 1 << 16):
        rest += inflate.decompress(stream[i : i + (1 << 16)])
        *lines, rest = rest.split(b"\n")
        for line in lines:
            yield json.loads(line)
    rest += inflate.flush()
    for line in rest.split(b"\n"):
        if line:
            yield json.loads(line)


def merge_records(parts: Iterable[MetaRecords | None]) -> MetaRecords | None:
    """The records of several shards of one capture (each flow is one shard's)."""
    out: MetaRecords | None = None
    for p in parts:
        if p is None:
            continue
        out = out or MetaRecords()
        out.kinds |= p.kinds
        out.streams += p.streams
        out.counts.update(p.counts)
        out.omitted += p.omitted
    return out


def endpoints(kind: str, ts: float, f: FlowFacts) -> Record:
    """The fields every record starts with: its type, time (epoch, the header's ISO form is made on
    output) and the flow as findings name it (client src/sport, server dst/dport)."""
    return {"event_type": kind, "ts": ts, "src": f.src, "sport": f.client_port, "dst": f.dst,
            "dport": f.server_port, "proto": f.proto}


@functools.lru_cache(maxsize=16384)
def _redact_text(text: str) -> str:
    """`redact`, remembered (names — SNI, queries, Host, certificate names — repeat across a capture's
    flows), then cut to MAX_TEXT: the cut cannot bring back what redaction masked."""
    clean = redact(text)
    return clean if len(clean) <= MAX_TEXT else clean[: MAX_TEXT - 1] + "…"


def _redacted(value: Any) -> Any:
    """A packet-derived value through the redaction boundary: a string, or a list of them."""
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, list | tuple):
        return [_redact_text(str(v)) for v in value]
    return value


class MetaLog:
    """The records of the kinds asked for; `sink` (live) receives each at once, else they are kept."""

    def __init__(self, kinds: Iterable[str], policy: Policy | None = None,
                 sink: Callable[[Record], None] | None = None) -> None:
        self.kinds = frozenset(kinds)
        self.policy = policy
        self.sink = sink
        self.kept = MetaRecords(self.kinds)
        self._deflate = zlib.compressobj(LEVEL)
        self._parts: list[bytes] = []
        self._tls: tuple[int, Record] | None = None  # a handshake's record, until its certificate (if any) follows
        self._now = 0.0  # the latest event time seen: when a record is made

    def observe(self, obs: Event) -> None:
        if self._tls is not None and not isinstance(obs, TlsCert):
            self._flush_tls()  # (made when its handshake was seen, not at this later event)
        self._now = max(self._now, obs.ts)
        if isinstance(obs, FlowEnd):
            if "flow" in self.kinds:
                self._add(self._flow(obs))
        elif isinstance(obs, Dns):
            if "dns" in self.kinds:
                self._add({**endpoints("dns", obs.ts, obs.flow), "qname": obs.qname, "qtype": obs.qtype,
                           "rcode": obs.rcode, "answers": list(obs.answers)})
        elif isinstance(obs, HttpRequest):
            if "http" in self.kinds:
                self._add({**endpoints("http", obs.ts, obs.flow), "method": obs.method, "host": obs.host,
                           "path": obs.path, "query": obs.query, "version": obs.version,
                           "user_agent": obs.user_agent, "status": obs.status})
        elif isinstance(obs, TlsHello):
            if "tls" in self.kinds:
                self._tls = (obs.flow.number, {**endpoints("tls", obs.ts, obs.flow), "app": obs.flow.app,
                                               **{k: v for k, v in obs.values().items() if v is not None}})
        elif isinstance(obs, TlsCert) and self._tls is not None:
            number, rec = self._tls
            if number == obs.flow.number:
                cert = {k: getattr(obs, k) for k in CERT_FIELDS}
                rec["certificate"] = {k: v for k, v in cert.items() if v is not None}
            self._flush_tls()

    def _flow(self, end: FlowEnd) -> Record:
        f = end.flow
        names = list(dict.fromkeys(f.all_names()))
        rec = {**endpoints("flow", end.ts - end.duration, f), "app": end.app, "protected": end.encrypted,
               "how": end.how, "infra": end.infra, "server_name": f.server_name, "names": names[:MAX_NAMES],
               "first_seen": round(end.ts - end.duration, 6), "last_seen": end.ts, "duration": end.duration,
               "packets": end.packets, "bytes_to_server": end.bytes_to_server,
               "bytes_to_client": end.bytes_to_client, "cards": end.cards, "upgraded": end.upgraded,
               "via_proxy": end.via_proxy}
        if self.policy is not None:
            v = judge_event(self.policy, end)
            rec["policy"] = "not judged" if v.allowed is None else "allowed" if v.allowed else "denied"
            rec["policy_reason"] = v.why
        return rec

    def _flush_tls(self) -> None:
        if self._tls is not None:
            rec, self._tls = self._tls[1], None
            self._add(rec)

    def _add(self, rec: Record) -> None:
        clean = {k: _redacted(v) if k in PACKET_TEXT else v for k, v in rec.items() if v is not None or k in KEEP_NULL}
        cert = clean.get("certificate")
        if cert is not None:
            clean["certificate"] = {k: _redacted(v) if k in PACKET_TEXT else v for k, v in cert.items()}
        kept = self.kept
        if self.sink is not None:
            kept.counts[rec["event_type"]] += 1
            self.sink(clean)
            return
        if sum(kept.counts.values()) >= MAX_RECORDS:
            kept.omitted += 1
            return
        kept.counts[rec["event_type"]] += 1
        clean[AT] = self._now
        self._parts.append(self._deflate.compress(json.dumps(clean, separators=(",", ":")).encode() + b"\n"))

    def close(self) -> MetaRecords:
        """Everything kept, as one compressed stream (the last handshake's record included)."""
        self._flush_tls()
        if self.sink is None and self.kept.counts:
            self._parts.append(self._deflate.flush())
            self.kept.streams.append(b"".join(self._parts))
            self._parts = []
        return self.kept
