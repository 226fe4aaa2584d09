"""The names analyzer: address → names from DNS answers (CNAME chains), flow.names, dns observations."""

from __future__ import annotations

import socket
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR

from netwatch.analyzers.dns_names import MAX_ADDRESSES, Names, answer_names
from netwatch.events import Event
from netwatch.flows.table import Flow
from netwatch.protocols.dns import parse_dns

CORPUS = Path(__file__).parents[2] / "shared" / "corpus"


def flow(dst: str, port: int, proto: int = 17) -> Flow:
    return Flow(socket.inet_aton("10.20.1.15"), 40000, socket.inet_aton(dst), port, proto, 0.0)


def response(qname: str, rrs: list[tuple[str, str, str]], qid: int = 7) -> bytes:
    an = [DNSRR(rrname=o, type=t, ttl=60, rdata=v) for o, t, v in rrs]
    return bytes(DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=qname), an=an or None))


def test_cname_chain_names_the_address_query_name_first() -> None:
    msg = parse_dns(response("pay.acquirer.example", [
        ("pay.acquirer.example", "CNAME", "a.cdn.example"), ("a.cdn.example", "CNAME", "b.edge.example"),
        ("b.edge.example", "A", "203.0.113.10"), ("b.edge.example", "A", "203.0.113.11")]))
    assert msg is not None
    names = answer_names(msg)
    assert names["203.0.113.10"] == ["pay.acquirer.example", "a.cdn.example", "b.edge.example"]
    assert set(names) == {"203.0.113.10", "203.0.113.11"}


def test_cname_loop_ends() -> None:
    msg = parse_dns(response("a.example", [("a.example", "CNAME", "b.example"), ("b.example", "CNAME", "a.example"),
                                           ("a.example", "A", "192.0.2.1")]))
    assert msg is not None
    assert sorted(answer_names(msg)["192.0.2.1"]) == ["a.example", "b.example"]


def test_names_fill_later_flows_and_dns_observation_is_emitted() -> None:
    names = Names()
    seen: list[Event] = []
    dns_flow = flow("10.20.0.53", 53)
    assert names.wants(dns_flow)
    names.datagram(dns_flow, 0, bytes(DNS(id=9, rd=1, qd=DNSQR(qname="pay.acquirer.example"))), 1.0, seen.append)
    names.datagram(dns_flow, 1, response("pay.acquirer.example", [("pay.acquirer.example", "A", "203.0.113.10")], 9),
                   1.1, seen.append)
    assert [o.kind for o in seen] == ["dns"]
    f = seen[0].values()
    assert (f["qname"], f["qtype"], f["resolver"], f["rcode"]) == ("pay.acquirer.example", "A", "10.20.0.53", 0)
    assert f["answers"] == ("A 203.0.113.10",)
    later = flow("203.0.113.10", 443, 6)
    assert not names.wants(later)  # not a DNS flow: the analyzer stays off it
    assert later.names == ["pay.acquirer.example"]
    other = flow("203.0.113.99", 443, 6)
    names.wants(other)
    assert other.names == []


def test_unanswered_query_is_reported_at_flow_end() -> None:
    names = Names()
    seen: list[Event] = []
    f = flow("8.8.8.8", 53)
    names.datagram(f, 0, bytes(DNS(id=3, rd=1, qd=DNSQR(qname="x.example", qtype="AAAA"))), 1.0, seen.append)
    assert seen == []
    names.flow_end(f, seen.append)
    got = [(o.values()["qname"], o.values()["qtype"], o.values()["rcode"]) for o in seen]
    assert got == [("x.example", "AAAA", None)]


def test_dns_over_tcp_split_across_segments() -> None:
    names = Names()
    seen: list[Event] = []
    f = flow("10.20.0.53", 53, 6)
    msg = response("tcp.example", [("tcp.example", "A", "192.0.2.7")], 5)
    framed = len(msg).to_bytes(2, "big") + msg
    names.stream(f, 1, framed[:7], 1.0, seen.append)
    assert seen == []
    names.stream(f, 1, framed[7:] + framed[:1], 1.1, seen.append)
    assert len(seen) == 1 and names.by_addr["192.0.2.7"] == ["tcp.example"]


def test_address_map_is_bounded() -> None:
    names = Names()
    for i in range(MAX_ADDRESSES + 10):
        names.learn(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", ["n.example"])
    assert len(names.by_addr) == MAX_ADDRESSES


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.binary(max_size=600))
def test_never_raises_on_arbitrary_bytes(a: bytes, b: bytes) -> None:
    names = Names()
    sink: list[Event] = []
    u, t = flow("10.20.0.53", 53), flow("10.20.0.53", 53, 6)
    names.datagram(u, 0, a, 1.0, sink.append)
    names.datagram(u, 1, b, 1.0, sink.append)
    names.stream(t, 0, a, 1.0, sink.append)
    names.stream(t, 1, b, 1.0, sink.append)
    names.gap(t, 0, 10)
    names.flow_end(u, sink.append)
    names.flow_end(t, sink.append)


def observations(path: Path) -> tuple[list[Event], Names]:
    from pipeline_helpers import replay

    from netwatch.analyzers.classify import Classifier
    from netwatch.analyzers.dispatch import Dispatcher

    out: list[Event] = []
    names = Names()
    replay(path, Dispatcher(Classifier(), [names], out.append))
    return out, names


def test_corpus_dns_captures_yield_names() -> None:
    """Real captures nobody here wrote: DNS answers become dns observations and address → names."""
    import pytest

    for name in ("dns.pcap", "malformed_dns.pcap", "dns-tunnel-iodine.pcap"):
        path = CORPUS / "ndpi" / name
        if not path.exists():
            pytest.skip(f"corpus absent: {path}")
        obs, names = observations(path)
        dns = [o for o in obs if o.kind == "dns"]
        assert dns, name
        assert all(isinstance(o.values()["qname"], str) for o in dns)
        if name == "dns.pcap":
            assert any(o.values()["answers"] for o in dns)
            assert names.by_addr, "answers with addresses name them"


def test_a_message_repeated_with_another_id_parses_alike_under_its_own_id() -> None:
    """Parses are cached by the bytes after the ID: the same answer in a later transaction (and over
    TCP, behind its length prefix) reads the same but keeps its own ID; a changed byte is parsed afresh."""
    rrs = [("pay.acquirer.example", "CNAME", "edge.example"), ("edge.example", "A", "203.0.113.10")]
    first, again = parse_dns(response("pay.acquirer.example", rrs, qid=7)), parse_dns(response("pay.acquirer.example",
                                                                                              rrs, qid=0x9A01))
    assert first is not None and again is not None
    assert (first.id, again.id) == (7, 0x9A01)
    assert (again.response, again.questions, again.answers) == (first.response, first.questions, first.answers)
    assert again.answers == (("pay.acquirer.example", 5, "edge.example"), ("edge.example", 1, "203.0.113.10"))
    wire = response("pay.acquirer.example", rrs, qid=0)
    over_tcp = parse_dns(len(wire).to_bytes(2, "big") + wire, tcp=True)
    assert over_tcp is not None and over_tcp.id == 0 and over_tcp.answers == first.answers
    other = parse_dns(response("pay.acquirer.example", [("pay.acquirer.example", "A", "203.0.113.99")], qid=7))
    assert other is not None and other.answers == (("pay.acquirer.example", 1, "203.0.113.99"),)
    assert parse_dns(b"\x00\x07" + bytes(9)) is None  # shorter than a header
