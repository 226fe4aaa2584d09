"""Card verdicts by context (issue 22): look-alikes built from their own structure (IBANs with
mod-97 check digits, GS1 keys with their check digit, hex tokens, MIME boundaries) are found by the
scanner but never judged high; true cards in card context are high; bare ones are a possible card.

The look-alikes are drawn until the card scanner hits them (so each case is one the old code
reported as a card), with seeded randomness: failures name the seed, never a number.
"""

from __future__ import annotations

import base64
import json
import random
import sys
from pathlib import Path

import pytest

from netwatch.capture import Frame
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import Session
from netwatch.protocols.card_context import REJUDGE, BufferJudge, judge
from netwatch.protocols.card_dns import scan_dns_name
from netwatch.protocols.card_numbers import card_brand
from netwatch.protocols.card_search import scan
from netwatch.protocols.lookalikes import IBAN_LENGTH, gs1_key, iban_ok, key_class

sys.path.insert(0, str(Path(__file__).parents[1] / "captures"))
from scenario_lib import Clock, TcpConversation  # noqa: E402

SEPA = ["AT", "BE", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IS", "LI", "LT", "LU",
        "MC", "NO", "PL", "PT", "SE", "SI", "SK", "SM"]  # numeric BBANs
PAYMENT_NEAR = b'"payment": {"scheme": "VISA", "expiry": "12/28", "method": "Kreditkarte"}'


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _luhn(body: str) -> str:
    for c in "0123456789":
        if card_brand(body + c) or _luhn_ok(body + c):
            return body + c
    raise AssertionError


def _luhn_ok(d: str) -> bool:
    total = sum(int(c) if i % 2 == 0 else (2 * int(c) - 9 if int(c) > 4 else 2 * int(c))
                for i, c in enumerate(reversed(d)))
    return total % 10 == 0


def make_iban(rng: random.Random, cc: str) -> str:
    bban = _digits(rng, IBAN_LENGTH[cc] - 4)
    check = 98 - int("".join(str(int(c, 36)) for c in bban + cc + "00")) % 97
    return f"{cc}{check:02d}{bban}"


def make_gs1(rng: random.Random, body: str) -> str:
    total = sum((3 if i % 2 == 0 else 1) * int(c) for i, c in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def verdicts(text: bytes) -> list[tuple[str, str]]:
    return [(v.confidence, v.reason) for h in scan(text)[0]
            for v in [judge(text, h[0], h[1], h[2], h[3], h[4], "http-body")]]


def card_shaped(make, rng: random.Random, wrap, want: int = 40, tries: int = 200_000) -> list[bytes]:
    """`want` texts `wrap(make(rng))` in which the card scanner finds a card."""
    out: list[bytes] = []
    for _ in range(tries):
        text = wrap(make(rng))
        if scan(text)[0]:
            out.append(text)
            if len(out) == want:
                return out
    raise AssertionError(f"only {len(out)} card-shaped look-alikes drawn")


def test_iban_and_gs1_checks_follow_their_standards() -> None:
    rng = random.Random(1)
    for cc in SEPA:
        iban = make_iban(rng, cc)
        assert iban_ok(iban)
        bad = iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:]
        assert not iban_ok(bad)
    assert gs1_key(make_gs1(rng, "400638133393")) == "GTIN-13"
    assert gs1_key("4006381333932") is None


@pytest.mark.parametrize("grouped", [False, True], ids=["compact", "grouped"])
def test_card_shaped_ibans_are_never_cards(grouped: bool) -> None:
    """About 1 in 20 Austrian and German IBANs holds a brand-valid, Luhn-valid digit run."""
    rng = random.Random(22)

    def wrap(iban: str) -> bytes:
        shown = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if grouped else iban
        return b'{"debtor": {"iban": "' + shown.encode() + b'"}, ' + PAYMENT_NEAR + b"}"

    texts = card_shaped(lambda r: make_iban(r, r.choice(SEPA)), rng, wrap)
    for text in texts:
        got = verdicts(text)
        assert got and all(c == "none" and "IBAN" in why for c, why in got), got
    # the same IBAN in a mail sentence next to card words: still part of an IBAN
    for text in texts[:10]:
        iban = json.loads(text)["debtor"]["iban"]
        assert all(c == "none" for c, _ in verdicts(f"Kreditkarte abgelehnt, bitte IBAN {iban} belasten".encode()))


def test_gs1_keys_in_a_basket_are_never_cards() -> None:
    """EAN-13 of German prefixes (13-digit 'Visa'), GTIN-14 and SSCC in a basket with a payment section."""
    rng = random.Random(7)

    def make(r: random.Random) -> str:
        kind = r.random()
        if kind < 0.5:
            return make_gs1(r, str(r.randint(400, 440)) + _digits(r, 9))
        if kind < 0.8:
            return make_gs1(r, str(r.randint(1, 8)) + str(r.randint(300, 440)) + _digits(r, 9))
        return make_gs1(r, str(r.randint(3, 9)) + _digits(r, 16))

    def wrap(key: str):
        return lambda code: (b'{"items": [{"' + key.encode() + b'": "' + code.encode()
                             + b'", "qty": 2, "price": 1.29}], ' + PAYMENT_NEAR + b"}")

    for key in ("ean", "gtin", "barcode", "sku"):
        for text in card_shaped(make, rng, wrap(key), want=20):
            got = verdicts(text)
            assert got and all(c == "none" for c, _ in got), got
    receipt = card_shaped(make, rng, lambda code: f"{code}  Milch 1L  2 Stk x 1,29\nKartenzahlung VISA".encode())
    for text in receipt:
        assert all(c == "none" for c, _ in verdicts(text))


def test_card_digits_inside_longer_tokens_are_not_cards() -> None:
    rng = random.Random(3)
    for _ in range(50):
        pan = _luhn("4" + _digits(rng, 14))
        for text in (
            f"sha256={rng.randbytes(4).hex()}{pan}a{rng.randbytes(6).hex()}",  # hex digest
            f"id {rng.randbytes(4).hex()}-{rng.randbytes(2).hex()}-{pan[:4]}-{pan}",  # UUID-shaped
            f'Content-Type: multipart/mixed; boundary="==============={_luhn("5" + _digits(rng, 14))}0123=="',
            f"Message-ID: <{pan}.1700000000@mail.example>",
            f"X-Forefront-Antispam-Report: SFS:({pan})(4636009); card payment",
            f'{{"X-Microsoft-Antispam": "BCL:0;ARA:13230040|{pan}|366016;", "scheme": "VISA"}}',  # in a JSON body
            f"X-Microsoft-Antispam: BCL:0;ARA:13230040|366016=\r\n|{pan}|1800799024;\r\nZahlung per Kreditkarte",  # QP
            f"amount {pan}.00 EUR card",
        ):
            assert all(c == "none" for c, _ in verdicts(text.encode())), text.replace(pan, "<pan>")


def test_mime_boundary_lines_are_not_cards_in_any_layer() -> None:
    """Python's email boundaries (15 '=', 19 digits, '==') one after another: the quoted-printable
    decoder reads '=28…' as an escape and finds digit runs; the verdict must see through that."""
    rng = random.Random(19)
    shapes = ["--==============={}==", "==============={}==",
              'Content-Type: multipart/mixed; boundary="==============={}=="']
    lines = [shapes[i % 3].format(_digits(rng, 19)) for i in range(3000)]
    text = ("\r\n".join(lines) + "\r\nKartenzahlung VISA\r\n").encode()
    got = [(h[4], judge(text, h[0], h[1], h[2], h[3], h[4], "http-body").confidence) for h in scan(text)[0]]
    assert got and {c for _e, c in got} == {"none"}, [g for g in got if g[1] != "none"][:5]


@pytest.mark.parametrize("template", [
    '{{"pan": "{}"}}', '{{"card": {{"number": "{}", "cvc": "123"}}}}', "card[number]={}&card[exp_month]=12",
    "<PAN>{}</PAN>", "Kartennummer: {}", "ccnum;name\r\n{};Erika Mustermann", "Bezahlt mit VISA {}",
    '{{"cards": ["{}"]}}', "%B{}^MUSTERMANN/ERIKA^2812101000000000?",
    "GET /api/v2/cards/{}/receipt HTTP/1.1", "GET http://pos.example/pan/{}?v=1 HTTP/1.1",
])
def test_true_cards_in_card_context_are_high(template: str) -> None:
    rng = random.Random(template)
    for _ in range(20):
        prefix = rng.choice(["4", "51", "2221", "6011", "3530"])
        pan = _luhn(prefix + _digits(rng, 15 - len(prefix)))
        assert card_brand(pan)
        got = verdicts(template.format(pan).encode())
        assert got and all(c == "high" for c, _ in got), (template, got)


def test_bare_and_other_numbers_rank_lower_with_a_reason() -> None:
    pan16, pan13 = "4111111111111111", "4222222222222"
    assert verdicts(f"siehe {pan16}\n".encode()) == [("medium", "bare number, no card keyword nearby")]
    assert verdicts(f"x {pan16[:4]} {pan16[4:8]} {pan16[8:12]} {pan16[12:]}\n".encode())[0][0] == "medium"
    assert verdicts(f"siehe {pan13}\n".encode())[0][0] == "none"  # 13 digits only in card context
    assert verdicts(f"{{\"pan\": \"{pan13}\"}}".encode())[0][0] == "high"
    assert verdicts(f'{{"loyaltyCardNumber": "{pan16}"}}'.encode()) == [
        ("low", "field 'loyaltyCardNumber' names another kind of number")]
    assert verdicts(f"GET /orders/{pan16}/status HTTP/1.1".encode())[0][0] == "medium"  # a path names its ids
    assert verdicts(f"GET /loyalty-cards/{pan16} HTTP/1.1".encode())[0][0] == "low"
    assert key_class("company") is None and key_class("paymentCardNumber") == "card"
    assert key_class("giftCard") == key_class("customer_card_no") == "other"


def test_packed_bcd_in_binary_data_needs_payment_structure() -> None:
    """BCD-looking bytes inside JPEG data are not cards; the same digits between EMV tags are."""
    rng = random.Random(11)
    jpeg_hits = emv_hits = 0
    for _ in range(300):
        pan = _luhn("4" + _digits(rng, 14))
        noise = rng.randbytes(rng.randint(40, 400))
        for field in (b"\x16" + bytes.fromhex(pan), b"\x5a\x08" + bytes.fromhex(pan)):
            jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + noise + field + rng.randbytes(200)
            for h in scan(jpeg)[0]:
                if h[2] == pan and h[4] == "bcd":
                    jpeg_hits += 1
                    assert judge(jpeg, h[0], h[1], h[2], h[3], h[4], "http-body").excluded
        emv = noise + b"\x70\x1a\x5a\x08" + bytes.fromhex(pan) + b"\x5f\x24\x03\x28\x12\x31" + noise
        for h in scan(emv)[0]:
            if h[2] == pan:
                emv_hits += 1
                assert judge(emv, h[0], h[1], h[2], h[3], h[4], "stream").confidence == "high"
    assert jpeg_hits > 100 and emv_hits > 100  # the scanner did see them: the verdict decided


def _mime_base64(text: bytes) -> bytes:
    return b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(text).replace(b"\n", b"\r\n")


@pytest.mark.parametrize("name,wrap,want", [
    ("mime base64, label inside", lambda p: _mime_base64(b"x" * 100 + b"\nKartennummer: " + p + b"\n"), "high"),
    ("mime base64, csv column", lambda p: _mime_base64(b"id;card_number;name\n" + b"7;" + p + b";Erika\n"), "high"),
    ("mime base64, bare", lambda p: _mime_base64(b"y" * 100 + b"\nsiehe " + p + b" bitte\n"), "medium"),
    ("cookie base64 value", lambda p: b"Cookie: card=" + base64.b64encode(p) + b"; x=1\r\n", "high"),
    ("smtp login base64", lambda p: b"AUTH LOGIN\r\n" + base64.b64encode(p + b"@shop.example") + b"\r\n"
     + base64.b64encode(b"secret-pw") + b"\r\n", "low"),
    ("quoted-printable", lambda p: b"Kartennummer: " + p[:7] + b"=\r\n" + p[7:] + b"\r\n", "high"),
    ("json escape", lambda p: b'{"pan": "\\u003' + p[:1] + p[1:] + b'"}', "high"),
    ("html entity", lambda p: b"<td>Kartennummer</td><td>&#" + str(p[0]).encode() + b";" + p[1:] + b"</td>", "high"),
    ("form plus", lambda p: b"cardnumber=" + b"+".join(p[i : i + 4] for i in range(0, 16, 4)) + b"&x=1", "high"),
])
def test_encoded_numbers_are_judged_by_their_decoded_context(name: str, wrap, want: str) -> None:  # noqa: ANN001
    pan = b"4111111111111111"
    text = wrap(pan)
    hits = [h for h in scan(text)[0] if h[2] == pan.decode()]
    got = [judge(text, h[0], h[1], h[2], h[3], h[4], "http-body").confidence for h in hits]
    assert got and set(got) == {want}, (name, got)


def test_ibans_in_a_base64_attachment_cut_into_segments_are_not_cards() -> None:
    """A stream judge sees a base64 block from mid-line (the kept bytes): it realigns on a line."""
    rng = random.Random(76)
    ibans = [json.loads(t)["debtor"]["iban"] for t in card_shaped(
        lambda r: make_iban(r, r.choice(["AT", "DE"])), rng,
        lambda i: b'{"debtor": {"iban": "' + i.encode() + b'"}}', want=30)]
    csv = "iban;name;amount\n" + "".join(f"{i};Kunde {n};12,90\n" for n, i in enumerate(ibans * 4))
    mail = b"DATA\r\nSubject: ELV\r\n\r\n" + _mime_base64(csv.encode()) + b"\r\n.\r\n"
    conv = TcpConversation("10.20.1.15", "10.20.9.25", 50901, 25, Clock())
    conv.send(0, mail, mss=300)
    conv.close()
    session = Session(RuleSet.load([]), None, "ctx")
    for p in conv.packets:
        raw = bytes(p)
        session.feed(Frame(float(p.time), 1, raw, len(raw)))
    assert [f.rule for f in session.close().findings if f.category == "card-data"] == []


def test_a_word_naming_another_number_outranks_card_words_nearby() -> None:
    """Mail prose: 'IMEI 30…' or 'Payback-Karte 5032…' next to 'Kreditkarte' is not a card."""
    rng = random.Random(9)
    lines = []
    kinds = [("IMEI", "30"), ("Payback-Karte", "5032"), ("loyaltyCard", "4871"), ("Bestellnummer", "51")]
    for i in range(40):
        key, prefix = kinds[i % 4]
        number = _luhn(prefix + _digits(rng, (15 if key == "IMEI" else 16) - len(prefix) - 1))
        lines.append(f"{key} {number} wurde verbucht, Zahlungsart Kreditkarte.")
    got = verdicts("\r\n".join(lines).encode())
    assert len(got) >= 20 and all(c == "low" for c, _ in got), got


def test_a_buffer_repeating_a_number_is_judged_by_its_best_occurrences() -> None:
    pan = "4111111111111111"
    body = (f"siehe {pan}\n" * 10 + f"pan={pan}\n" + f"siehe {pan}\n" * 3).encode()
    judge_once = BufferJudge(body)
    got = [judge_once(h, "http-body").confidence for h in scan(body)[0]]
    assert got == ["medium"] * 10 + ["high"] * 4  # once high, the same number stays high in this buffer
    many = (f"{pan} " * 20_000).encode()
    judge_many = BufferJudge(many)
    assert {judge_many(h, "http-body").confidence for h in scan(many)[0]} == {"medium"}
    assert judge_many.seen[pan][0] == REJUDGE  # judged 64 times, not 20,000


def _scan_http(body: bytes, ctype: str) -> list:
    conv = TcpConversation("10.20.1.15", "10.20.9.6", 50900, 8080, Clock())
    conv.send(0, b"POST /basket HTTP/1.1\r\nHost: backoffice.example\r\nContent-Type: " + ctype.encode()
              + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    conv.send(1, b"HTTP/1.1 204 No Content\r\n\r\n")
    conv.close()
    session = Session(RuleSet.load([]), None, "ctx")
    for p in conv.packets:
        raw = bytes(p)
        session.feed(Frame(float(p.time), 1, raw, len(raw)))
    return [f for f in session.close().findings if f.category in ("card-data", "exfiltration")]


def test_whole_scan_keeps_critical_for_cards_and_reports_possible_cards_with_reason() -> None:
    rng = random.Random(5)
    eans = card_shaped(lambda r: make_gs1(r, str(r.randint(400, 440)) + _digits(r, 9)), rng,
                       lambda c: c.encode(), want=30)
    items = [{"ean": e.decode(), "qty": 1} for e in eans]
    body = json.dumps({"note": "siehe 4111111111111111", "items": items,
                       "payment": {"pan": "5555555555554444", "expiry": "12/28"}}).encode()
    findings = _scan_http(body, "application/json")
    got = sorted((f.rule, f.severity, f.evidence["masked"], f.evidence["confidence"]) for f in findings)
    assert got == [("NW-CARD-001", "critical", "555555******4444", "high"),
                   ("NW-CARD-004", "medium", "411111******1111", "medium")]
    possible = next(f for f in findings if f.rule == "NW-CARD-004")
    assert possible.evidence["reason"] == "bare number, no card keyword nearby"
    assert "bare number" in str(possible.message)


@pytest.mark.parametrize("name,want", [
    ("4111111111111111.q.exfil.example", "high"),  # a card number as a label: the exfiltration pattern
    ("x4111111111111111y.cdn.example", "low"),  # digits inside a longer label
    ("4.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.ip6.arpa", "none"),  # reverse lookups join to digit runs
])
def test_dns_names(name: str, want: str) -> None:
    raw = name.encode()
    got = {judge(raw, h[0], h[1], h[2], h[3], h[4], "dns").confidence for h in scan_dns_name(name)}
    assert got == {want}
