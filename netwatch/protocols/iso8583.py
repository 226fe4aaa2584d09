"""ISO 8583 payment messages (sans-IO): framing, TPDU/CUP header, MTI, bitmaps, and the card fields.

Field tables are pyiso8583's 1987 specs (`iso8583.specs.default` with a binary bitmap and
`default_ascii` with a hex-ASCII bitmap); a BCD variant (China UnionPay POS style: BCD MTI, BCD
lengths, numeric fields packed two digits a byte) is derived from them here. pyiso8583 was chosen
over home-made tables because it already handles nibble-counted lengths, pad nibbles and partial
decodes (a `DecodeError` still carries the fields before the failing one, so DE2/DE35 are read even
when a private field further on does not match the 1987 layout).

What this module adds: finding the message (2-byte binary or 4-byte ASCII length, optional TPDU
`60`+4 bytes, optional 6-byte CUP header), choosing the variant by content, and reading DE2, DE14,
DE22, DE35, DE45, DE52, DE55 (EMV tags 5A, 57, 5F24). Nothing here raises on bad bytes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, cast

import iso8583 as pyiso
from iso8583.specs import default as SPEC_BINMAP
from iso8583.specs import default_ascii as SPEC_HEXMAP

from netwatch.protocols.card_numbers import card_brand, split_track1, split_track2
from netwatch.protocols.card_search import Hit

MIN_MSG, MAX_MSG = 12, 8192
SENSITIVE = {"2": "pan", "35": "track2", "45": "track1", "52": "pin_block", "55": "icc"}
# 1987 numeric fields (n, z) plus the CUP numeric LLLVARs (48, 60, 61): packed BCD in the BCD variant.
_NUMERIC = {*range(2, 28), 32, 33, 35, 36, 48, 53, 60, 61}
_PADS = [("0", "0"), ("0", "F")]  # (left, right) pad nibbles tried for odd-length BCD fields, in order


def _bcd_spec(left: str, right: str) -> dict[str, dict[str, Any]]:
    spec = copy.deepcopy(SPEC_BINMAP)
    spec["t"] = {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2}
    for key, fs in spec.items():
        if not key.isdigit() or key == "1":
            continue
        n = int(key)
        len_type = cast(int, fs["len_type"])
        if len_type:
            fs["len_enc"] = "bcd"
            fs["len_type"] = 1 if len_type <= 2 else 2
        if n in _NUMERIC:
            fs["data_enc"] = "b"
            fs["len_count"] = "nibbles"
            fs["left_pad"], fs["right_pad"] = left, right
    return spec


_BCD_SPECS = [_bcd_spec(lp, rp) for lp, rp in _PADS]


@dataclass
class IsoMessage:
    """One decoded message: MTI, fields present, and the raw values of the card fields."""

    mti: str
    variant: str  # ascii | ascii-hexmap | bcd
    header: str  # none | tpdu | tpdu+cup
    fields_present: list[int]
    values: dict[str, str] = field(default_factory=dict)  # decoded card fields (never logged)
    complete: bool = True  # False: a field after the card fields did not parse


def _mti_ok(d: str) -> bool:
    return len(d) == 4 and d.isdigit() and d[0] in "0129" and d[1] in "12345678" and d[2] <= "5" and d[3] <= "5"


def _mti_at(body: bytes, off: int) -> str | None:
    """'ascii', 'bcd' or None: the MTI encoding that fits at `off`, with a plausible bitmap after it."""
    if _mti_ok(body[off : off + 4].decode("latin-1")):
        bm = body[off + 4 : off + 20]
        if len(bm) == 16 and all(c in b"0123456789ABCDEFabcdef" for c in bm):
            return "ascii-hexmap" if bm[:2] != b"00" else None
        bm8 = body[off + 4 : off + 12]
        return "ascii" if len(bm8) == 8 and bm8.count(0) < 7 else None
    if _mti_ok(body[off : off + 2].hex()):
        bm8 = body[off + 2 : off + 10]
        return "bcd" if len(bm8) == 8 and bm8.count(0) < 7 else None
    return None


def frame_length(data: bytes) -> tuple[int, int] | None:
    """(prefix size, message length) of the framing at the start of `data`, or None."""
    if len(data) >= 4 and data[:4].isdigit():
        n = int(data[:4])
        if MIN_MSG <= n <= MAX_MSG:
            return 4, n
    if len(data) >= 2:
        n = int.from_bytes(data[:2], "big")
        if MIN_MSG <= n <= MAX_MSG:
            return 2, n
    return None


def locate(body: bytes) -> tuple[int, str, str] | None:
    """(offset of the MTI, variant, header kind) within one message body, or None."""
    if _v := _mti_at(body, 0):
        return 0, _v, "none"
    if body[:1] == b"\x60":
        for off, hdr in ((5, "tpdu"), (11, "tpdu+cup")):
            if _v := _mti_at(body, off):
                return off, _v, hdr
    return None


def looks_like_iso8583(data: bytes) -> bool:
    """Cheap recogniser for the first payload of a TCP stream: length framing + TPDU/header + MTI + bitmap."""
    try:
        fr = frame_length(data)
        if fr is None:
            return False
        pre, n = fr
        if n > len(data) - pre and len(data) < 256:
            return False  # a short first payload that is shorter than its own length field says
        return locate(data[pre : pre + n]) is not None
    except Exception:  # a recogniser never breaks classification
        return False


def _decode(msg: bytes, variant: str) -> tuple[dict[str, str], bool]:
    specs = [SPEC_BINMAP] if variant == "ascii" else [SPEC_HEXMAP] if variant == "ascii-hexmap" else _BCD_SPECS
    best: dict[str, str] = {}
    for spec in specs:
        try:
            dec, _ = pyiso.decode(msg, spec)
            return dec, True
        except pyiso.DecodeError as e:
            if len(e.doc_dec) > len(best):
                best = {k: v for k, v in e.doc_dec.items() if k != e.field}
        except Exception:  # noqa: S112 - never raise on packet bytes
            continue
    return best, False


def parse_message(body: bytes) -> IsoMessage | None:
    """Decode one deframed message (after the length prefix). None if it is not ISO 8583."""
    try:
        loc = locate(body)
        if loc is None:
            return None
        off, variant, header = loc
        dec, complete = _decode(bytes(body[off:]), variant)
        mti = dec.get("t", "")
        if not _mti_ok(mti):
            return None
        present = sorted(int(k) for k in dec if k.isdigit() and k != "1")
        values = {k: dec[k] for k in ("2", "14", "22", "35", "45", "52", "55") if dec.get(k)}
        return IsoMessage(mti, variant, header, present, values, complete)
    except Exception:
        return None


def split_messages(buf: bytes) -> tuple[list[bytes], int]:
    """Complete framed messages at the start of `buf` and how many bytes they used."""
    out: list[bytes] = []
    pos = 0
    while len(out) < 256:
        fr = frame_length(buf[pos : pos + 4])
        if fr is None:
            break
        pre, n = fr
        if pos + pre + n > len(buf):
            break
        out.append(buf[pos + pre : pos + pre + n])
        pos += pre + n
    return out, pos


def emv_tags(data: bytes, wanted: frozenset[int] = frozenset({0x5A, 0x57, 0x5F24})) -> dict[int, bytes]:
    """Values of the wanted BER-TLV tags in DE55 (constructed tags are descended into)."""
    out: dict[int, bytes] = {}
    stack = [data]
    steps = 0
    while stack and steps < 512:
        buf = stack.pop()
        i = 0
        while i < len(buf) and steps < 512:
            steps += 1
            if buf[i] in (0x00, 0xFF):
                i += 1
                continue
            first = buf[i]
            tag = first
            i += 1
            if first & 0x1F == 0x1F:
                while i < len(buf):
                    tag = (tag << 8) | buf[i]
                    i += 1
                    if not buf[i - 1] & 0x80:
                        break
            if i >= len(buf):
                break
            ln = buf[i]
            i += 1
            if ln & 0x80:
                k = ln & 0x7F
                if k > 2 or i + k > len(buf):
                    break
                ln = int.from_bytes(buf[i : i + k], "big")
                i += k
            val = buf[i : i + ln]
            i += ln
            if first & 0x20:
                stack.append(val)
            elif tag in wanted:
                out.setdefault(tag, val)
    return out


def _hexbytes(value: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        return value.encode("latin-1", "replace")


def card_hits(msg: IsoMessage) -> list[tuple[str, Hit]]:
    """(field, hit) per card in the message's card fields; a card is reported once per kind."""
    enc = "bcd" if msg.variant == "bcd" else "ascii"
    out: list[tuple[str, Hit]] = []
    seen: set[tuple[str, str]] = set()

    def add(fld: str, digits: str, kind: str, encoding: str, expiry: bool) -> None:
        if (digits, kind) in seen or not card_brand(digits, True):
            return
        seen.add((digits, kind))
        out.append((fld, (0, 0, digits, kind, encoding, expiry)))

    v = msg.values
    if "35" in v and (t := split_track2(v["35"])):
        add("35", t[0], "track2", enc, t[1])
    if "45" in v and (t := split_track1(v["45"])):
        add("45", t[0], "track1", "ascii", t[1])
    if "2" in v:
        add("2", v["2"], "pan", enc, False)
    if "55" in v:
        tags = emv_tags(_hexbytes(v["55"]))
        if 0x57 in tags and (t := split_track2(tags[0x57].hex())):
            add("55", t[0], "track2", "bcd", t[1])
        if 0x5A in tags:
            add("55", tags[0x5A].hex().rstrip("f"), "pan", "bcd", False)
    return out
