"""Scenarios for what handshakes show (issue 20): WebRTC's DTLS multiplexed with STUN, TURN ChannelData
and RTP on one UDP flow (RFC 7983), its certificate in fragments over several records, the DTLS
client on the higher port; AnyDesk between two store PCs, recognised by its handshake.

Built byte by byte; the certificates are fixed DER. No card numbers in these captures.
"""

from __future__ import annotations

import base64
import struct

from scenario_lib import Clock, TcpConversation, udp
from scenarios_protect import CCS, LEGACY_CERT, app_data, blob, certificate, client_hello, record, server_hello
from scenarios_protect import _hs as tls_hs

KIOSK, AGENT = "10.20.1.70", "10.20.0.30"
OFFICE_PC, TILL, BACKOFFICE = "10.20.0.40", "10.20.1.81", "10.20.0.20"
# CN=AnyDesk Client, self-signed: what AnyDesk presents on direct (LAN) sessions; EC P-256 here, fixed DER
ANYDESK_CERT = base64.b64decode(
    "MIIBIDCByKADAgECAgRe7QABMAoGCCqGSM49BAMCMBkxFzAVBgNVBAMMDkFueURlc2sgQ2xpZW50MB4XDTIzMDEwMTAwMDAwMFoXDTMz"
    "MDEwMTAwMDAwMFowGTEXMBUGA1UEAwwOQW55RGVzayBDbGllbnQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASMaMcqiIWr+UbQmyQa"
    "4TF2776uxP418tiObLtQoeDZQSKLMp1tXpF03+k3r9aCdDtwXJC/6tsG2+ERV/tyoTy7MAoGCCqGSM49BAMCA0cAMEQCIHyaPB/js0vJ"
    "RYZKr9TTN+kRAPxEc3TOOCIbb2/3H8C9AiBUCRBQrCsyTLXcg0C0ly97lATjT84Xo8+P5bk7cQCmbA=="
)
ANYDESK_SUITES = [0xC030, 0xC02C, 0xC028, 0xC024, 0xC014, 0xC00A, 0x009F, 0x006B, 0x0039, 0xC02F, 0xC02B, 0x009E,
                  0x0067, 0x0033, 0x009D, 0x003D, 0x0035, 0x009C, 0x003C, 0x002F, 0x00FF]
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


def anydesk_lan() -> list:
    """The office PC takes over a till with AnyDesk, directly on the LAN (port 7070, no relay): a full TLS 1.2
    handshake with AnyDesk's own certificate on both sides, then a second session that resumes the first (no
    certificate, same client fingerprint); and the office PC's plain TLS to the back-office server."""
    clock = Clock()
    full = TcpConversation(OFFICE_PC, TILL, 50700, 7070, clock)
    full.send(0, client_hello(None, ANYDESK_SUITES))
    cert_request = tls_hs(13, b"\x01\x01\x00\x02\x04\x03\x00\x00")
    full.send(1, record(22, server_hello(0xC030) + certificate(ANYDESK_CERT) + cert_request + tls_hs(14, b"")))
    full.send(0, record(22, certificate(ANYDESK_CERT) + tls_hs(16, b"\x41" + bytes(65))) + CCS + app_data("ad-cf", 40))
    full.send(1, CCS + app_data("ad-sf", 40))
    full.send(0, app_data("ad-screen-req", 300))
    full.send(1, app_data("ad-screen", 1300))
    full.close()
    resumed = TcpConversation(OFFICE_PC, TILL, 50701, 7070, clock)
    resumed.send(0, client_hello(None, ANYDESK_SUITES))
    resumed.send(1, record(22, server_hello(0xC030)) + CCS + app_data("ad2-sf", 40))
    resumed.send(0, CCS + app_data("ad2-cf", 40) + app_data("ad2-input", 120))
    resumed.close()
    other = TcpConversation(OFFICE_PC, BACKOFFICE, 50702, 443, clock)
    other.send(0, client_hello(None, ANYDESK_SUITES))
    other.send(1, record(22, server_hello(0xC030)) + CCS + app_data("bo-sf", 40))
    other.close()
    return full.packets + resumed.packets + other.packets


SCENARIOS = {
    "dtls_webrtc_stun": webrtc_dtls,
    "anydesk_lan": anydesk_lan,
}
