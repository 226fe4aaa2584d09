"""ZVT (the German ECR ↔ payment-terminal protocol, TCP 20007 and serial-over-TCP): APDU framing,
BMP decoding and the card data inside. Pure functions: bytes in, values out.

APDU: class byte, instruction byte, length (one byte, or 0xFF then two bytes little-endian), data.
The serial transport wraps each APDU in DLE STX … DLE ETX CRC16 with DLE doubled; some gateways
carry that framing over TCP, so it is unwrapped too. The data of most commands is a list of BMPs:
one tag byte, then a fixed length or an LLVAR/LLLVAR whose length digits are sent as 0xF0|digit
bytes. Card data: BMP 0x22 (PAN/EF_ID, packed BCD padded with F), 0x23 (track 2, BCD with a D
separator), 0x2D (track 1), and the TLV container (BMP 0x06: BER-TLV, nested) with the ZVT tags
1F08/1F09 (tracks), 1F1A (PAN) and the EMV tags 5A/57. Sources: the ZVT specification (ECR-Interface
ZVT-Protocol rev. 13, chapters 9.4 and 13) and Wireshark's packet-zvt.c.
"""

from __future__ import annotations

from collections.abc import Iterator

from netwatch.protocols.card_numbers import split_track1, split_track2

CLASSES = {0x04, 0x05, 0x06, 0x08, 0x0F, 0x80, 0x84}
FIXED = {0x01: 1, 0x02: 1, 0x03: 1, 0x04: 6, 0x05: 1, 0x0B: 3, 0x0C: 3, 0x0D: 2, 0x0E: 2, 0x17: 2, 0x19: 1,
         0x27: 1, 0x29: 4, 0x2A: 15, 0x37: 3, 0x3A: 2, 0x3B: 8, 0x3D: 3, 0x49: 2, 0x70: 4, 0x71: 4, 0x72: 1,
         0x73: 1, 0x74: 1, 0x75: 1, 0x87: 2, 0x88: 3, 0x8A: 1, 0x8C: 1, 0xA0: 1, 0xAA: 3, 0xBA: 5, 0xD0: 1,
         0xD2: 1, 0xD3: 1, 0xE0: 1, 0xE9: 1, 0xEA: 1, 0xEB: 8, 0xF0: 1, 0xF9: 1, 0xFA: 1, 0xFB: 1, 0xFC: 1,
         0xFD: 1}
LLVAR = {0x22, 0x23, 0x2D, 0x8B, 0x92, 0xA7, 0xD1, *range(0xE1, 0xE9), *range(0xF1, 0xF9)}
LLLVAR = {0x24, 0x2E, 0x3C, 0x60, 0x9A, 0xAF}
CARD_TAGS = {0x5A: "pan", 0x57: "track2", 0x1F1A: "pan", 0x1F09: "track2", 0x1F08: "track1"}
BMP_CARD = {0x22: "pan", 0x23: "track2", 0x2D: "track1"}
MAX_APDU = 64 * 1024
DLE, STX, ETX = 0x10, 0x02, 0x03

Card = tuple[str, str, bool, str]  # digits, kind (pan/track1/track2), expiry present, encoding (bcd/ascii)


def apdu_length(buf: bytes) -> tuple[int, int] | None:
    """(header length, data length) of the APDU at buf[0], or None while the header is incomplete."""
    if len(buf) < 3:
        return None
    if buf[2] != 0xFF:
        return 3, buf[2]
    if len(buf) < 5:
        return None
    return 5, int.from_bytes(buf[3:5], "little")


def split_apdus(buf: bytes) -> tuple[list[tuple[int, int, bytes]], int]:
    """Complete APDUs (class, instruction, data) at the start of `buf` and the bytes they used."""
    out: list[tuple[int, int, bytes]] = []
    used = 0
    while len(out) < 1024:
        rest = buf[used:]
        if rest[:2] == bytes([DLE, STX]):
            end = _serial_end(rest)
            if end < 0:
                break
            inner = unstuff(rest[2 : end - 4])
            hl = apdu_length(inner)
            if hl is not None and hl[0] + hl[1] == len(inner):
                out.append((inner[0], inner[1], inner[hl[0] :]))
            used += end
            continue
        if rest[:1] in (b"\x06", b"\x15") and len(rest) >= 2 and rest[1] == DLE:  # serial ACK/NAK byte
            used += 1
            continue
        hl = apdu_length(rest)
        if hl is None or len(rest) < hl[0] + hl[1]:
            break
        out.append((rest[0], rest[1], rest[hl[0] : hl[0] + hl[1]]))
        used += hl[0] + hl[1]
    return out, used


def _serial_end(buf: bytes) -> int:
    """Offset just after DLE ETX CRC16 of a serial frame starting with DLE STX, or -1."""
    i = 2
    while i < len(buf) - 1:
        if buf[i] == DLE:
            if buf[i + 1] == ETX:
                return i + 4 if i + 4 <= len(buf) else -1
            i += 2  # DLE DLE (a doubled data byte) or another control pair
        else:
            i += 1
    return -1


def unstuff(data: bytes) -> bytes:
    return data.replace(b"\x10\x10", b"\x10")


def looks_like_zvt(data: bytes, port_hint: bool) -> bool:
    """A first payload that is exactly one or more well-formed APDUs of a known class (or a serial frame)."""
    if data[:2] == bytes([DLE, STX]):
        return _serial_end(data) > 0
    if len(data) < 3 or data[0] not in CLASSES:
        return False
    apdus, used = split_apdus(data)
    if not apdus or used != len(data):
        return False
    cls, instr, body = apdus[0]
    if port_hint:
        return True
    return (cls, instr) in ((0x06, 0x01), (0x06, 0x00), (0x04, 0x0F), (0x06, 0x0F), (0x06, 0xD1), (0x06, 0xD3),
                            (0x05, 0x01), (0x06, 0x30), (0x06, 0x31), (0x06, 0x50)) and len(body) >= 3


def _var_length(data: bytes, i: int, digits: int) -> tuple[int, int]:
    """An LLVAR/LLLVAR length sent as F-nibble-prefixed digits: (length, offset of the value)."""
    head = data[i : i + digits]
    if len(head) != digits or any(b >> 4 != 0xF or b & 0x0F > 9 for b in head):
        raise ValueError("var length")
    return int("".join(str(b & 0x0F) for b in head)), i + digits


def bmps(data: bytes, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(tag, value) of the BMPs from `start` until the data ends or a tag is unknown."""
    i = start
    while i < len(data):
        tag = data[i]
        i += 1
        if tag in FIXED:
            n = FIXED[tag]
        elif tag in LLVAR or tag in LLLVAR:
            try:
                n, i = _var_length(data, i, 2 if tag in LLVAR else 3)
            except ValueError:
                return
        elif tag == 0x06:
            try:
                n, i = ber_length(data, i)
            except IndexError:
                return
        else:
            return
        if i + n > len(data):
            return
        yield tag, data[i : i + n]
        i += n


def ber_length(data: bytes, i: int) -> tuple[int, int]:
    n = data[i]
    if n < 0x80:
        return n, i + 1
    k = n & 0x7F
    if not 1 <= k <= 2 or i + 1 + k > len(data):
        raise IndexError("BER length")
    return int.from_bytes(data[i + 1 : i + 1 + k], "big"), i + 1 + k


def tlv(data: bytes, depth: int = 0) -> Iterator[tuple[int, bytes]]:
    """Primitive (tag, value) pairs of a ZVT TLV container, constructed tags walked (bounded depth)."""
    i = 0
    while i < len(data) and depth < 4:
        first = data[i]
        tag, i = first, i + 1
        if first & 0x1F == 0x1F:
            while i < len(data) and data[i] & 0x80 and tag < 1 << 24:
                tag, i = tag << 8 | data[i], i + 1
            if i >= len(data):
                return
            tag, i = tag << 8 | data[i], i + 1
        try:
            n, i = ber_length(data, i)
        except IndexError:
            return
        value = data[i : i + n]
        if len(value) != n:
            return
        i += n
        if first & 0x20:
            yield from tlv(value, depth + 1)
        else:
            yield tag, value


def card_value(value: bytes, kind: str) -> Card | None:
    """Digits of a card field: packed BCD (F-padded; a D nibble before a track's expiry), else ASCII.
    BCD first: its bytes can be printable (0x55 0x44 is "UD"), while ASCII digits are too long as BCD."""
    nibbles = value.hex().rstrip("f")
    if kind == "pan" and nibbles.isdigit() and len(nibbles) <= 19:
        return nibbles, "pan", False, "bcd"
    if kind == "track2" and (parsed := split_track2(nibbles)) and parsed[0].isdigit():
        return parsed[0], "track2", parsed[1], "bcd"
    if not value or not all(0x20 <= b < 0x7F for b in value):
        return None
    text = value.decode("ascii")
    if kind == "track1":
        parsed = split_track1(text)
    elif kind == "track2":
        parsed = split_track2(text.strip(";?"))
    else:
        parsed = (text, False) if text.isdigit() else None
    return (parsed[0], kind, parsed[1], "ascii") if parsed else None


def apdu_cards(data: bytes) -> list[Card]:
    """Card data in the BMPs of one APDU's data (also after a fixed command prefix, by looking for
    the BMP 0x22/0x23 markers), and in its TLV containers."""
    starts = [0] + [i for i in range(1, len(data) - 3) if data[i] in (0x22, 0x23) and data[i + 1] >> 4 == 0xF
                    and data[i + 2] >> 4 == 0xF][:16]
    out: list[Card] = []
    for s in starts:
        for tag, value in bmps(data, s):
            if tag in BMP_CARD:
                c = card_value(value, BMP_CARD[tag])
            elif tag == 0x06:
                out.extend(c for c in tlv_cards(value) if c not in out)
                continue
            else:
                continue
            if c is not None and c not in out:
                out.append(c)
    return out


def tlv_cards(container: bytes) -> list[Card]:
    out: list[Card] = []
    for tag, value in tlv(container):
        kind = CARD_TAGS.get(tag)
        if kind is not None and (c := card_value(value, kind)) is not None and c not in out:
            out.append(c)
    return out
