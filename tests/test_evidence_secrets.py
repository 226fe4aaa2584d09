"""No login secret of any bundled capture in its evidence, in any form its protocol carries it; and a
module that sends a login lists its secret. One scan of every capture with `--evidence` (and one
re-scan of the evidence), so it stays in the fast subset.

Secrets come from the scenario modules' PASSWORDS (captures/scenarios_*.py, beside CARD_NUMBERS:
every password, token or community a module's logins send). Each capture's evidence is searched for
its own module's secrets (short ones like "admin" are words of other captures), raw file bytes and
each direction's joined payload (a password typed one key per packet is only whole there), as is,
UTF-16LE, TDS-obfuscated, base64 at each alignment, percent- and form-encoded, and in h2c header
blocks as HPACK decodes them. A capture whose
credentials finding reports a secret of a length no listed secret of its module has fails: a new
login scenario must list what it sends. Assertion messages name files, forms and lengths, never a
secret.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import quote, quote_plus

import dpkt
import hpack
import pytest
from scenario_modules import load_scenario

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
READABLE = ("cleartext", "token", "obfuscated")  # what a credentials finding calls a secret that crossed whole
SHORT = 8  # characters: a secret shorter than this is a common word


def modules() -> dict[str, ModuleType]:
    """Each bundled capture's scenario module, by capture name."""
    out = {}
    for path in sorted(CAPTURES.glob("scenarios_*.py")):
        mod = load_scenario(path)
        out.update({name: mod for name in mod.SCENARIOS})
    return out


def forms(secret: str) -> dict[str, bytes]:
    """The secret as login protocols carry it (base64: the whole groups at each alignment)."""
    raw, wide = secret.encode(), secret.encode("utf-16-le")
    out = {"plain": raw, "utf16le": wide, "tds-obfuscated": bytes(((b << 4 | b >> 4) & 0xFF) ^ 0xA5 for b in wide),
           "percent": quote(secret, safe="").encode(), "form": quote_plus(secret, safe="").encode()}
    for s in range(3):
        out[f"base64-{s}"] = base64.b64encode(b"x" * s + raw)[4 * ((s + 2) // 3) : 4 * ((s + len(raw)) // 3)]
    return {k: v for k, v in out.items() if len(v) >= 4}


def payloads(path: Path) -> list[bytes]:
    """The file's bytes, then each TCP/UDP direction's payloads joined in file order, and each TCP
    direction's segments in sequence order (a secret cut over out-of-order segments is whole there)."""
    joined: dict[tuple, bytearray] = {}
    by_seq: dict[tuple, dict[int, bytes]] = {}
    with open(path, "rb") as fh:
        for _ts, frame in dpkt.pcap.Reader(fh):
            ip = dpkt.ethernet.Ethernet(frame).data
            l4 = getattr(ip, "data", None)
            if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
                key = (bytes(ip.src), l4.sport, bytes(ip.dst), l4.dport)
                joined.setdefault(key, bytearray()).extend(bytes(l4.data))
                if isinstance(l4, dpkt.tcp.TCP) and l4.data:
                    by_seq.setdefault(key, {}).setdefault(l4.seq, bytes(l4.data))
    ordered = [b"".join(seg for _seq, seg in sorted(segs.items())) for segs in by_seq.values()]
    return [path.read_bytes(), *map(bytes, joined.values()), *ordered, *map(h2c_headers, ordered)]


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2c_headers(stream: bytes) -> bytes:
    """The header fields of an HTTP/2 client stream as text (`name: value` lines), HPACK decoded as
    Wireshark shows them (Huffman-coded, a secret is in no byte pattern); b"" without a preface."""
    at = stream.find(PREFACE)
    if at < 0:
        return b""
    decoder, block, lines = hpack.Decoder(), b"", []
    i = at + len(PREFACE)
    while i + 9 <= len(stream):
        n, ftype, flags = int.from_bytes(stream[i : i + 3], "big"), stream[i + 3], stream[i + 4]
        payload = stream[i + 9 : i + 9 + n]
        if ftype == 1:  # HEADERS: padding and priority fields around the fragment
            pad = payload[0] if flags & 0x08 and payload else 0
            payload = payload[(1 if flags & 0x08 else 0) + (5 if flags & 0x20 else 0) : len(payload) - pad]
        if ftype in (1, 9):
            block += payload
            if flags & 0x04:
                try:
                    lines += [k + b": " + v for k, v in decoder.decode(block, raw=True)]
                except (hpack.HPACKError, ValueError, IndexError):
                    break  # the table is lost (a block evidence overwrote): the rest cannot be read
                block = b""
        i += 9 + n
    return b"\n".join(lines)


def _records(path: Path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r.get("event_type") == "finding"]


def _scan(*args: str) -> None:
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", *args, "--fail-on", "none", "-q", "--jobs", "1"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-300:]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], list[dict]]:
    """Every bundled capture scanned with --evidence in one run, and the evidence scanned again."""
    base = tmp_path_factory.mktemp("secrets")
    _scan(*map(str, sorted(CAPTURES.glob("*.pcap"))), "--evidence", str(base / "ev"), "--json", str(base / "f.jsonl"))
    _scan(str(base / "ev"), "--json", str(base / "again.jsonl"))
    return _records(base / "f.jsonl"), _records(base / "again.jsonl")


def _capture(record: dict) -> str:
    return Path(record["source"]["name"]).stem


def test_every_capture_has_a_scenario_and_listed_secrets_are_sent(scanned) -> None:
    """No capture without its module (else its secrets go unchecked); no listed secret that none of the
    module's captures sends: found in the bytes in a form above, or (chunked, compressed, HPACK-coded)
    a login of its length is reported."""
    by_capture = modules()
    assert {p.stem for p in CAPTURES.glob("*.pcap")} <= set(by_capture)
    findings, _ = scanned
    reported = {(id(by_capture[_capture(r)]), r["evidence"]["password_length"]) for r in findings
                if r["category"] == "credentials" and r["evidence"].get("password_length")}
    sent: set[tuple[int, str]] = set()
    for name, mod in by_capture.items():
        blobs = payloads(CAPTURES / f"{name}.pcap")
        sent |= {(id(mod), p) for p in getattr(mod, "PASSWORDS", [])
                 if any(v in b for v in forms(p).values() for b in blobs)}
    for mod in {id(m): m for m in by_capture.values()}.values():
        unsent = [i for i, p in enumerate(getattr(mod, "PASSWORDS", []))
                  if (id(mod), p) not in sent and (id(mod), len(p.encode())) not in reported]
        assert not unsent, f"{mod.__name__}: PASSWORDS{unsent} sent by none of its captures"


def test_every_login_secret_is_listed(scanned) -> None:
    """A credentials finding with a readable secret: its module lists a secret of that length."""
    by_capture = modules()
    findings, _ = scanned
    logins = [r for r in findings if r["category"] == "credentials" and r["evidence"].get("password_length")
              and r["evidence"].get("secret") in READABLE]
    assert len({_capture(r) for r in logins}) >= 15  # the login scenarios of every module
    for r in logins:
        listed = {len(p.encode()) for p in getattr(by_capture[_capture(r)], "PASSWORDS", [])}
        ev = r["evidence"]
        assert ev["password_length"] in listed, \
            f"{_capture(r)}: {ev['protocol']} {ev['method']} sends a {ev['password_length']}-byte secret its module " \
            "does not list in PASSWORDS"


def test_no_secret_in_any_evidence_file(scanned) -> None:
    by_capture = modules()
    findings, _ = scanned
    files: dict[str, set[str]] = {}
    for r in findings:
        if r.get("evidence_file"):
            files.setdefault(_capture(r), set()).add(r["evidence_file"])
    lengths: dict[str, set[int]] = {}  # the secret lengths each capture's logins report
    for r in findings:
        if r["category"] == "credentials" and r["evidence"].get("password_length"):
            lengths.setdefault(_capture(r), set()).add(r["evidence"]["password_length"])
    checked = 0
    for name, paths in sorted(files.items()):
        # a short secret ("admin", "public") is a word elsewhere (an RDP cookie's user): looked for only
        # where a login of that length was found
        listed = [(i, p) for i, p in enumerate(getattr(by_capture[name], "PASSWORDS", []))
                  if len(p) >= SHORT or len(p.encode()) in lengths.get(name, set())]
        secrets = {f"#{i}/{k}": v for i, p in listed for k, v in forms(p).items()}
        for f in sorted(paths):
            blobs = payloads(Path(f))
            leaked = sorted({k for k, v in secrets.items() if any(v in b for b in blobs)})
            assert not leaked, f"{name}: {Path(f).name} holds PASSWORDS{leaked}"
            checked += bool(secrets)
    assert checked >= 60


ENCODED = ("URL userinfo", "URL query", "form body")  # percent-encoded values: the filler is one byte per byte


def _comparable(login: tuple, finding: dict) -> tuple:
    """What a re-scan must see again: protocol and method; the user unless it held card data (evidence
    masks it); the secret's length unless the value was percent-encoded (its decoded length changes)."""
    protocol, method, user, length = login
    encoded = method.startswith(ENCODED)
    return protocol, method, None if "******" in str(finding["evidence"].get("user")) else user, \
        None if encoded else length


def test_rescan_of_evidence_sees_the_same_logins(scanned) -> None:
    """Redaction keeps each login readable as a login (protocol, method, user, secret length)."""
    findings, again = scanned
    seen: dict[str, set[tuple]] = {}
    for r in again:
        if r["category"] == "credentials":
            ev = r["evidence"]
            seen.setdefault(Path(r["source"]["name"]).name, set()).add(
                (ev["protocol"], ev["method"], ev.get("user"), ev.get("password_length")))
    checked = 0
    for r in findings:
        if r["category"] == "credentials" and r.get("evidence_file"):
            ev = r["evidence"]
            login = (ev["protocol"], ev["method"], ev.get("user"), ev.get("password_length"))
            f = Path(r["evidence_file"]).name
            if any("overwritten whole" in n for n in r.get("evidence_redaction") or []):
                continue  # the finding says it blanked a whole unit (a compressed body): nothing left to read
            got = {_comparable(login, r) for login in seen.get(f, set())}
            assert _comparable(login, r) in got, f"{_capture(r)}: {f} lost {login[:2]}"
            checked += 1
    assert checked >= 40
