"""The new parsers never raise on arbitrary bytes (seeded random input and truncations of valid input)."""

from __future__ import annotations

import random

from netwatch.protocols.auth import ldap_bind, oauth_token, tds_login
from netwatch.protocols.dtls import dtls_messages
from netwatch.protocols.proxy_handshake import client_handshake, server_handshake
from netwatch.protocols.quic import CryptoStream, crypto_frames, gquic_chlo, initial_crypto, long_header
from netwatch.protocols.rdp import selected_protocol, server_security
from netwatch.protocols.zvt import apdu_cards, looks_like_zvt, split_apdus


def _inputs() -> list[bytes]:
    rng = random.Random(12)
    out = [b"", b"\x00", b"\xff" * 3, b"\x05\x02", b"\x10\x02\x10", b"\xc0\x00\x00\x00\x01\xff"]
    valid = [b"\x06\x01\x0a\x04\x00\x00\x00\x00\x12\x50\x49\x09\x78", b"\x04\x0f\xff\x05\x00\x22\xf1\xf6\x41",
             b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00", b"\x05\x01\x02\x01\x03bob\x04abcd\x05\x01",
             b"\xc3\x00\x00\x00\x01\x08" + bytes(8) + b"\x00\x00\x44\xd0" + bytes(40),
             b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x00\x08\x00"]
    for v in valid:
        out.extend(v[:k] for k in range(len(v) + 1))
    out.extend(rng.randbytes(rng.randrange(1, 300)) for _ in range(1500))
    out.extend(bytes([rng.choice(b"\x04\x05\x06\x10\x22\x30\xc0\xff")]) + rng.randbytes(rng.randrange(0, 80))
               for _ in range(1500))
    return out


def test_no_parser_raises() -> None:
    for data in _inputs():
        split_apdus(data)
        apdu_cards(data)
        looks_like_zvt(data, True)
        ldap_bind(data)
        oauth_token(data)
        tds_login(data)
        client_handshake(data)
        for kind in ("socks4", "socks5", "http-connect"):
            server_handshake(kind, data)
        long_header(data)
        initial_crypto(data, None)
        crypto_frames(data)
        gquic_chlo(data)
        selected_protocol(data)
        server_security(data)
        dtls_messages({}, data, 1 << 16)
        s = CryptoStream()
        s.add(0, data)
        s.message()
