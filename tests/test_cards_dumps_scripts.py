"""Cards written as hex dumps, in other scripts' digits and in UTF-32: found, judged in what the dump
or the digits say, held when cut at a chunk's end, overwritten by the evidence floor; and what looks
like them stays silent.

The encoded forms are made here with the standard library (str.encode, bytes.hex), never with
netwatch's decoders. Assertions compare masked values only; no test prints a full card number.
"""

from __future__ import annotations

import random

import pytest

from netwatch.protocols.card_context import BufferJudge
from netwatch.protocols.card_search import scan
from netwatch.redaction.floor import find, holds_card
from netwatch.redaction.masking import mask_pan

VISA = "4539578763621486"
MC = "5186001700008785"
FULLWIDTH = {ord(d): 0xFF10 + int(d) for d in "0123456789"}
ARABIC_INDIC = {ord(d): 0x0660 + int(d) for d in "0123456789"}
PERSIAN = {ord(d): 0x06F0 + int(d) for d in "0123456789"}


def spaced(data: bytes, sep: str = " ", upper: bool = False) -> bytes:
    return sep.join(f"{b:02X}" if upper else f"{b:02x}" for b in data).encode()


def tcpdump_x(data: bytes) -> bytes:
    """`tcpdump -x`: an offset, then eight groups of two bytes a line."""
    lines = []
    for off in range(0, len(data), 16):
        row = data[off : off + 16]
        lines.append(f"\t0x{off:04x}:  " + " ".join(row[i : i + 2].hex() for i in range(0, len(row), 2)))
    return "\n".join(lines).encode()


def groups(digits: str, sep: str = " ") -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def found(buf: bytes) -> list[tuple[str, str, str]]:
    """(kind, encoding, masked) per hit: safe to show."""
    return [(h[3], h[4], mask_pan(h[2])) for h in scan(buf)[0]]


def emv(pan: str) -> bytes:
    return bytes.fromhex("9f0206000000001250") + bytes([0x5A, 8]) + bytes.fromhex(pan) + bytes.fromhex("5f2403281231")


def iso_binary(pan: str) -> bytes:
    """0200 with fields 2, 3, 4, 11, 41: DE2 a BCD length byte and the packed PAN."""
    return (bytes.fromhex("02007020000000800000") + bytes([0x16]) + bytes.fromhex(pan) + bytes(3)
            + bytes.fromhex("000000001250004711") + b"TILL0004")


@pytest.mark.parametrize(
    ("buf", "encoding"),
    [
        (b"TX data=" + spaced(VISA.encode()) + b"\n", "hex"),
        (b"TX data=" + spaced(VISA.encode(), ":", upper=True), "hex"),
        (b"dump " + spaced(VISA[:8].encode()) + b"  " + spaced(VISA[8:].encode()), "hex"),  # Wireshark's 8 + 8
        (b"0x0010:  " + b" ".join(VISA[i : i + 2].encode().hex().encode() for i in range(0, 16, 2)), "hex"),
        (b"req:\n" + tcpdump_x(b'{"id":77,"store":"S1","pan":"' + VISA.encode() + b'"}'), "hex"),  # across lines
        (b"TLV " + spaced(emv(VISA), upper=True), "hex+bcd"),
        (b"TX " + spaced(iso_binary(VISA), ":"), "hex+bcd"),
        (b"TX " + spaced(VISA.encode("utf-16-le")), "hex+utf16"),
        (b"TX " + spaced(VISA.encode("cp500")), "hex+ebcdic"),
        (VISA.encode("utf-32-le"), "utf32"),
        (b"\x01\x02" + VISA.encode("utf-32-be") + b"\x00", "utf32"),
        (('{"card_number":"' + VISA.translate(FULLWIDTH) + '"}').encode(), "unicode-digits"),
        (("カード：" + groups(VISA, "\u3000").translate(FULLWIDTH)).encode(), "unicode-digits"),
        (("番号 " + groups(VISA, "－").translate(FULLWIDTH)).encode(), "unicode-digits"),
        (("رقم البطاقة " + VISA.translate(ARABIC_INDIC)).encode(), "unicode-digits"),
        (groups(VISA).translate(PERSIAN).encode(), "unicode-digits"),
        ((VISA[:4] + VISA[4:].translate(FULLWIDTH)).encode(), "unicode-digits"),  # an input method switched midway
    ],
)
def test_each_form_found_once(buf: bytes, encoding: str) -> None:
    hits = found(buf)
    assert [h[1] for h in hits] == [encoding], hits
    assert hits[0][2] == mask_pan(VISA)


@pytest.mark.parametrize(
    "buf",
    [
        b"temps: " + b" ".join(str(30 + n % 10).encode() for n in range(1, 18)),
        b"msg=" + spaced(b"till04 ready, drawer closed, printer ok"),
        b"mac 00:1a:2b:3c:4d:5e gw 2001:0db8:85a3:0000:0000:8a2e:0370:7334 fp " + spaced(bytes(range(16)), ":"),
        ("電話 " + "0312345678".translate(FULLWIDTH) + " 注文 " + "2026120800012345".translate(FULLWIDTH)).encode(),
        ("الفاتورة " + "1234567890123452".translate(ARABIC_INDIC) + " المبلغ ١٢٣٤٥٫٦٧").encode(),
        "<note>Stock count 2026-12-08, ref 20261208123000</note>".encode("utf-32-le"),
        b"hex " + VISA.encode().hex().encode()[:-2] + b" 3",  # a number cut short is no card
    ],
    ids=["two-digit-numbers", "dump-of-text", "mac-ipv6-fingerprint", "fullwidth-ids", "arabic-invoice", "utf32-prose",
         "cut-hex"],
)
def test_lookalikes_do_not_fire(buf: bytes) -> None:
    assert found(buf) == []


def test_dumps_of_random_binary_stay_silent() -> None:
    """Dumps of 20,000 random frames (ISO 8583-like heads, BCD-heavy bodies): nothing above `low` (a
    track-shaped BCD run in bytes with no payment structure, as in a binary payload)."""
    rng = random.Random(8583)
    verdicts = []
    for _ in range(20_000):
        frame = bytes.fromhex("02003020058020c0") + bytes.fromhex(f"{rng.randrange(10**24):024d}") + rng.randbytes(12)
        line = b"TX data=" + spaced(frame)
        judge = BufferJudge(line)
        verdicts += [judge(h, "datagram").confidence for h in scan(line)[0]]
    assert set(verdicts) <= {"none", "low"} and verdicts.count("low") <= 3


@pytest.mark.parametrize(
    ("buf", "confidence"),
    [
        (b"TLV " + spaced(emv(VISA)), "high"),  # EMV tags follow the number
        (b"TX " + spaced(iso_binary(VISA), ":"), "high"),  # the dump is an ISO 8583 message
        (b"TX " + spaced(bytes([0x77, 0x16]) + bytes.fromhex(VISA) + bytes([0x99, 1, 0xEE])), "none"),  # no structure
        (b"req:\n" + tcpdump_x(b'{"id":77,"store":"S1","card_number":"' + VISA.encode() + b'"}'), "high"),  # its key
        (('{"card_number":"' + VISA.translate(FULLWIDTH) + '"}').encode(), "high"),
        (f"<pan>{VISA}</pan>".encode("utf-32-le"), "high"),  # the tag is read in the decoded text
        (groups(VISA).translate(PERSIAN).encode(), "medium"),  # bare
    ],
    ids=["emv", "iso8583", "bcd-no-structure", "tcpdump-json-key", "fullwidth-key", "utf32-tag", "persian-bare"],
)
def test_judged_in_what_the_encoding_says(buf: bytes, confidence: str) -> None:
    hits = scan(buf)[0]
    assert len(hits) == 1
    assert BufferJudge(buf)(hits[0], "datagram").confidence == confidence


@pytest.mark.parametrize(
    "buf",
    [
        b"TX data=" + spaced(VISA.encode()),
        b"TLV " + spaced(emv(VISA)),
        b"req:\n" + tcpdump_x(b'{"id":77,"store":"S1","pan":"' + VISA.encode() + b'"}'),
        ("x " + VISA.translate(FULLWIDTH)).encode(),
        b"\x01" + VISA.encode("utf-32-le"),
    ],
    ids=["hex-dump", "emv-dump", "tcpdump-lines", "fullwidth", "utf32"],
)
def test_a_run_at_the_end_is_held_for_the_next_chunk(buf: bytes) -> None:
    """Cut inside, once the part is long enough to be read, the run is held back from its start (it may
    go on); shorter parts stay within the tail every stream keeps (MIN_TAIL). Whole, it is found."""
    from netwatch.analyzers.cleartext_cards import MIN_TAIL

    start = scan(buf)[0][0][0]
    for cut in range(start + 1, len(buf) - 1):
        hits, hold = scan(buf[:cut])
        assert hold <= start or cut - start <= MIN_TAIL, cut
    assert found(buf)[0][2] == mask_pan(VISA)


@pytest.mark.parametrize(
    "buf",
    [
        b"TX data=" + spaced(VISA.encode()),
        b"TX data=" + spaced(VISA.encode(), ":"),
        VISA.encode("utf-32-le"),
        VISA.encode("utf-32-be"),
        VISA.translate(FULLWIDTH).encode(),
        VISA.translate(ARABIC_INDIC).encode(),
        groups(MC).translate(PERSIAN).encode(),
    ],
    ids=["hex-spaces", "hex-colons", "utf32le", "utf32be", "fullwidth", "arabic-indic", "persian-grouped"],
)
def test_the_evidence_floor_overwrites_them(buf: bytes) -> None:
    """The floor under evidence redaction reads these forms too, and what it writes holds no card."""
    assert holds_card(buf)
    out = bytearray(buf)
    for s, e, rep in find(buf):
        assert len(rep) == e - s
        out[s:e] = rep
    assert len(out) == len(buf) and not holds_card(bytes(out)) and found(bytes(out)) == []


@pytest.mark.parametrize(
    ("label", "confidence"),
    [
        ("رقم البطاقة: ", "high"), ("カード番号：", "high"), ("卡号 ", "high"), ("신용카드 ", "high"),
        ("Номер карты ", "high"), ("номер карты: ", "high"), ("شماره کارت ", "high"),
        ("بطاقة هدية ", "medium"), ("ポイントカード ", "medium"), ("会员卡 ", "medium"),  # gift, point, member card
    ],
)
def test_card_labels_in_other_scripts(label: str, confidence: str) -> None:
    """"card number" or "credit card" in the shop's own script is card context; a gift, point or
    member card is not. The number in ASCII or in the script's digits alike."""
    for number in (VISA, VISA.translate(ARABIC_INDIC), VISA.translate(FULLWIDTH)):
        buf = (label + number).encode()
        hits = scan(buf)[0]
        assert len(hits) == 1 and BufferJudge(buf)(hits[0], "http-body").confidence == confidence


def test_digit_groups_of_a_dump_line_are_its_hex_text() -> None:
    """In tcpdump's layout, four all-decimal groups after the offset look like a grouped card (one line
    in ~2,000 of random bytes, 2 in 10 MB before); they are hex text, and the dump's bytes are read
    decoded. The same groups in a sentence are still a card."""
    groups = " ".join(VISA[i : i + 4] for i in range(0, 16, 4)).encode()
    for line in (b"\t0x0070:  " + groups + b"\n", b"00000070  " + groups + b"\n"):
        hits = scan(line)[0]
        assert len(hits) == 1 and BufferJudge(line)(hits[0], "http-body").confidence == "none"
    for text in (b"paid with " + groups + b"\n", b"ABCD " + groups + b"\n"):  # one space: no dump offset
        assert BufferJudge(text)(scan(text)[0][0], "http-body").confidence == "medium"


def _text(row: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)


def hexdump_c(data: bytes) -> bytes:
    """`hexdump -C`: offset, 8 + 8 bytes (a short line padded), the text between bars."""
    def half(row: bytes) -> str:
        return " ".join(f"{b:02x}" for b in row).ljust(23)
    return "\n".join(f"{o:08x}  {half(data[o : o + 8])}  {half(data[o + 8 : o + 16])}  |{_text(data[o : o + 16])}|"
                     for o in range(0, len(data), 16)).encode()


def xxd(data: bytes) -> bytes:
    """`xxd`: offset and colon, eight groups of two bytes, two spaces, the text."""
    def groups(o: int) -> str:
        return " ".join(data[i : i + 2].hex() for i in range(o, min(o + 16, len(data)), 2)).ljust(39)
    return "\n".join(f"{o:08x}: {groups(o)}  {_text(data[o : o + 16])}" for o in range(0, len(data), 16)).encode()


def tcpdump_xx(data: bytes) -> bytes:
    """`tcpdump -X`: tcpdump -x's lines with the text after two spaces."""
    return "\n".join(f"\t0x{o:04x}:  " + " ".join(data[i : i + 2].hex() for i in range(o, min(o + 16, len(data)), 2))
                     .ljust(39) + "  " + _text(data[o : o + 16]) for o in range(0, len(data), 16)).encode()


@pytest.mark.parametrize("dump", [hexdump_c, xxd, tcpdump_xx], ids=["hexdump-C", "xxd", "tcpdump-X"])
def test_dumps_with_a_text_column_join_their_lines(dump) -> None:  # noqa: ANN001
    """At every position of the card in the dumped request (over two lines, or within one): found once,
    high by its key; masked for evidence, no seven of its digits in a row are left (the text columns
    hold them a line at a time)."""
    from netwatch.redaction.packets import mask_cards

    for shift in range(16):
        buf = b"sale request:\n" + dump(b"\0" * shift + b'{"till":"04","card":"' + VISA.encode() + b'"}') + b"\nend\n"
        hits = scan(buf)[0]
        assert [mask_pan(h[2]) for h in hits] == [mask_pan(VISA)], shift
        assert BufferJudge(buf)(hits[0], "http-body").confidence == "high", shift
        masked = bytearray(buf)
        mask_cards(masked, [])
        assert len(masked) == len(buf)
        assert not any(VISA[i : i + 7].encode() in masked for i in range(len(VISA) - 6)), shift
