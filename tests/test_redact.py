"""The redaction boundary (netwatch/redaction/text.py): every encoding the card scanner knows is masked to
`mask_pan` form, track data loses its discretionary data, control characters are escaped, and
ordinary names (timestamps, phone numbers, Luhn-invalid numbers, addresses) are left alone.

Assertion messages name the case, never the number.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netwatch.protocols.card_numbers import luhn_ok
from netwatch.redaction.masking import mask_pan
from netwatch.redaction.text import Redacted, escape_controls, redact, redact_lines, redact_value

ROOT = Path(__file__).resolve().parents[1]
PAN = "4539578763621486"  # Visa test number (Luhn-valid)
MC = "5425233430109903"  # Mastercard test number
MASK = mask_pan(PAN)
DIGITS = re.compile(r"\d{12,}")


def _grouped(pan: str, sep: str, size: int = 4) -> str:
    return sep.join(pan[i : i + size] for i in range(0, len(pan), size))


ENCODED = {
    "ascii": PAN,
    "ascii in a label": f"{PAN}.exfil.example",
    "spaces": _grouped(PAN, " "),
    "dashes": _grouped(PAN, "-"),
    "dot-split labels": _grouped(PAN, ".") + ".q.example",
    "dash-split labels": _grouped(PAN, "-", 3) + ".q.example",
    "uneven dot split": f"{PAN[:5]}.{PAN[5:]}.q.example",
    "hex": PAN.encode().hex() + ".q.example",
    "hex upper": PAN.encode().hex().upper(),
    "hex split over labels": ".".join(PAN.encode().hex()[i : i + 10] for i in range(0, 32, 10)) + ".q.example",
    "hex after a stray character": "a" + PAN.encode().hex(),
    "base32": base64.b32encode(PAN.encode()).decode(),
    "base32 lower, unpadded": base64.b32encode(PAN.encode()).decode().lower().rstrip("=") + ".q.example",
    "base32 misaligned": "x" + base64.b32encode(b"ab" + PAN.encode()).decode().rstrip("="),
    "base32hex": base64.b32hexencode(PAN.encode()).decode().rstrip("=") + ".q.example",
    "base64": base64.b64encode(PAN.encode()).decode(),
    "base64 url-safe in a label": base64.urlsafe_b64encode(PAN.encode()).decode().rstrip("=") + ".q.example",
    "base64 lower-cased (DNS)": base64.b64encode(PAN.encode()).decode().lower().rstrip("=") + ".q.example",
    "percent-encoded": "".join(f"%{b:02X}" for b in PAN.encode()),
    "utf-16-le as latin-1 text": PAN.encode("utf-16-le").decode("latin-1"),
    "utf-16-be as latin-1 text": PAN.encode("utf-16-be").decode("latin-1"),
    "utf-16-be read as utf-16-le": PAN.encode("utf-16-be").decode("utf-16-le"),
    "ebcdic as latin-1 text": "\x00" + PAN.encode("cp500").decode("latin-1"),
    "in a message": f"visa card {PAN} sent to 203.0.113.10:443",
}


@pytest.mark.parametrize("case", sorted(ENCODED))
def test_every_encoding_is_masked(case: str) -> None:
    text = ENCODED[case]
    out = redact(text)
    assert isinstance(out, Redacted)
    assert MASK in out, f"{case}: no masked number in the output"
    for form in (PAN, PAN.encode().hex(), base64.b64encode(PAN.encode()).decode()[:20],
                 base64.b32encode(PAN.encode()).decode()[:24]):
        assert form.lower() not in out.lower(), f"{case}: an encoded form of the number survived"
    squeezed = re.sub(r"[\s.\-_]", "", out)
    assert PAN not in squeezed, f"{case}: the digits survive with separators removed"
    assert redact(out) == out, f"{case}: not idempotent"


@pytest.mark.parametrize("encode", ["base64", "base64-lower", "base32-lower", "base32hex"])
@pytest.mark.parametrize("before", [b"", b"x", b"xy", b"xyz", b"pan=", b"k" * 61])
@pytest.mark.parametrize("after", [b"", b"!", b"&exp=2712"])
def test_encoded_number_anywhere_in_the_run(encode: str, before: bytes, after: bytes) -> None:
    data = before + PAN.encode() + after
    text = {"base64": base64.b64encode(data).decode(), "base64-lower": base64.b64encode(data).decode().lower(),
            "base32-lower": base64.b32encode(data).decode().lower(), "base32hex": base64.b32hexencode(data).decode()}
    assert MASK in redact(text[encode].rstrip("=") + ".q.example"), f"{encode} with {len(before)} bytes before"


def test_very_long_text_is_cut_and_still_masked() -> None:
    out = redact("mnom" * 30000 + PAN)
    assert len(out) < 70000 and "characters cut" in out
    assert MASK in redact("x" * 1000 + PAN + "mnom" * 1000)
    for keep in range(6, 17):  # a cut through a number leaves none of its digits
        cut = redact("\x01" * (65536 - keep) + PAN + "x" * 100)
        assert PAN[:keep] not in cut.replace("\\x01", ""), f"{keep} digits kept at the cut"


def test_decoded_runs_keep_the_neighbouring_labels() -> None:
    for case in ("hex", "base32 lower, unpadded", "base32hex", "base64 lower-cased (DNS)", "hex split over labels"):
        assert redact(ENCODED[case]).endswith(".q.example"), f"{case}: the domain was masked too"


@pytest.mark.parametrize("track", [
    f";{PAN}=27121011234567890123?",  # track 2 with sentinels and discretionary data
    f"{PAN}=2712101123456789",  # track 2 without sentinels
    f"%B{PAN}^DOE/JOHN^2712101000000123000000?",  # track 1 with sentinels
    f"B{PAN}^DOE/JOHN^27121010001234",  # track 1 without sentinels
])
def test_track_data_loses_its_discretionary_data(track: str) -> None:
    out = redact(f"user={track} from pos")
    assert MASK in out
    assert "2712101" not in out and "DOE/JOHN" not in out, "track data survived masking"
    assert out.startswith("user=") and out.endswith(" from pos")


def test_ftp_user_with_a_track_two_tail() -> None:
    """The issue's example: `USER ;PAN=YYMM…?` kept its expiry and discretionary data."""
    out = redact(f";{PAN}=2712101123456789?")
    assert "=" not in out and "?" not in out and "2712" not in out


@pytest.mark.parametrize("text", [
    "pay.acquirer.example", "api.gateway.example", "legacy-gw.store42.example",
    "1700000000.123456", "2026-11-25T12:00:00Z", "+1-555-123-4567", "+44 20 7946 0958",
    "4539578763621487",  # Luhn-invalid
    "1234567890123456",  # no issuer prefix
    "order 000000000000000000 total 12.50", "10.20.1.15", "2001:db8:85a3::8a2e:370:7334",
    "fe80::1ff:fe23:4567:890a", "hmac-sha256:0123456789abcdef0123456789abcdef",
    "t10d040400_b50b69922db6_876bcc86782c", "1bee9abbd5996a8350e6462090866d08",
    "411111******1111", "CN=legacy-gw.store42.example", "www.abcdefghijklmnopqrstuvwxyz.example",
    "10.20.1.15 → 203.0.113.10:443 (api.gateway.example)", "SGVsbG8gd29ybGQsIHRoaXMgaXMgbm90IGEgY2FyZA==",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_a_name_with_two_cards_masks_both() -> None:
    out = redact(f"{PAN}.{MC.encode().hex()}.x.example")
    assert MASK in out and mask_pan(MC) in out and not DIGITS.search(out.replace(MASK, ""))


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\x00", "\x7f", "\x9b", "\x85", "\n", "\r", "\t", "\u202e",
                                  "\u2028", "\u2066"])
def test_control_characters_become_visible_escapes(char: str) -> None:
    out = redact(f"a{char}[31mb")
    assert char not in out and out.startswith("a\\") and out.endswith("[31mb")
    assert escape_controls(f"a{char}") == out[: len(out) - len("[31mb")]


def test_markup_is_kept_as_text_for_the_renderer_to_escape() -> None:
    """Rich markup is plain text here; report.text.safe and html.escape render it literally."""
    from rich.console import Console

    from netwatch.report.text import safe

    console = Console(record=True, width=200, color_system=None)
    console.print(safe(redact("x[bold red]boom[/bold red][link=http://x.example]y[/link]")))
    assert "[bold red]boom[/bold red][link=http://x.example]y[/link]" in console.export_text()


def test_values_and_lines() -> None:
    value = redact_value({"names": [PAN, "ok.example"], "n": 3, "flag": True, "none": None, PAN: 1.5})
    assert value == {"names": [MASK, "ok.example"], "n": 3, "flag": True, "none": None, MASK: 1.5}
    text = redact_lines(f"a: {PAN}\n# {_grouped(PAN, ' ')}\x1b\n")
    assert text == f"a: {MASK}\n# {MASK}\\x1b\n"


def test_luhn_fixtures() -> None:
    assert luhn_ok(PAN) and luhn_ok(MC) and not luhn_ok("4539578763621487")


def test_mypy_rejects_a_raw_string_where_redacted_is_required(tmp_path: Path) -> None:
    """The boundary holds by construction: a report-facing field typed Redacted takes no raw str."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from netwatch.findings.aggregate import Finding\n"
        "from netwatch.redaction.text import redact\n"
        "def f(x: Finding, sni: str) -> None:\n"
        "    x.server_name = redact(sni)\n"
        "    x.server_name = sni\n"
    )
    r = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--follow-imports=silent",
                        "--cache-dir", str(tmp_path / ".mypy"), str(probe)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    errors = [ln for ln in r.stdout.splitlines() if "probe.py" in ln]
    assert len(errors) == 1 and "probe.py:5:" in errors[0] and "Redacted" in errors[0], r.stdout[-800:]
