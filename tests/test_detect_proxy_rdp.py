"""Proxy handshakes (SOCKS4a, SOCKS5, HTTP CONNECT) and what runs inside them; RDP Standard Security
read from the X.224 Connection Confirm and the MCS Server Security Data; DTLS certificates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from netwatch.analyzers.tls_handshakes import certs_in_clear
from netwatch.protocols.proxy_handshake import client_handshake, server_handshake
from netwatch.protocols.rdp import selected_protocol, server_security
from netwatch.protocols.tls import HandshakeReader

ROOT = Path(__file__).resolve().parents[1]


def _scan(name: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(ROOT / "captures" / f"{name}.pcap"), "--json",
                          "-", "-q", "--fail-on", "none"], capture_output=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert records[-1]["event_type"] == "summary"
    return [r for r in records if r["event_type"] == "finding"]


def test_socks4a_and_http_connect_parsers() -> None:
    c = client_handshake(b"\x04\x01\x00\x50\x00\x00\x00\x01pos\0shop.example\0")
    assert c is not None and (c.kind, c.host, c.port, c.user) == ("socks4", "shop.example", 80, b"pos")
    assert server_handshake("socks4", b"\x00\x5a" + bytes(6)) == (True, 8, None)
    assert server_handshake("socks4", b"\x00\x5b" + bytes(6)) == (False, 8, None)
    h = client_handshake(b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert h is not None and (h.host, h.port) == ("2001:db8::1", 443)
    assert client_handshake(b"CONNECT a:1 HTTP/1.1\r\n") is None  # headers not complete yet
    assert server_handshake("http-connect", b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n") == (False, 46, None)
    assert server_handshake("socks5", b"\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50") == (True, 12, "none")


def test_tunnelled_protocols_are_classified_on_their_own() -> None:
    recs = _scan("detect_proxies")
    rules = {(r["rule"], r["dport"], r["app"]) for r in recs}
    assert ("NW-TLS-001", 1080, "tls") in rules  # TLS 1.0 inside SOCKS5
    assert ("NW-TLS-007", 3128, "rdp") in rules  # RDP Standard Security inside HTTP CONNECT
    assert ("NW-CARD-001", 1080, "http") in rules  # a card posted inside SOCKS4a
    proxies = {(r["evidence"]["proxy"], r["evidence"]["target_port"], r["evidence"]["login"]) for r in recs
               if r["rule"] == "NW-DEST-007"}
    assert proxies == {("socks5", 443, "username/password"), ("http-connect", 3389, "none"), ("socks4", 80, "userid")}
    assert any(r["rule"] == "NW-CRED-001" and r["evidence"]["protocol"] == "socks5" for r in recs)


def test_rdp_connection_confirm() -> None:
    cc = b"\x03\x00\x00\x13" + bytes([14, 0xD0, 0, 0, 0x12, 0x34, 0]) + b"\x02\x00\x08\x00\x00\x00\x00\x00"
    assert selected_protocol(cc) == 0
    tls = cc[:-4] + b"\x01\x00\x00\x00"
    assert selected_protocol(tls) == 1
    legacy = b"\x03\x00\x00\x0b" + bytes([6, 0xD0, 0, 0, 0x12, 0x34, 0])
    assert selected_protocol(legacy) == 0
    assert selected_protocol(b"\x03\x00\x00\x13" + bytes([14, 0xE0]) + bytes(13)) is None  # a request, not a confirm


def test_rdp_server_security_data() -> None:
    block = b"\x02\x0c\x0c\x00" + (2).to_bytes(4, "little") + (3).to_bytes(4, "little")
    assert server_security(b"\x7f\x66" + bytes(20) + block) == (2, 3)
    assert server_security(b"\x02\x0c\x0c\x00" + (7).to_bytes(4, "little") + bytes(4)) is None


def test_rdp_standard_security_is_weak_crypto_not_cleartext() -> None:
    recs = _scan("detect_rdp_standard")
    assert [(r["rule"], r["severity"]) for r in recs if r["category"] in ("weak-tls", "cleartext")] == [
        ("NW-TLS-007", "high")]
    assert next(r for r in recs if r["rule"] == "NW-TLS-007")["evidence"]["encryption"] == "128-bit RC4"


def test_dtls_versions_show_certificates() -> None:
    assert certs_in_clear(0xFEFD) and certs_in_clear(0xFEFF) and certs_in_clear(0x0303)
    assert not certs_in_clear(0x0304) and not certs_in_clear(0xFEFC)


def test_dtls_fragmented_handshake_reassembled() -> None:
    body = bytes(range(200))

    def frag(off: int, n: int) -> bytes:
        hs = (bytes([11]) + len(body).to_bytes(3, "big") + b"\x00\x01" + off.to_bytes(3, "big") + n.to_bytes(3, "big")
              + body[off : off + n])
        return b"\x16\xfe\xfd" + bytes(8) + len(hs).to_bytes(2, "big") + hs

    r = HandshakeReader(dtls=True)
    assert r.feed(frag(120, 80)) == []
    assert r.feed(frag(0, 120)) == [(11, body)]


def test_dtls_certificate_findings() -> None:
    rules = {r["rule"] for r in _scan("detect_dtls_cert")}
    assert {"NW-TLS-003", "NW-TLS-004", "NW-TLS-005", "NW-TLS-006"} <= rules


def test_tunnelled_flow_end_names_its_proxy(tmp_path: Path) -> None:
    """flow_end carries via_proxy, so a site rule can judge tunnelled flows by the proxy they used."""
    (tmp_path / "proxy.yaml").write_text(
        "- id: SITE-PROXY-001\n  title: tunnelled\n  category: destination\n  severity: low\n  on: flow_end\n"
        "  when: {via_proxy: {exists: true}}\n  group_by: [via_proxy]\n  evidence: [via_proxy]\n"
        "  message: '{app} via {via_proxy}'\n  remediation: none\n")
    out = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(ROOT / "captures" / "detect_proxies.pcap"),
                          "--rules", str(tmp_path), "--json", "-", "-q", "--fail-on", "none"], capture_output=True,
                         cwd=ROOT, timeout=60)
    got = {(r["app"], r["evidence"]["via_proxy"]) for r in map(json.loads, out.stdout.splitlines())
           if r.get("rule") == "SITE-PROXY-001"}
    assert got == {("tls", "socks5"), ("rdp", "http-connect"), ("http", "socks4")}
