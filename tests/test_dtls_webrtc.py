"""DTLS multiplexed with STUN/TURN/RTP on one UDP flow (RFC 7983, issue 20): the flow is DTLS, its
version and self-signed certificate (three fragments over two datagrams) are reported, the
ClientHello's sender is the client whatever the ports say, and every count follows the turn. tshark's
dissection of the same capture agrees on the ClientHello's sender, the version and the certificate.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import replay

from netwatch.analyzers.dispatch import Dispatcher
from netwatch.analyzers.recognise import stun
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.events import Event, FlowEnd, TlsCert, TlsHello

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "captures" / "dtls_webrtc_stun.pcap"
TSHARK = shutil.which("tshark")
KIOSK, AGENT = "10.20.1.70", "10.20.0.30"


def _events() -> list[Event]:
    out: list[Event] = []
    replay(CAPTURE, Dispatcher(build_classifier(), build_analyzers(), out.append))
    return out


def test_dtls_behind_stun_is_dtls_and_its_client_is_the_hello_sender():
    evs = _events()
    (end,) = [e for e in evs if isinstance(e, FlowEnd)]
    (hello,) = [e for e in evs if isinstance(e, TlsHello)]
    (cert,) = [e for e in evs if isinstance(e, TlsCert)]
    assert (end.app, end.encrypted, end.how) == ("dtls", True, "dtls1.0")
    assert (hello.flow.src, hello.flow.dst, hello.version) == (AGENT, KIOSK, "dtls1.0")
    assert (cert.flow.dst, cert.subject, cert.self_signed, cert.chain_length) == (KIOSK, "CN=WebRTC", True, 1)
    assert (end.flow.src, end.flow.client_port, end.flow.server_port) == (AGENT, 50010, 61002)


def _tshark(fields: list[str], display: str) -> list[list[str]]:
    assert TSHARK is not None
    out = subprocess.run([TSHARK, "-r", str(CAPTURE), "-n", "-Y", display, "-T", "fields", "-E", "separator=\t",
                          *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, timeout=120, check=True)
    return [line.split("\t") for line in out.stdout.splitlines()]


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
def test_counts_follow_the_turned_roles_as_tshark_counts_them():
    (end,) = [e for e in _events() if isinstance(e, FlowEnd)]
    rows = _tshark(["ip.src", "udp.length"], "udp")
    sent = {KIOSK: 0, AGENT: 0}
    for src, length in rows:
        sent[src] += int(length) - 8
    assert (end.bytes_to_server, end.bytes_to_client, end.packets) == (sent[AGENT], sent[KIOSK], len(rows))


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
def test_hello_version_and_certificate_agree_with_tshark():
    evs = _events()
    (hello,) = [e for e in evs if isinstance(e, TlsHello)]
    (cert,) = [e for e in evs if isinstance(e, TlsCert)]
    (ch_src,) = {r[0] for r in _tshark(["ip.src"], "dtls.handshake.type == 1")}
    (sh,) = _tshark(["ip.src", "dtls.handshake.version"], "dtls.handshake.type == 2")
    assert ch_src == hello.flow.src and sh[0] == hello.flow.dst
    assert {"0xfeff": "dtls1.0", "0xfefd": "dtls1.2"}[sh[1]] == hello.version
    text = subprocess.run([TSHARK, "-r", str(CAPTURE), "-n", "-Y", "dtls.handshake.type == 11", "-V"],
                          capture_output=True, text=True, timeout=120, check=True).stdout
    issuers = re.findall(r"issuer: rdnSequence.*\n\s*rdnSequence: .*\(id-at-commonName=([^)]*)\)", text)
    subjects = re.findall(r"subject: rdnSequence.*\n\s*rdnSequence: .*\(id-at-commonName=([^)]*)\)", text)
    assert issuers and issuers[0] == subjects[0] and f"CN={subjects[0]}" == cert.subject


def test_stun_is_recognised_by_its_cookie_and_length_only():
    msg = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"t" * 12
    assert stun(msg, None, 0) == ("stun", False, None)  # type: ignore[arg-type]
    assert stun(msg + b"x", None, 0) is None  # type: ignore[arg-type]
    assert stun(b"\x80" + msg[1:], None, 0) is None  # type: ignore[arg-type]


def test_a_cut_datagram_spoils_only_itself():
    import struct

    from netwatch.protocols.tls import HS_CERTIFICATE, HandshakeReader

    def rec(body: bytes) -> bytes:
        return struct.pack("!BHH", 22, 0xFEFD, 0) + bytes(6) + struct.pack("!H", len(body)) + body

    def hs(body: bytes, off: int, n: int) -> bytes:
        return (bytes([11]) + len(body).to_bytes(3, "big") + b"\x00\x01" + off.to_bytes(3, "big")
                + n.to_bytes(3, "big") + body[off : off + n])

    cert = bytes(range(200))
    reader = HandshakeReader(dtls=True)
    assert reader.feed(rec(hs(cert, 0, 120))[:-30]) == []  # cut by the snap length
    assert reader.feed(b"\x80\x00junk that is no DTLS record") == [] and not reader.broken
    assert reader.feed(rec(hs(cert, 0, 120))) == []
    assert reader.feed(rec(hs(cert, 120, 80))) == [(HS_CERTIFICATE, cert)]
    for _ in range(8):
        reader.feed(b"\x00\x01garbage!!!!!!!!")
    assert reader.broken
