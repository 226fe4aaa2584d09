"""Scenarios for handshakes inside other traffic (issue 20): WebRTC's DTLS multiplexed with STUN, TURN
ChannelData and RTP on one UDP flow (RFC 7983), its certificate in fragments over several records,
the DTLS client on the higher port.

Built byte by byte; the certificates are fixed DER. No card numbers in these captures.
"""

from __future__ import annotations

import base64
import struct

from scenario_lib import Clock, udp
from scenarios_protect import LEGACY_CERT, blob

KIOSK, AGENT = "10.20.1.70", "10.20.0.30"
CARD_NUMBERS: list[str] = []
# CN=WebRTC, self-signed (what browsers generate per session), EC P-256, valid 2023-2033
WEBRTC_CERT = base64.b64decode(
    "MIIBEDCBuKADAgECAgRe7QABMAoGCCqGSM49BAMCMBExDzANBgNVBAMMBldlYlJUQzAeFw0yMzAxMDEwMDAwMDBaFw0zMzAxMDEwMDAw"
    "MDBaMBExDzANBgNVBAMMBldlYlJUQzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDkbmjje27vIqrNlUfZFWL7FC2GcMhJaL2FezMnR"
    "GvvMePEBxQ6VJhlFbKMhb3rmGbS+MOIR2D0QKpvPVA4k7LkwCgYIKoZIzj0EAwIDRwAwRAIgYPhv3HBdK03GLzN/UTz5OSlX9y9eO8us"
    "X7c0ShqZdXkCIBtJDURfdRkkvjGGEbNdI2oNfTMx8DyF1N1I5GrW8jWF"
)
DTLS10 = 0xFEFF
COOKIE = b"\x21\x12\xa4\x42"


def stun(msg_type: int, txid: bytes, attrs: bytes = b"") -> bytes:
    return struct.pack("!HH", msg_type, len(attrs)) + COOKIE + txid + attrs


def _hs(msg_type: int, seq: int, body: bytes, off: int = 0, n: int | None = None) -> bytes:
    frag = body[off : off + n] if n is not None else body[off:]
    return (bytes([msg_type]) + len(body).to_bytes(3, "big") + struct.pack("!H", seq) + off.to_bytes(3, "big")
            + len(frag).to_bytes(3, "big") + frag)


def _rec(seq: int, body: bytes, ctype: int = 22, epoch: int = 0, version: int = DTLS10) -> bytes:
    return struct.pack("!BHH", ctype, version, epoch) + seq.to_bytes(6, "big") + struct.pack("!H", len(body)) + body


def _chain(*ders: bytes) -> bytes:
    chain = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    return len(chain).to_bytes(3, "big") + chain


def _client_hello() -> bytes:
    suites = struct.pack("!HHHH", 0xC02B, 0xC00A, 0xC014, 0x002F)
    exts = (struct.pack("!HH", 10, 4) + struct.pack("!HH", 2, 23) + struct.pack("!HH", 11, 2) + b"\x01\x00"
            + struct.pack("!HHH", 14, 5, 2) + struct.pack("!HB", 0x0001, 0))  # use_srtp
    return (struct.pack("!H", DTLS10) + blob("webrtc-cr", 32) + b"\x00" + b"\x00" + struct.pack("!H", len(suites))
            + suites + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)


def webrtc_dtls() -> list:
    """A kiosk's support video call to the back office, peer to peer: ICE checks (STUN) both ways, then the
    agent's PC (on the lower port) starts DTLS 1.0 as the client; the kiosk's self-signed certificate comes in
    three fragments over two datagrams with a STUN consent check and RTP between them; the agent's certificate
    flight follows inside a TURN ChannelData message."""
    clock = Clock()
    k, a = (KIOSK, 61002), (AGENT, 50010)

    def send(src: tuple[str, int], dst: tuple[str, int], data: bytes) -> object:
        return udp(src[0], dst[0], src[1], dst[1], data, clock)

    sh = struct.pack("!H", DTLS10) + blob("webrtc-sr", 32) + b"\x00" + struct.pack("!HB", 0xC00A, 0) + b"\x00\x00"
    cert = _chain(WEBRTC_CERT)
    third = len(cert) // 3
    rtp = b"\x80\x6f" + struct.pack("!HII", 1, 160, 0x11223344) + blob("rtp", 160)
    pkts = [
        send(k, a, stun(0x0001, b"txkiosk00001", b"\x00\x06\x00\x08kiosk:ag")),
        send(a, k, stun(0x0101, b"txkiosk00001", b"\x00\x20\x00\x08\x00\x01\xee\x6a\x2b\x06\xa5\x1e")),
        send(a, k, stun(0x0001, b"txagent00001", b"\x00\x06\x00\x08agent:ki")),
        send(k, a, stun(0x0101, b"txagent00001", b"\x00\x20\x00\x08\x00\x01\x1e\x72\x2b\x06\xa5\x1e")),
        send(a, k, _rec(0, _hs(1, 0, _client_hello()))),
        send(k, a, _rec(0, _hs(2, 0, sh)) + _rec(1, _hs(11, 1, cert, 0, third))
             + _rec(2, _hs(11, 1, cert, third, third))),
        send(k, a, stun(0x0001, b"txkiosk00002")),
        send(k, a, _rec(3, _hs(11, 1, cert, 2 * third)) + _rec(4, _hs(14, 2, b""))),
    ]
    flight = (_rec(1, _hs(11, 1, _chain(LEGACY_CERT))) + _rec(2, _hs(16, 2, blob("cke", 66)))
              + _rec(3, b"\x01", 20))
    pkts.append(send(a, k, b"\x40\x00" + struct.pack("!H", len(flight)) + flight))
    pkts.append(send(k, a, _rec(5, b"\x01", 20) + _rec(0, blob("fin", 48), 22, epoch=1)))
    for i in range(3):
        pkts.append(send(k, a, rtp[:2] + struct.pack("!H", 2 + i) + rtp[4:]))
    pkts.append(send(a, k, stun(0x0001, b"txagent00002")))
    return pkts


SCENARIOS = {
    "dtls_webrtc_stun": webrtc_dtls,
}
