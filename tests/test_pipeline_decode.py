"""Decode layer: link types, VLAN/QinQ, IPv4 fragments, IPv6 extension headers; never raises."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_helpers import ether, ipv4_packet, tcp_segment, udp_datagram
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

from netwatch.packets.decode import SUPPORTED_LINKTYPES, Decoder, linktype_name
from netwatch.packets.decode import TCP as TCP_PROTO
from netwatch.packets.decode import UDP as UDP_PROTO

IP_TCP = ipv4_packet("10.1.1.1", "10.2.2.2", 6, tcp_segment(40000, 443, 1234, 0x18, b"hello"))


def check(p, sport=40000, dport=443, payload=b"hello"):
    assert p is not None
    assert (p.sport, p.dport, p.payload) == (sport, dport, payload)


@pytest.mark.parametrize("linktype,frame", [
    (1, ether(IP_TCP)),
    (101, IP_TCP),
    (12, IP_TCP),
    (228, IP_TCP),
    (113, bytes(CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02\0\0\0\0\x01\0\0", proto=0x0800))
     + IP_TCP),
    (276, bytes(CookedLinuxV2(proto=0x0800, ifindex=2, lladdrtype=1, lladdrlen=6)) + IP_TCP),
    (0, struct.pack("<I", 2) + IP_TCP),  # BSD loopback, host byte order (little-endian writer)
    (0, struct.pack(">I", 2) + IP_TCP),  # ... and big-endian writer
    (108, struct.pack(">I", 2) + IP_TCP),  # OpenBSD loopback: always network order
])
def test_link_types(linktype, frame):
    d = Decoder()
    check(d.decode(linktype, frame, 1.0))
    assert not d.stats


def test_raw_ipv6_and_null_ipv6():
    pkt = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=40000, dport=443, flags="PA") / Raw(b"hello"))
    d = Decoder()
    check(d.decode(229, pkt, 1.0))
    for fam in (24, 28, 30):  # the BSDs disagree on AF_INET6
        check(d.decode(0, struct.pack("<I", fam) + pkt, 1.0))


def test_vlan_and_qinq():
    d = Decoder()
    check(d.decode(1, ether(IP_TCP, vlans=(20,)), 1.0))
    check(d.decode(1, ether(IP_TCP, vlans=(100, 20)), 1.0))
    qinq = bytes(Ether() / Dot1AD(vlan=100) / Dot1Q(vlan=20) / IP(src="10.1.1.1", dst="10.2.2.2")
                 / TCP(sport=40000, dport=443, flags="PA") / Raw(b"hello"))
    check(d.decode(1, qinq, 1.0))


def test_unknown_link_type_is_counted_and_named():
    d = Decoder()
    assert d.decode(147, b"\x00" * 40, 1.0) is None
    assert d.unknown_linktypes[147] == 1
    assert linktype_name(147) == "link type 147" and linktype_name(113) == "Linux cooked (SLL)"


def test_non_ip_is_counted_not_an_error():
    d = Decoder()
    arp = bytes(Ether(type=0x0806)) + b"\x00" * 28
    assert d.decode(1, arp, 1.0) is None
    assert d.non_ip["arp"] == 1 and not d.stats


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1], [1, 2, 0, 0]])
def test_ipv4_fragments_reassembled_in_any_order(order):
    payload = bytes(range(256)) * 12
    whole = IP(src="10.1.1.1", dst="10.2.2.2", id=77) / UDP(sport=5000, dport=6000) / Raw(payload)
    frags = fragment(whole, fragsize=1200)
    assert len(frags) == 3
    d = Decoder()
    out = [d.decode(101, bytes(frags[i]), 1.0) for i in order]
    done = [p for p in out if p is not None]
    assert len(done) == 1
    assert done[0].proto == UDP_PROTO and done[0].payload == payload and (done[0].sport, done[0].dport) == (5000, 6000)
    assert d.stats["ip datagrams reassembled"] == 1


def test_incomplete_fragments_are_bounded():
    d = Decoder()
    for i in range(3000):  # first fragments only: never complete
        pkt = ipv4_packet("10.1.1.1", "10.2.2.2", 17, udp_datagram(1, 2, b"x" * 64), ident=i, frag=0x2000)
        assert d.decode(101, pkt, float(i)) is None
    assert len(d._frags) <= 1024


def test_ipv6_extension_headers_skipped():
    pkt = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting()
                / IPv6ExtHdrDestOpt() / TCP(sport=40000, dport=443, flags="PA") / Raw(b"hello"))
    p = Decoder().decode(229, pkt, 1.0)
    check(p)
    assert p.proto == TCP_PROTO and len(p.src) == 16


def test_ipv6_fragments_reassembled():
    from scapy.layers.inet6 import fragment6

    payload = b"v6" * 1500
    whole = IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(id=9) / UDP(sport=5000, dport=6000) / Raw(
        payload)
    frags = fragment6(whole, 1280)
    assert len(frags) >= 2
    d = Decoder()
    out = [d.decode(229, bytes(f), 1.0) for f in reversed(frags)]
    done = [p for p in out if p is not None]
    assert len(done) == 1 and done[0].payload == payload


def test_truncated_headers_are_counted():
    d = Decoder()
    assert d.decode(1, ether(IP_TCP)[:30], 1.0) is None
    assert d.decode(1, ether(IP_TCP)[:40], 1.0) is None
    assert d.decode(1, b"\x02" * 10, 1.0) is None
    assert sum(d.stats.values()) == 3


def test_snaplen_cut_payload_is_kept():
    p = Decoder().decode(1, ether(IP_TCP)[:-2], 1.0)
    check(p, payload=b"hel")


LINKTYPES = sorted(SUPPORTED_LINKTYPES | {147, 105, 127})


@settings(max_examples=300, deadline=None)
@given(lt=st.sampled_from(LINKTYPES), data=st.binary(max_size=200))
def test_never_raises_on_arbitrary_bytes(lt, data):
    Decoder().decode(lt, data, 0.0)


@settings(max_examples=300, deadline=None)
@given(lt=st.sampled_from([1, 101, 113, 276, 0]), tail=st.binary(max_size=120), cut=st.integers(0, 80),
       flip=st.lists(st.tuples(st.integers(0, 79), st.integers(0, 255)), max_size=6))
def test_never_raises_on_damaged_real_headers(lt, tail, cut, flip):
    """Plausible headers damaged at random: the decoder paths deep inside get exercised."""
    prefix = {1: ether(IP_TCP), 101: IP_TCP, 113: b"\0" * 14 + b"\x08\x00" + IP_TCP,
              276: b"\x08\x00" + b"\0" * 18 + IP_TCP, 0: struct.pack("<I", 2) + IP_TCP}[lt]
    frame = bytearray(prefix[: len(prefix) - cut] + tail)
    for at, v in flip:
        if at < len(frame):
            frame[at] = v
    d = Decoder()
    for _ in range(2):  # twice: fragment state carried between calls
        d.decode(lt, bytes(frame), 0.0)


def test_tunnels_are_unwrapped():
    """6in4 (protocol 41), IP-in-IP (4), GRE and VXLAN deliver the inner packet's flow."""
    inner6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5140, dport=514) / Raw(b"<13>hello")
    inner4 = IP(src="10.9.9.1", dst="10.9.9.2") / TCP(sport=40000, dport=80, flags="PA") / Raw(b"GET /")
    d = Decoder()
    p = d.decode(1, bytes(Ether() / IP(src="192.0.2.1", dst="192.0.2.2", proto=41) / inner6), 0.0)
    assert p is not None and (p.proto, p.sport, p.dport, p.payload) == (UDP_PROTO, 5140, 514, b"<13>hello")
    assert len(p.src) == 16
    p = d.decode(1, bytes(Ether() / IP(src="192.0.2.1", dst="192.0.2.2", proto=4) / inner4), 0.0)
    assert p is not None and (p.proto, p.dport, p.payload) == (TCP_PROTO, 80, b"GET /")
    assert p.src == bytes([10, 9, 9, 1])
