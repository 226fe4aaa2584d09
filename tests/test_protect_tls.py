"""TLS handshake parser: hellos, versions, suites, JA3/JA4 (checked against nDPI's values), certificates."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netwatch.protocols.tls import (
    HandshakeReader,
    cipher_weakness,
    parse_certificates,
    parse_client_hello,
    parse_server_hello,
    version_name,
)
from netwatch.protocols.tls_fingerprints import ja3, ja4
from netwatch.protocols.x509 import cert_facts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "captures"))
from scenarios_protect import LEGACY_CERT, certificate, client_hello, record, server_hello  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "ndpi"


def messages(data: bytes, dtls: bool = False) -> list[tuple[int, bytes]]:
    return HandshakeReader(dtls).feed(data)


def test_client_hello_fields() -> None:
    rec = client_hello("pay.example", [0x0A0A, 0x1301, 0xC02F], versions=[0x0304, 0x0303], alpn=["h2", "http/1.1"])
    (t, body), = messages(rec)
    ch = parse_client_hello(body)
    assert t == 1 and ch is not None
    assert ch.sni == "pay.example" and ch.alpn == ["h2", "http/1.1"]
    assert ch.ciphers == [0x1301, 0xC02F]  # GREASE dropped
    assert ch.max_version == 0x0304 and version_name(ch.max_version) == "tls1.3"
    assert ja4(ch).startswith("t13d0207h2_")
    assert len(ja3(ch)) == 32


def test_server_hello_supported_versions_wins_over_legacy() -> None:
    (_, body), = messages(record(22, server_hello(0x1301, selected=0x0304)))
    sh = parse_server_hello(body)
    assert sh is not None and sh.version == 0x0303 and sh.negotiated == 0x0304


def test_records_split_across_segments_reassemble() -> None:
    rec = record(22, server_hello(0x0005, legacy=0x0301) + certificate(LEGACY_CERT))
    reader = HandshakeReader()
    got = []
    for i in range(0, len(rec), 7):
        got += reader.feed(rec[i : i + 7])
    assert [t for t, _ in got] == [2, 11]
    assert parse_certificates(got[1][1]) == [LEGACY_CERT]


def test_dark_after_change_cipher_spec() -> None:
    reader = HandshakeReader()
    reader.feed(record(20, b"\x01") + record(22, b"\x01\x00\x00\x00"))
    assert reader.dark and reader.feed(record(22, b"\x01\x00\x00\x00")) == []


@pytest.mark.parametrize(("suite", "why"), [(0x0005, "RC4"), (0x000A, "3DES"), (0x0009, "DES"), (0x0003, "EXPORT"),
                                            (0x0001, "NULL"), (0x0018, "anon"), (0xC02F, None), (0x1301, None)])
def test_cipher_weakness(suite: int, why: str | None) -> None:
    assert cipher_weakness(suite) == why


# The former hand-copied table judged weakness by name; dpkt's parts (kx, auth, cipher, MAC) must agree.
NAME_MARKS = (("_NULL_", "NULL"), ("_NULL", "NULL"), ("EXPORT", "EXPORT"), ("_anon_", "anon"), ("RC4", "RC4"),
              ("3DES", "3DES"), ("_DES_", "DES"), ("DES40", "DES"), ("_DES_CBC_40", "DES"), ("_MD5", "MD5"),
              ("RC2", "RC2"), ("IDEA", "IDEA"))


def test_weakness_from_dpkt_parts_agrees_with_the_names() -> None:
    from netwatch.protocols.tls import SIGNALLING, suite_tables

    SUITES = suite_tables()[0]  # noqa: N806
    assert len(SUITES) >= 280 and SUITES[0x0005] == "TLS_RSA_WITH_RC4_128_SHA"
    wrong = []
    for code, name in SUITES.items():
        by_name = None if code in SIGNALLING else next((why for m, why in NAME_MARKS if m in name), None)
        if cipher_weakness(code) != by_name:
            wrong.append((hex(code), name, cipher_weakness(code), by_name))
    assert wrong == []


def test_certificate_facts() -> None:
    facts = cert_facts(LEGACY_CERT, 1_700_000_000.0)
    assert facts is not None
    assert facts["self_signed"] and facts["expired"] and facts["key_type"] == "rsa" and facts["key_bits"] == 1024
    assert cert_facts(b"not a certificate", 0.0) is None


@pytest.mark.skipif(not (CORPUS / "tls-rdn-extract.pcap").exists(), reason="corpus absent")
def test_ja3_ja4_match_ndpi_on_a_real_capture() -> None:
    """nDPI's result for tls-rdn-extract.pcap: JA3C 2201d8e0…, JA4 t10d120500_d94e65cdb899_c35b4a14be45."""
    from test_protect_ndpi import observations

    hello = next(o.values() for o in observations(CORPUS / "tls-rdn-extract.pcap") if o.kind == "tls_hello")
    assert hello["ja3"] == "2201d8e006f8f005a6b415f61e677532"
    assert hello["ja4"] == "t10d120500_d94e65cdb899_c35b4a14be45"
    assert hello["version"] == "tls1.0"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_parsers_never_raise(data: bytes, dtls: bool) -> None:
    HandshakeReader(dtls).feed(data)
    parse_client_hello(data, dtls)
    parse_server_hello(data)
    parse_certificates(data)
    r = HandshakeReader(dtls)
    for t, body in r.feed(b"\x16\x03\x03" + len(data).to_bytes(2, "big") + data):
        parse_client_hello(body) if t == 1 else parse_server_hello(body)


def test_sessions_with_the_same_hellos_share_fields_and_a_different_answer_gets_its_own() -> None:
    """The tls_hello fields are kept per (ClientHello, ServerHello) pair: a second session with the
    same hellos reports the same, one whose server chose another suite or version reports its own."""
    from netwatch.analyzers.dispatch import Dispatcher
    from netwatch.analyzers.registry import build_classifier
    from netwatch.analyzers.tls_handshakes import TlsInspector
    from netwatch.events import TlsHello
    from netwatch.flows.table import Flow
    from netwatch.packets.decode import TCP

    events: list[object] = []
    d = Dispatcher(build_classifier(), [TlsInspector()], events.append)
    hello = client_hello("pay.example", [0x1301, 0xC02F, 0x000A], versions=[0x0304, 0x0303])
    answers = [server_hello(0xC02F), server_hello(0xC02F), server_hello(0x000A),
               server_hello(0x1301, selected=0x0304), server_hello(0xC02F)]
    for port, answer in enumerate(answers, start=40000):
        flow = Flow(bytes([10, 0, 0, 1]), port, bytes([10, 0, 0, 2]), 443, TCP, 1.0)
        d.flow_start(flow)
        d.stream(flow, 0, hello, 1.0)
        d.stream(flow, 1, record(22, answer) + record(22, certificate(LEGACY_CERT)), 1.1)
        d.flow_end(flow)
    got = [(e.cipher, e.cipher_weak, e.version, e.client_version, e.sni, e.ja3s is not None, e.ja4)
           for e in events if isinstance(e, TlsHello)]
    ja4 = got[0][6]
    assert ja4 is not None and ja4.startswith("t13d03")
    assert got == [
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", None, "tls1.2", "tls1.3", "pay.example", True, ja4),
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", None, "tls1.2", "tls1.3", "pay.example", True, ja4),
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "3DES", "tls1.2", "tls1.3", "pay.example", True, ja4),
        ("TLS_AES_128_GCM_SHA256", None, "tls1.3", "tls1.3", "pay.example", True, ja4),
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", None, "tls1.2", "tls1.3", "pay.example", True, ja4),
    ]
