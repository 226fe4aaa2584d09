"""Cards in hex dumps and in other scripts' digits, and their look-alikes that must stay silent.

A terminal's debug log sends the EMV tags it read and the ISO 8583 request it built as hex dumps
(`5A 08 47 61 …`, a space or a colon between bytes), a support upload holds a request in tcpdump's
`\t0x0010:  3435 3339` lines; a kiosk with a Japanese input method posts the
card in fullwidth digits (`４５３９…`), an Arabic-locale receipt prints Arabic-Indic digits, a Persian
one Extended Arabic-Indic digits, and a .NET service writes a UTF-32 XML export. The bytes are made
here by the standard library (`str.encode`, `bytes.hex`), never by netwatch's decoders. Every card
number is listed in CARD_NUMBERS (for the leak tests).
"""

from __future__ import annotations

import random

from scenario_lib import Clock, TcpConversation, udp

POS = "10.40.1.21"
KIOSK = "10.40.1.30"
LOGHOST = "10.40.9.5"
BACKOFFICE = "10.40.9.6"

CARD_NUMBERS = [
    "4761739001010010",  # enc_hex_dumps: syslog, EMV tags 5A and 57 dumped with spaces (Visa)
    "5186001700008785",  # enc_hex_dumps: syslog, a binary ISO 8583 request dumped with colons (Mastercard)
    "4035501000000008",  # enc_hex_dumps: a JSON request in tcpdump -x lines in an uploaded file (Visa)
    "2222420000001113",  # enc_hex_dumps: hexdump -C lines with their text column, the card over two (Mastercard)
    "3569990010095841",  # enc_unicode_digits: fullwidth digits in a kiosk's JSON (JCB)
    "5500005555555559",  # enc_unicode_digits: Arabic-Indic digits under "card number" in Arabic (Mastercard)
    "4000000760000002",  # enc_unicode_digits: Persian digits, grouped, bare in a note of its own (Visa)
    "6011000991300009",  # enc_unicode_digits: a UTF-32 XML export (Discover)
]

FULLWIDTH = {ord(d): 0xFF10 + int(d) for d in "0123456789"}
ARABIC_INDIC = {ord(d): 0x0660 + int(d) for d in "0123456789"}
PERSIAN = {ord(d): 0x06F0 + int(d) for d in "0123456789"}


def _http(c: TcpConversation, head: bytes, body: bytes) -> None:
    c.send(0, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def _iso_binary(pan: str) -> bytes:
    """A binary ISO 8583 0200 request: MTI and bitmap (fields 2, 3, 4, 11, 41), DE2 (a BCD length byte,
    then the PAN in packed BCD), DE3, DE4 and DE11 in BCD, DE41 the terminal id."""
    return (bytes.fromhex("0200") + bytes.fromhex("7020000000800000") + bytes.fromhex(f"{len(pan):02d}")
            + bytes.fromhex(pan + "0" * (len(pan) & 1)) + bytes(3) + bytes.fromhex("000000001250")
            + bytes.fromhex("004711") + b"TILL0004")


def _emv(pan: str) -> bytes:
    """EMV tags a contactless kernel logs: amount (9F02), PAN (5A), expiry (5F24), track 2 equivalent (57)."""
    track2 = bytes.fromhex(pan + "d2812201" + "00000000000f")
    return (bytes.fromhex("9f0206000000001250") + bytes([0x5A, len(pan) // 2]) + bytes.fromhex(pan)
            + bytes.fromhex("5f2403281231") + bytes([0x57, len(track2)]) + track2)


def _dump(data: bytes, sep: str) -> str:
    return sep.join(f"{b:02X}" for b in data)


def _tcpdump(data: bytes) -> str:
    """`tcpdump -x` lines: an offset, then groups of two bytes, eight groups a line."""
    lines = []
    for off in range(0, len(data), 16):
        row = data[off : off + 16]
        lines.append(f"\t0x{off:04x}:  " + " ".join(row[i : i + 2].hex() for i in range(0, len(row), 2)))
    return "\n".join(lines)


def _hexdump_c(data: bytes) -> str:
    """`hexdump -C` lines: an offset, sixteen bytes in two groups of eight (a short last line padded),
    then the bytes as text between bars."""
    def text(row: bytes) -> str:
        return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)

    def half(row: bytes) -> str:
        return " ".join(f"{b:02x}" for b in row).ljust(23)

    return "\n".join(f"{off:08x}  {half(data[off : off + 8])}  {half(data[off + 8 : off + 16])}  "
                     f"|{text(data[off : off + 16])}|" for off in range(0, len(data), 16))


def enc_hex_dumps() -> list:
    """A terminal's syslog with the EMV tags it read (spaces) and the ISO 8583 request it sent (colons),
    and support uploads of JSON requests in tcpdump -x lines and in hexdump -C lines (with the text
    column), the card across two lines each."""
    clock = Clock()
    pkts = []
    line = f"<134>Dec  8 10:20:01 till04 emvd[311]: TLV {_dump(_emv(CARD_NUMBERS[0]), ' ')}"
    pkts.append(udp(POS, LOGHOST, 51400, 514, line.encode(), clock))
    line = f"<134>Dec  8 10:20:02 till04 posd[312]: TX len=44 data={_dump(_iso_binary(CARD_NUMBERS[1]), ':')}"
    pkts.append(udp(POS, LOGHOST, 51401, 514, line.encode(), clock))
    request = b'{"store":"S1","card_number":"' + CARD_NUMBERS[2].encode() + b'","amount":1250}'
    body = ("till04 debug capture, POST /pay\n" + _tcpdump(request) + "\n").encode()
    c = TcpConversation(POS, BACKOFFICE, 51410, 8080, clock)
    _http(c, b"POST /support/upload HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Type: text/plain\r\n", body)
    c.close()
    pkts += c.packets
    sale = b'{"till":"04","card":"' + CARD_NUMBERS[3].encode() + b'","amount":1250}'
    body = ("till04 sale request as sent\n" + _hexdump_c(sale) + "\n").encode()
    c = TcpConversation(POS, BACKOFFICE, 51411, 8080, clock)
    _http(c, b"POST /support/upload HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Type: text/plain\r\n", body)
    c.close()
    return pkts + c.packets


def enc_unicode_digits() -> list:
    """Fullwidth digits in JSON, Arabic-Indic in an HTML receipt, Persian grouped in a note, UTF-32 XML."""
    clock = Clock()
    c = TcpConversation(KIOSK, BACKOFFICE, 51420, 8080, clock)
    body = ('{"注文":"A-88","card_number":"' + CARD_NUMBERS[4].translate(FULLWIDTH) + '","exp":"１２／２８"}')
    _http(c, b"POST /api/kiosk/pay HTTP/1.1\r\nHost: backoffice.store.example\r\n"
             b"Content-Type: application/json; charset=utf-8\r\n", body.encode())
    c.close()
    pkts = c.packets
    c = TcpConversation(POS, BACKOFFICE, 51421, 8080, clock)
    receipt = ("<html dir=\"rtl\"><body><p>رقم البطاقة: " + CARD_NUMBERS[5].translate(ARABIC_INDIC)
               + "</p><p>المبلغ: ١٢٫٥٠</p></body></html>")
    persian = " ".join(CARD_NUMBERS[6][i : i + 4] for i in range(0, 16, 4)).translate(PERSIAN)
    note = "یادداشت: لطفا با " + persian + " تماس بگیرید"
    _http(c, b"POST /receipts HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Type: text/html; charset=utf-8\r\n",
          receipt.encode())
    c.close()
    pkts += c.packets
    c = TcpConversation(POS, BACKOFFICE, 51423, 8080, clock)
    _http(c, b"POST /notes HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Type: text/plain; charset=utf-8\r\n",
          note.encode())
    c.close()
    pkts += c.packets
    c = TcpConversation(POS, BACKOFFICE, 51422, 8080, clock)
    xml = "<export><sale id=\"9\"><pan>" + CARD_NUMBERS[7] + "</pan><total>8.40</total></sale></export>"
    _http(c, b"POST /export HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Type: application/xml; "
             b"charset=utf-32\r\n", xml.encode("utf-32-le"))
    c.close()
    return pkts + c.packets


def enc_dumps_scripts_lookalikes() -> list:
    """What must stay silent: dumps of binary ISO 8583 (BCD, no card), lists of two-digit numbers, a hex
    dump of text without a number, fullwidth phone and order numbers, Arabic-Indic invoice numbers and
    amounts, a UTF-32 document of prose and dates."""
    clock = Clock()
    rng = random.Random(8)
    pkts = []
    for i in range(20):
        frame = bytes([0x02, 0x00, 0x30, 0x20, 0x05, 0x80, 0x20, 0xC0]) + bytes.fromhex(f"{rng.randrange(10**24):024d}")
        frame += rng.randbytes(12)
        line = f"<134>Dec  8 11:00:{i:02d} till04 posd[311]: TX data={_dump(frame, ' ')}"
        pkts.append(udp(POS, LOGHOST, 51500 + i, 514, line.encode(), clock))
    scores = " ".join(str(rng.randint(20, 39)) for _ in range(40))
    pkts.append(udp(POS, LOGHOST, 51530, 514, f"<134>till04 temps: {scores}".encode(), clock))
    text = _dump(b"till04 ready, drawer closed, printer ok", " ")
    pkts.append(udp(POS, LOGHOST, 51531, 514, f"<134>till04 msg={text}".encode(), clock))
    c = TcpConversation(KIOSK, BACKOFFICE, 51532, 8080, clock)
    phone, order = "0312345678".translate(FULLWIDTH), "2026120800012345".translate(FULLWIDTH)
    body = '{"電話":"' + phone + '","注文番号":"' + order + '","数量":"１２"}'
    invoice = "رقم الفاتورة " + "1234567890123452".translate(ARABIC_INDIC) + " المبلغ ١٢٣٤٥٫٦٧"
    _http(c, b"POST /api/kiosk/order HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Type: application/json\r\n",
          (body + "\n" + invoice).encode())
    c.close()
    pkts += c.packets
    c = TcpConversation(POS, BACKOFFICE, 51533, 8080, clock)
    doc = "<note>Stock count 2026-12-08 12:30, aisle 14, 250 units, ref 20261208123000</note>"
    _http(c, b"POST /export HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Type: application/xml; "
             b"charset=utf-32\r\n", doc.encode("utf-32-le"))
    c.close()
    return pkts + c.packets


SCENARIOS = {
    "enc_hex_dumps": enc_hex_dumps,
    "enc_unicode_digits": enc_unicode_digits,
    "enc_dumps_scripts_lookalikes": enc_dumps_scripts_lookalikes,
}
