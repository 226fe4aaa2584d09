"""Scenario captures for "protected in name only" and streams an observer could be fooled by (issue 22, 20).

TLS record headers on bytes no handshake keyed, a session that negotiated the NULL cipher, a normal
session whose start the capture missed (negative), HTTP sent a byte per segment, an LPD print job of
short commands, and TCP insertion: a decoy copy of a segment with a bad checksum, and decoys far
outside the receiver's window, each sent before the real bytes. Every card number is in CARD_NUMBERS.
"""

from __future__ import annotations

import struct

from scenario_lib import Clock, TcpConversation
from scenarios_protect import CCS, _hs, app_data, blob, client_hello, record, server_hello

POS, BACKOFFICE, PRINTER, GATEWAY = "10.20.1.15", "10.20.9.6", "10.20.9.80", "198.51.100.77"

CARD_NUMBERS = [
    "4556732001182631",  # stream_tls_records_no_handshake: form body inside TLS-shaped records
    "5278149002773504",  # stream_tls_null_cipher: JSON body in NULL-cipher application data
    "4012880001881880",  # stream_http_one_byte_segments: form body, head one byte per segment
    "5555320124881731",  # stream_lpd_print_job: receipt text of a print job
    "4716019004214570",  # stream_tcp_decoy_bad_checksum: the real segment (the decoy masks it)
    "6011009901394242",  # stream_tcp_decoy_outside_window: the real segment after far decoys
]
PSK_NULL_SHA256 = 0x00B0  # TLS_PSK_WITH_NULL_SHA256: integrity only, the payload travels in clear


def _form_post(path: str, host: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def tls_records_no_handshake() -> list:
    """POS → back office on 8443: every payload starts `17 03 03` like TLS application data, but no
    handshake ever ran and the records hold a form post in clear (card included)."""
    c = TcpConversation(POS, BACKOFFICE, 49300, 8443, Clock())
    body = b"pan=" + CARD_NUMBERS[0].encode() + b"&exp=1228&amount=12.50&terminal=T0042"
    c.send(0, record(23, _form_post("/auth", "backoffice.store42.example", body)))
    c.send(1, record(23, OK))
    c.close()
    return c.packets


def tls_null_cipher() -> list:
    """POS → gateway: TLS 1.2 with TLS_PSK_WITH_NULL_SHA256 (authenticated, not encrypted); the
    application data records carry an HTTP JSON post with a card number, each followed by its MAC."""
    c = TcpConversation(POS, GATEWAY, 49301, 443, Clock())
    c.send(0, client_hello("pay.gateway.example", [PSK_NULL_SHA256, 0x00A8]))
    c.send(1, record(22, server_hello(PSK_NULL_SHA256) + _hs(14, b"")))
    c.send(0, record(22, _hs(16, struct.pack("!H", 8) + b"pos-0042")) + CCS + record(22, _hs(20, blob("cfin", 12))
                                                                                      + blob("cfin-mac", 32)))
    c.send(1, CCS + record(22, _hs(20, blob("sfin", 12)) + blob("sfin-mac", 32)))
    body = b'{"terminal":"T0042","card":{"number":"' + CARD_NUMBERS[1].encode() + b'","exp":"12/28"},"amount":1250}'
    req = (b"POST /v1/authorize HTTP/1.1\r\nHost: pay.gateway.example\r\nContent-Type: application/json\r\n"
           + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    c.send(0, record(23, req + blob("mac-1", 32)))
    c.send(1, record(23, OK + blob("mac-2", 32)))
    c.close()
    return c.packets


def tls_midstream() -> list:
    """Negative: a normal TLS session to the acquirer whose start the capture missed (no SYN, no
    handshake, random-looking application data both ways): not cleartext, nothing to report."""
    c = TcpConversation(POS, GATEWAY, 49302, 443, Clock(), isn=(5000, 700000), handshake=False)
    for i in range(3):
        c.send(0, app_data(f"mid-req-{i}", 420))
        c.send(1, app_data(f"mid-resp-{i}", 900))
    c.close()
    return c.packets


def http_one_byte_segments() -> list:
    """POS → back office: an HTTP form post whose request head goes out one byte per segment (a
    stack with Nagle off and a writer that flushes per character), the body in one segment."""
    c = TcpConversation(POS, BACKOFFICE, 49303, 8080, Clock(step=0.001))
    body = b"card_number=" + CARD_NUMBERS[2].encode() + b"&exp=0327&amount=4.20"
    req = _form_post("/pos/pay", "backoffice.store42.example", body)
    head = req[: len(req) - len(body)]
    c.send(0, head, mss=1)
    c.send(0, body)
    c.send(1, OK)
    c.close()
    return c.packets


def lpd_print_job() -> list:
    """POS → receipt printer, LPD (RFC 1179) on 515: a receive-job command, the control file and a
    data file whose receipt text prints the full card number. Each command is a few bytes."""
    c = TcpConversation(POS, PRINTER, 721, 515, Clock())
    control = b"Hpos-0042\nPpos\nJreceipt-8812\nldfA812pos-0042\nUdfA812pos-0042\nNreceipt\n"
    receipt = (b"STORE 42  BERLIN\nTERMINAL T0042\nVISA SALE      EUR 19.99\nCARD " + CARD_NUMBERS[3].encode()
               + b"\nEXP 09/27\nAUTH 004211\nTHANK YOU\n")
    c.send(0, b"\x02receipt\n")
    c.send(1, b"\x00")
    c.send(0, f"\x02{len(control)} cfA812pos-0042\n".encode())
    c.send(1, b"\x00")
    c.send(0, control + b"\x00")
    c.send(1, b"\x00")
    c.send(0, f"\x03{len(receipt)} dfA812pos-0042\n".encode())
    c.send(1, b"\x00")
    c.send(0, receipt + b"\x00")
    c.send(1, b"\x00")
    c.close()
    return c.packets


def tcp_decoy_bad_checksum() -> list:
    """POS → back office: the form body goes out twice at the same sequence number, first a decoy
    with a bad TCP checksum (the receiver drops it) holding zeros, then the real one with the card."""
    from scapy.layers.inet import TCP

    c = TcpConversation(POS, BACKOFFICE, 49304, 8080, Clock())
    real = b"card_number=" + CARD_NUMBERS[4].encode() + b"&exp=0129&amount=7.80"
    decoy = b"card_number=" + b"0" * 16 + b"&exp=0129&amount=7.80"
    c.send(0, _form_post("/pos/pay", "backoffice.store42.example", real)[: -len(real)])
    c._pkt(0, "PA", decoy)[TCP].chksum = 0xBAD0
    c.send(0, real)
    c.send(1, OK)
    c.close()
    return c.packets


def tcp_decoy_outside_window() -> list:
    """POS → back office: before the form body, 200 decoy segments 16 MiB beyond the server's
    window (8 KiB advertised); a receiver drops them, a reassembler that kept them would fill its
    out-of-order buffer, skip to them and take the real bytes for an old retransmission."""
    c = TcpConversation(POS, BACKOFFICE, 49305, 8080, Clock(step=0.0005))
    real = b"card_number=" + CARD_NUMBERS[5].encode() + b"&exp=0429&amount=3.10"
    c.send(0, _form_post("/pos/pay", "backoffice.store42.example", real)[: -len(real)])
    far = c.seq[0] + (16 << 20)
    for i in range(200):
        c._pkt(0, "PA", b"filler=" + bytes([97 + i % 26]) * 1393, seq=far + i * 1400)
    c.send(0, real)
    c.send(1, OK)
    c.close()
    return c.packets


SCENARIOS = {
    "stream_tls_records_no_handshake": tls_records_no_handshake,
    "stream_tls_null_cipher": tls_null_cipher,
    "stream_tls_midstream": tls_midstream,
    "stream_http_one_byte_segments": http_one_byte_segments,
    "stream_lpd_print_job": lpd_print_job,
    "stream_tcp_decoy_bad_checksum": tcp_decoy_bad_checksum,
    "stream_tcp_decoy_outside_window": tcp_decoy_outside_window,
}
