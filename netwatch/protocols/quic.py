"""QUIC Initial packets opened (RFC 9001 §5, RFC 9369 for v2): the client's TLS ClientHello. Pure.

Initial packets are encrypted only with keys that anyone can derive from the client's first
Destination Connection ID and a per-version salt, so reading the ClientHello (SNI, ALPN, JA4) needs
no secret. `initial_crypto(datagram, dcid)` removes header protection, decrypts each Initial packet
of a (possibly coalesced) datagram and returns its CRYPTO frames as (offset, data); `CryptoStream`
joins those across packets (a post-quantum ClientHello spans two or three) into the handshake
message. Everything is bounded and never raises on bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# `cryptography` is imported where a QUIC Initial is opened: a scan whose capture holds none (and no
# certificate either, which netwatch.protocols.x509 reads with it) never loads it (~5 ms of start-up)

V1, V2 = 0x00000001, 0x6B3343CF
SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
SALT_V2 = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")
SALT_D29 = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")  # drafts 29-32
SALT_D23 = bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")  # drafts 23-28
MAX_CRYPTO = 16 * 1024  # bytes of CRYPTO data joined per direction
MAX_PACKETS = 4  # long-header packets looked at per datagram


def salt_for(version: int) -> tuple[bytes, str] | None:
    """(initial salt, label prefix) of a QUIC version whose Initial protection we know, else None."""
    if version == V1:
        return SALT_V1, "quic "
    if version == V2:
        return SALT_V2, "quicv2 "
    if version >> 8 == 0xFF0000:
        draft = version & 0xFF
        if 29 <= draft <= 34:
            return SALT_D29, "quic "
        if 23 <= draft <= 28:
            return SALT_D23, "quic "
    return None


def _expand_label(secret: bytes, label: str, length: int) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


@dataclass(frozen=True, slots=True)
class Keys:
    key: bytes
    iv: bytes
    hp: bytes


def initial_keys(dcid: bytes, version: int, server: bool = False) -> Keys | None:
    """The Initial packet protection keys of one side (RFC 9001 §5.2)."""
    known = salt_for(version)
    if known is None:
        return None
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.hmac import HMAC

    salt, prefix = known
    h = HMAC(salt, hashes.SHA256())  # HKDF-Extract(salt, dcid) is HMAC-SHA256 keyed with the salt
    h.update(dcid)
    initial = h.finalize()
    secret = _expand_label(initial, "server in" if server else "client in", 32)
    return Keys(_expand_label(secret, prefix + "key", 16), _expand_label(secret, prefix + "iv", 12),
                _expand_label(secret, prefix + "hp", 16))


def varint(data: bytes, i: int) -> tuple[int, int]:
    """A QUIC variable-length integer at i: (value, next offset); IndexError when cut short."""
    first = data[i]
    n = 1 << (first >> 6)
    if i + n > len(data):
        raise IndexError("varint")
    return int.from_bytes(bytes([first & 0x3F]) + data[i + 1 : i + n], "big"), i + n


@dataclass(slots=True)
class LongHeader:
    version: int
    ptype: int  # 0 Initial, 1 0-RTT, 2 Handshake, 3 Retry (v1 numbering; v2 is mapped onto it)
    dcid: bytes
    scid: bytes
    pn_offset: int  # offset of the packet number in the datagram
    end: int  # offset just after this packet (coalesced packets follow)


V2_TYPES = {1: 0, 2: 1, 3: 2, 0: 3}


def long_header(data: bytes, start: int = 0) -> LongHeader | None:
    """The long header of the packet at `start`, or None (short header, truncated, version negotiation)."""
    try:
        first = data[start]
        if first & 0xC0 != 0xC0:
            return None
        version = int.from_bytes(data[start + 1 : start + 5], "big")
        if version == 0:
            return None
        i = start + 5
        dcid = data[i + 1 : i + 1 + data[i]]
        i += 1 + data[i]
        scid = data[i + 1 : i + 1 + data[i]]
        i += 1 + data[i]
        ptype = (first >> 4) & 3
        if version == V2:
            ptype = V2_TYPES[ptype]
        if ptype == 3:
            return None
        if ptype == 0:
            token_len, i = varint(data, i)
            i += token_len
        length, i = varint(data, i)
        if len(dcid) > 20 or i + length > len(data) or length < 20:
            return None
        return LongHeader(version, ptype, dcid, scid, i, i + length)
    except IndexError:
        return None


def decrypt_initial(packet: bytes, h: LongHeader, keys: Keys) -> bytes | None:
    """The plaintext payload of one Initial packet starting at packet[0] (header protection
    removed, AEAD opened), or None when it does not authenticate."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    pn = h.pn_offset
    sample = packet[pn + 4 : pn + 20]
    if len(sample) < 16:
        return None
    enc = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    first = packet[0] ^ (mask[0] & 0x0F)
    pn_len = (first & 3) + 1
    pn_bytes = bytes(b ^ m for b, m in zip(packet[pn : pn + pn_len], mask[1 : 1 + pn_len], strict=True))
    header = bytes([first]) + packet[1:pn] + pn_bytes
    nonce = (int.from_bytes(keys.iv, "big") ^ int.from_bytes(pn_bytes, "big")).to_bytes(12, "big")
    try:
        return AESGCM(keys.key).decrypt(nonce, packet[pn + pn_len : h.end], header)
    except (InvalidTag, ValueError):
        return None


def crypto_frames(payload: bytes) -> list[tuple[int, bytes]]:
    """(offset, data) of the CRYPTO frames of a decrypted Initial payload; stops at an unknown frame."""
    out: list[tuple[int, bytes]] = []
    i = 0
    try:
        while i < len(payload):
            t = payload[i]
            if t in (0x00, 0x01):  # PADDING, PING
                i += 1
            elif t in (0x02, 0x03):  # ACK: largest, delay, range count, first range, ranges[, ECN counts]
                _largest, i = varint(payload, i + 1)
                _delay, i = varint(payload, i)
                count, i = varint(payload, i)
                _first, i = varint(payload, i)
                for _ in range(min(count, 256) * 2 + (3 if t == 0x03 else 0)):
                    _, i = varint(payload, i)
            elif t == 0x06:
                off, i = varint(payload, i + 1)
                n, i = varint(payload, i)
                out.append((off, payload[i : i + n]))
                i += n
            else:  # CONNECTION_CLOSE or anything else: the rest is not CRYPTO data we can walk
                break
    except IndexError:
        pass
    return out


@dataclass(slots=True)
class CryptoStream:
    """CRYPTO frames of one direction joined by offset until the first handshake message is whole."""

    pieces: dict[int, bytes] = field(default_factory=dict)
    size: int = 0

    def add(self, offset: int, data: bytes) -> None:
        if offset + len(data) <= MAX_CRYPTO and offset not in self.pieces and len(self.pieces) < 64:
            self.pieces[offset] = data
            self.size += len(data)

    def message(self) -> tuple[int, bytes] | None:
        """(handshake type, body) of the first message once its bytes are all here."""
        buf = bytearray()
        for off in sorted(self.pieces):
            if off > len(buf):
                break
            piece = self.pieces[off]
            if off + len(piece) > len(buf):
                buf[off:] = piece
        if len(buf) < 4:
            return None
        n = int.from_bytes(buf[1:4], "big")
        if len(buf) < 4 + n:
            return None
        return buf[0], bytes(buf[4 : 4 + n])


def initial_crypto(
    data: bytes, dcid: bytes | None, server: bool = False
) -> tuple[bytes | None, list[tuple[int, bytes]]]:
    """(DCID used for the keys, CRYPTO frames) of the Initial packets in one datagram.

    `dcid`: the client's first Destination Connection ID when already known (later packets, and
    the server's, are protected with keys from it); None takes it from this datagram.
    """
    frames: list[tuple[int, bytes]] = []
    start = 0
    for _ in range(MAX_PACKETS):
        h = long_header(data, start)
        if h is None:
            break
        if h.ptype == 0:
            packet, rebased = data[start : h.end], _rebased(h, start)
            payload = None
            for cid in dict.fromkeys(c for c in (dcid, h.dcid) if c is not None):  # after a Retry: the new DCID
                keys = initial_keys(cid, h.version, server)
                payload = decrypt_initial(packet, rebased, keys) if keys else None
                if payload is not None:
                    dcid = cid
                    break
            if payload is not None:
                frames.extend(crypto_frames(payload))
        start = h.end
    return dcid, frames


def _rebased(h: LongHeader, start: int) -> LongHeader:
    return LongHeader(h.version, h.ptype, h.dcid, h.scid, h.pn_offset - start, h.end - start)


def gquic_chlo(data: bytes) -> dict[str, bytes]:
    """Tag → value of a Google QUIC (Q043-Q046) client hello, sent in clear: SNI, UAID, VER, AEAD…"""
    i = data.find(b"CHLO", 0, 64)
    if i < 0 or i + 8 > len(data):
        return {}
    n = int.from_bytes(data[i + 4 : i + 6], "little")
    table = i + 8
    values = table + 8 * n
    if n > 64 or values > len(data):
        return {}
    out: dict[str, bytes] = {}
    prev = 0
    for k in range(n):
        e = table + 8 * k
        tag = data[e : e + 4].rstrip(b"\0").decode("latin-1")
        end = int.from_bytes(data[e + 4 : e + 8], "little")
        if end < prev or values + end > len(data):
            break
        out[tag] = data[values + prev : values + end]
        prev = end
    return out
