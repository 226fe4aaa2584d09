"""ZVT parser: APDU framing (short, extended 0xFF, serial DLE framing), BMP decoding, card fields
in BMP 0x22/0x23 and the TLV container. Assertions compare masked values only."""

from __future__ import annotations

from netwatch.protocols.zvt import apdu_cards, bmps, card_value, looks_like_zvt, split_apdus, tlv, unstuff
from netwatch.redaction.masking import mask_pan

BANCONTACT = "67030000012345677"  # 17 digits: BCD with an F pad
MC = "5555555555554444"


def bcd(d: str) -> bytes:
    return bytes.fromhex(d + "f" * (len(d) & 1))


def llvar(v: bytes) -> bytes:
    return bytes(0xF0 | int(c) for c in f"{len(v):02d}") + v


def masked(cards: list) -> list[tuple[str, str, bool, str]]:
    return [(mask_pan(d), k, e, enc) for d, k, e, enc in cards]


def test_short_and_extended_lengths() -> None:
    big = bytes(300)
    buf = b"\x80\x00\x00" + b"\x04\x0f\xff" + len(big).to_bytes(2, "little") + big + b"\x06\x0f"
    apdus, used = split_apdus(buf)
    assert [(c, i, len(d)) for c, i, d in apdus] == [(0x80, 0, 0), (0x04, 0x0F, 300)]
    assert used == len(buf) - 2  # the incomplete tail waits for more bytes


def test_serial_framing_unstuffed() -> None:
    inner = b"\x06\x01\x07\x04\x00\x00\x00\x00\x10\x00"  # 0x10 in the amount is doubled on the wire
    frame = b"\x10\x02" + inner.replace(b"\x10", b"\x10\x10") + b"\x10\x03\xab\xcd"
    apdus, used = split_apdus(b"\x06" + frame)
    assert apdus == [(0x06, 0x01, inner[3:])] and used == len(frame) + 1
    assert unstuff(b"\x10\x10") == b"\x10"


def test_bmp_walk_stops_at_unknown_tag() -> None:
    data = b"\x04" + bytes.fromhex("000000001250") + b"\x22" + llvar(bcd(MC)) + b"\x99\x01"
    tags = [t for t, _ in bmps(data)]
    assert tags == [0x04, 0x22]


def test_pan_in_bmp22_odd_length_f_padded() -> None:
    data = b"\x27\x00\x22" + llvar(bcd(BANCONTACT)) + b"\x0e\x28\x12"
    assert masked(apdu_cards(data)) == [("670300*******5677", "pan", False, "bcd")]


def test_pan_after_fixed_command_prefix() -> None:
    data = bytes.fromhex("123456") + b"\x00" + b"\x22" + llvar(bcd(MC))  # registration-like prefix first
    assert masked(apdu_cards(data)) == [("555555******4444", "pan", False, "bcd")]


def test_track2_in_nested_tlv_container() -> None:
    track2 = bytes.fromhex("4917610000000000d2812201000000000f")
    inner = b"\x1f\x09" + bytes([len(track2)]) + track2
    container = b"\xe1" + bytes([len(inner)]) + inner
    data = b"\x06" + bytes([len(container)]) + container
    assert [(t, len(v)) for t, v in tlv(container)] == [(0x1F09, len(track2))]
    assert masked(apdu_cards(data)) == [("491761******0000", "track2", True, "bcd")]


def test_masked_pan_is_not_a_card() -> None:
    assert card_value(bytes.fromhex("6703eeeeeeeee567"), "pan") is None
    assert apdu_cards(b"\x22" + llvar(bytes.fromhex("6703eeeeeeeee567"))) == []


def test_recognition() -> None:
    auth = b"\x06\x01\x0a\x04\x00\x00\x00\x00\x12\x50\x49\x09\x78"
    assert looks_like_zvt(auth, False)
    assert looks_like_zvt(b"\x80\x00\x00", True)
    assert not looks_like_zvt(b"\x80\x00\x00", False)  # a bare ACK elsewhere is too weak a sign
    assert not looks_like_zvt(auth + b"\x00", False)  # framing must match exactly
    assert not looks_like_zvt(b"GET / HTTP/1.1\r\n", True)


def test_analyzer_reports_structured_and_printed_cards_once() -> None:
    """A PAN in BMP 0x22 and another printed in clear in a receipt line (06 D1): both found, each once,
    on channel zvt; the generic scanner is kept off the flow (no double report)."""
    import socket

    from netwatch.analyzers import notes
    from netwatch.analyzers.cleartext_cards import CardData
    from netwatch.analyzers.terminal import Terminal
    from netwatch.events import CardData as CardEvent
    from netwatch.events import Event
    from netwatch.flows.table import Flow
    from netwatch.packets.decode import TCP

    flow = Flow(socket.inet_aton("10.0.0.1"), 50000, socket.inet_aton("10.0.0.2"), 20007, TCP, 0.0)
    flow.app, flow.encrypted = "zvt", False
    term = Terminal()
    flow.active = [term, CardData()]
    got: list[Event] = []
    status = b"\x27\x00\x22" + llvar(bcd(MC))
    term.stream(flow, 1, bytes([0x04, 0x0F, len(status)]) + status, 1.0, got.append)
    line = b"\x00Karte 3530 1113 3330 0000"
    term.stream(flow, 1, bytes([0x06, 0xD1, len(line)]) + line, 2.0, got.append)
    term.stream(flow, 1, bytes([0x04, 0x0F, len(status)]) + status[:5], 3.0, got.append)  # incomplete: waits
    assert all(isinstance(o, CardEvent) for o in got)
    assert [(o.masked, o.channel) for o in got if isinstance(o, CardEvent)] == [
        ("555555******4444", "zvt"), ("353011******0000", "zvt")]
    assert notes(flow).cards_claimed_by == "terminal"  # the generic scanner stands down on its next call
    card = flow.active[1]
    card.stream(flow, 1, b"Karte 3530 1113 3330 0000", 4.0, got.append)
    assert [a.name for a in flow.active] == ["terminal"] and len(got) == 2
