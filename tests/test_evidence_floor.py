"""The conservative floor under evidence redaction: with a card detector turned off, the evidence
still holds no full card number and no track tail; and the floor itself, encoding by encoding.

Turning a detector off means replacing one reading of the card scanner (`protocols/card_search`)
for the length of the test, in this process: detection and the scanner-based masking both lose it,
so only the floor stands between the card and the evidence file."""

from __future__ import annotations

import base64
import binascii
import importlib.util
import sys
from pathlib import Path

import pytest
from test_evidence import _found, encodings, streams

from netwatch.pipeline.runner import ScanConfig, run_local
from netwatch.protocols import card_search
from netwatch.protocols.card_search import scan
from netwatch.redaction.floor import find, holds_card, overwrite_floor
from netwatch.report.evidence import EvidenceOptions, evidence_for_reports

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "captures" / "evidence_hidden_encodings.pcap"


def _scenario():
    sys.path.insert(0, str(ROOT / "captures"))
    try:
        spec = importlib.util.spec_from_file_location("_floor_ev", ROOT / "captures" / "scenarios_evidence.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(ROOT / "captures"))
    return mod


SCENARIO = _scenario()
CARDS = SCENARIO.CARD_NUMBERS[5:10]
TAIL = SCENARIO.TRACK_TAIL


def _no_url_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(card_search, "unquote_to_bytes", lambda _b: b"")


def _no_base64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(card_search, "_base64", lambda *_a: None)


def _no_track_data(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_url_layer(monkeypatch)
    monkeypatch.setattr(card_search, "split_track2", lambda _t: None)


@pytest.mark.parametrize("disable", [_no_url_layer, _no_base64, _no_track_data],
                         ids=["cards-in-form-encoding", "base64-across-line-breaks", "track-data-percent-encoded"])
def test_evidence_holds_no_card_with_a_detector_off(disable, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    full = run_local([str(CAPTURE)], ScanConfig((), None, bytes(16))).reports[0]
    disable(monkeypatch)
    reports = run_local([str(CAPTURE)], ScanConfig((), None, bytes(16), evidence=True)).reports
    seen = {f.evidence.get("masked") for f in reports[0].findings}
    assert seen < {f.evidence.get("masked") for f in full.findings}  # the detector really was off
    assert evidence_for_reports(reports, EvidenceOptions(tmp_path)) >= 1
    secrets = {f"card#{i}/{k}": v for i, c in enumerate(CARDS) for k, v in encodings(c).items()}
    secrets |= {f"tail/{k}": v for k, v in encodings(TAIL).items() if "/" not in k}
    files = sorted(tmp_path.glob("*.pcap"))
    assert files
    for f in files:
        blobs = [f.read_bytes(), *streams(f)]
        leaked = sorted({k for k, v in secrets.items() for b in blobs if _found(k, v, b)})
        assert not leaked, f"{f.name}: {leaked}"


PAN = "4539578763621486"


def _grouped(sep: str) -> str:
    return sep.join(PAN[i : i + 4] for i in range(0, 16, 4))


FORMS = {
    "ascii": PAN.encode(),
    "spaces": _grouped(" ").encode(),
    "plus": _grouped("+").encode(),
    "pct-spaces": _grouped("%20").encode(),
    "percent": "".join(f"%{ord(c):02X}" for c in PAN).encode(),
    "utf16le": PAN.encode("utf-16-le"),
    "utf16be": _grouped(" ").encode("utf-16-be"),
    "ebcdic": _grouped(" ").encode("cp500"),
    "hex": PAN.encode().hex().encode(),
    "base64-lines": base64.encodebytes(b"card " + PAN.encode() + b" end of a rather long note") * 2,
    "bcd-length": b"\x16" + bytes.fromhex(PAN),
    "bcd-track2": bytes.fromhex(PAN + "d" + "281210112") + b"\x0f",
    "emv-5a": b"\x5a\x08" + bytes.fromhex(PAN),
}


@pytest.mark.parametrize("name", list(FORMS))
def test_floor_overwrites_every_encoding(name: str) -> None:
    buf = bytearray(b"x=" + FORMS[name] + b"&y=1\r\n")
    assert holds_card(bytes(buf))
    overwrite_floor(buf, [])
    assert not holds_card(bytes(buf)) and not scan(bytes(buf))[0]
    digits = bytes(buf).hex() if name.startswith(("bcd", "emv")) else bytes(buf).decode("latin-1")
    assert PAN not in digits and PAN[6:12] not in digits.replace(" ", "")


@pytest.mark.parametrize("tail", [b";{pan}=2812101123456789?", b"%3B{pan}%3D2812101123456789%3F",
                                  b"%B{pan}^DOE/JOHN^2812101123456789?",
                                  b"%25B{pan}%5EDOE%2FJOHN%5E2812101123456789%3F"])
def test_floor_overwrites_track_tails(tail: bytes) -> None:
    buf = bytearray(b"t=" + tail.replace(b"{pan}", PAN.encode()) + b"&")
    overwrite_floor(buf, [])
    assert b"2812101123456789" not in buf and b"DOE" not in buf and PAN.encode() not in buf


def test_floor_leaves_ordinary_bytes() -> None:
    """Headers, dates, short numbers, all-zero runs and binary framing stay as they are."""
    for text in (b"HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 16:00:00 GMT\r\nContent-Length: 1234\r\n\r\n",
                 b"amount=000000001000&stan=000123&time=20261207160000", bytes(64),
                 b"\x00\x00\x00$\x00\x03\x00\x00user\x00posapp\x00database\x00sales\x00\x00",
                 binascii.unhexlify("510081830001000000000000")):
        assert find(text) == [], text


def _ntlm_token() -> bytes:
    """The NTLM AUTHENTICATE token of login_http_ntlm (its binary, decoded at a wrong alignment,
    holds a length byte before Luhn-passing BCD)."""
    import dpkt

    with open(ROOT / "captures" / "login_http_ntlm.pcap", "rb") as fh:
        for _ts, frame in dpkt.pcap.Reader(fh):
            payload = bytes(dpkt.ethernet.Ethernet(frame).data.data.data)
            at = payload.find(b"Authorization: NTLM TlRMTVNTUAAD")
            if at >= 0:
                return payload[at + 20 : payload.index(b"\r\n", at)]
    raise AssertionError("no NTLM AUTHENTICATE in login_http_ntlm")


def test_floor_reads_an_ntlm_token_at_its_own_alignment() -> None:
    token = _ntlm_token()
    assert not find(b"Authorization: NTLM " + token + b"\r\n")  # the challenge response stays readable
    raw = bytearray(base64.b64decode(token))
    raw[100:116] = b"4111111111111111"  # a card inside the token is still found
    assert find(b"Authorization: NTLM " + base64.b64encode(bytes(raw)) + b"\r\n")


def test_final_check_per_flow_direction_shared_across_files() -> None:
    """The last check before a file is written joins each flow direction's payloads (a card cut over
    two segments is whole only there); a flow shown in several files is checked once, and its answer
    holds for every file that shows it, not for files without it."""
    from netwatch.report.evidence import Written, still_holds_card

    card = _scenario().CARD_NUMBERS[5].encode()

    def frame(number: int, flow: int, direction: int, payload: bytes) -> Written:
        head = b"\0" * 54
        return Written(number, 0.0, 1, head + payload, 54 + len(payload), flow, direction, (54, 54 + len(payload)))

    leaky = [frame(1, 1, 0, b"pan=" + card[:7]), frame(3, 1, 0, card[7:] + b"&x=1")]  # cut over segments
    clean = [frame(2, 2, 0, b"GET / HTTP/1.1\r\n"), frame(4, 2, 1, b"HTTP/1.1 200 OK\r\n")]
    checked: dict[tuple[int, int], bool] = {}
    assert still_holds_card(leaky + clean, checked)
    assert checked == {(1, 0): True, (2, 0): False, (2, 1): False}
    assert not still_holds_card(clean, checked) and still_holds_card(leaky[1:], checked)
    assert not still_holds_card(leaky[:1], {})  # one segment alone holds no whole number
