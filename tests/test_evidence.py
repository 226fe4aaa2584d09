"""`scan --evidence DIR`: one redacted capture per finding, read back with tshark and re-scanned.

Secrets come from the scenario modules (CARD_NUMBERS, PASSWORDS) plus the logins and PIN blocks of
the protect and card scenarios (named below). Each is searched in every encoding netwatch decodes,
in the raw evidence file bytes and in each direction's reassembled payload (a password typed one
key per packet is only whole there). Assertion messages name files and encodings, never a secret.
"""

from __future__ import annotations

import base64
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest
from scenario_modules import scenario_lists

from netwatch.protocols.card_numbers import luhn_ok
from netwatch.protocols.card_search import scan
from netwatch.redaction.masking import keep_mask
from netwatch.redaction.packets import FILLER, mask_cards

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
# scenarios_protect.py: FTP "PASS admin", SNMP community "public", Telnet keystrokes "Sw1tch!2024";
# scenarios_cards.py: the DE52 PIN block of both ISO 8583 captures.
OTHER_SECRETS = {"protect_ftp_vlan": [b"PASS admin"], "protect_snmp_public": [b"public"],
                 "protect_telnet_v6": [b"Sw1tch!2024"]}
PIN_BLOCKS = [b"8C3F1A2B4D5E6F70", bytes.fromhex("8c3f1a2b4d5e6f70")]
CARD_CAPTURES = ["cards_", "http_card", "vlan_card", "ipv6_card", "dest_card", "evidence_", "leaks_", "enc_",
                 "detect_zvt", "detect_card_ranges", "stream_tcp_", "stream_http_", "stream_lpd_",
                 "stream_tls_records"]
CRED_CAPTURES = ["protect_ftp_vlan", "protect_snmp_public", "protect_telnet_v6", "evidence_logins", "login_",
                 "log_http_secrets"]
TSHARK = shutil.which("tshark")
CHECK = ("_ws.malformed or _ws.expert.severity >= \"Warning\" or ip.checksum.status == \"Bad\" "
         "or tcp.checksum.status == \"Bad\" or udp.checksum.status == \"Bad\"")
TCP_SUBSET = ("Previous segment(s) not captured", "ACKed segment that wasn't captured")


def encodings(digits: str) -> dict[str, bytes]:
    """The forms a card number takes on the wire, each under its encoding's name."""
    d = digits.encode()
    forms = {"ascii": d, "utf16le": digits.encode("utf-16-le"), "utf16be": digits.encode("utf-16-be"),
             "ebcdic": digits.encode("cp500"), "hex": d.hex().encode(), "HEX": d.hex().upper().encode(),
             "percent": "".join(f"%{ord(c):02X}" for c in digits).encode(),
             "bcd": bytes.fromhex(digits[: len(digits) & ~1]),
             "bcd-odd": bytes.fromhex(digits[1 : 1 + ((len(digits) - 1) & ~1)]),
             "utf32le": digits.encode("utf-32-le"), "utf32be": digits.encode("utf-32-be"),
             "hex-dump": " ".join(f"{b:02x}" for b in d).encode(), "HEX:DUMP": ":".join(f"{b:02X}" for b in d).encode(),
             "bcd-dump": " ".join(digits[i : i + 2] for i in range(0, len(digits) & ~1, 2)).encode(),
             "bcd:dump": ":".join(digits[i : i + 2] for i in range(0, len(digits) & ~1, 2)).encode(),
             **{name: digits.translate({ord(c): zero + int(c) for c in "0123456789"}).encode()
                for name, zero in (("fullwidth", 0xFF10), ("arabic-indic", 0x0660), ("persian", 0x06F0))}}
    for g in (4, 6):
        forms[f"grouped-{g}"] = " ".join(digits[i : i + 4] for i in range(0, len(digits), 4)).encode()
        forms[f"dashed-{g}"] = "-".join(digits[i : i + 4] for i in range(0, len(digits), 4)).encode()
    amex = f"{digits[:4]} {digits[4:10]} {digits[10:]}".encode()
    forms["grouped-465"] = amex
    for shift in range(3):  # base64 of the number at each alignment: whole groups only
        enc = base64.b64encode(b"x" * shift + d)
        forms[f"base64-{shift}"] = enc[4 * ((shift + 2) // 3) : 4 * ((shift + len(d)) // 3)]
    return {k: v for k, v in forms.items() if len(v) >= 8}


def _found(name: str, value: bytes, blob: bytes) -> bool:
    """A digit form counts only with digit boundaries (cards_lookalikes hides a card number inside
    longer digit runs on purpose: that is not a card number, and netwatch does not call it one)."""
    if "/ascii" in name or "/grouped" in name or "/dashed" in name:
        return re.search(rb"(?<![0-9])" + re.escape(value) + rb"(?![0-9])", blob) is not None
    return value in blob


def password_forms(pw: bytes) -> dict[str, bytes]:
    return {"plain": pw, "utf16le": pw.decode().encode("utf-16-le"),
            **{f"base64-{s}": base64.b64encode(b"x" * s + pw)[4 * ((s + 2) // 3) : 4 * ((s + len(pw)) // 3)]
               for s in range(3)}}


def streams(path: Path) -> list[bytes]:
    """TCP payload per direction in file order (a naive join is enough: each byte appears) and UDP payloads."""
    out: dict[tuple, bytearray] = {}
    with open(path, "rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        for _ts, buf in reader:
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            l4 = getattr(ip, "data", None)
            if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
                key = (bytes(ip.src), l4.sport, bytes(ip.dst), l4.dport)
                out.setdefault(key, bytearray()).extend(bytes(l4.data))
    return [bytes(v) for v in out.values()]


def _findings(path: Path) -> list[dict]:
    """The finding records of a JSON Lines file (a summary record, where written, has no rule)."""
    return [r for r in map(json.loads, path.read_text().splitlines()) if "rule" in r]


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[dict]]]:
    """Every bundled capture with card or credential findings, scanned with --evidence."""
    out: dict[str, tuple[Path, list[dict]]] = {}
    base = tmp_path_factory.mktemp("evidence")
    for cap in sorted(CAPTURES.glob("*.pcap")):
        name = cap.stem
        if not any(name.startswith(p) for p in CARD_CAPTURES + CRED_CAPTURES):
            continue
        d, js = base / name, base / f"{name}.jsonl"
        run = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(cap), "--evidence", str(d), "--json",
                              str(js), "--fail-on", "none", "-q", "--jobs", "1"],
                             capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert run.returncode == 0, f"{name}: scan failed: {run.stderr[-300:]}"
        out[name] = (d, _findings(js))
    return out


def test_every_finding_names_its_evidence(evidence):
    assert len(evidence) >= 12
    for name, (d, records) in evidence.items():
        assert records, name
        for r in records:
            if r.get("proto") not in ("tcp", "udp"):
                continue
            f = Path(r["evidence_file"])
            assert f.parent == d and f.exists(), f"{name}: {r['rule']} has no evidence file"
            assert r["rule"] in f.name and r["src"].replace(":", "-") in f.name, f.name
            packets = r["evidence_packets"]
            with open(f, "rb") as fh:
                assert packets == sorted(packets) and len(packets) == len(list(dpkt.pcap.Reader(fh)))


def test_no_secret_in_any_encoding(evidence):
    cards = [c for c in scenario_lists("CARD_NUMBERS") if len(re.sub(r"\D", "", c)) >= 12]
    passwords = [p.encode() for p in scenario_lists("PASSWORDS") if len(p) >= 8]  # short ones: per capture
    # (tests/test_evidence_secrets.py; "admin" is a word of other captures' user names)
    assert len(cards) >= 20 and len(passwords) >= 5
    checked = 0
    for name, (d, _records) in evidence.items():
        secrets = {f"card#{i}/{k}": v for i, c in enumerate(cards) for k, v in encodings(c).items()}
        secrets |= {f"password#{i}/{k}": v for i, p in enumerate(passwords + OTHER_SECRETS.get(name, []))
                    for k, v in password_forms(p).items()}
        secrets |= {f"pin-block#{i}": v for i, v in enumerate(PIN_BLOCKS)}
        for f in sorted(d.glob("*.pcap")):
            blobs = [f.read_bytes(), *streams(f)]
            leaked = sorted({k for k, v in secrets.items() for b in blobs if _found(k, v, b)})
            assert not leaked, f"{f.name}: {leaked}"
            checked += 1
    assert checked >= 30


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_tshark_reads_evidence_cleanly(evidence):
    """No checksum error, and no malformed packet or warning the original frame did not have already."""
    for name, (d, _records) in evidence.items():
        original = _expert(CAPTURES / f"{name}.pcap")
        for f in sorted(d.glob("*.pcap")):
            numbers = _numbers(evidence[name][1], f)
            for i, msgs in _expert(f).items():
                extra = {m for m in msgs if m not in original.get(numbers[i - 1], set())
                         and not any(m.startswith(t) for t in TCP_SUBSET)}
                assert not extra, f"{f.name} frame {i}: {sorted(extra)}"


def _numbers(records: list[dict], f: Path) -> list[int]:
    for r in records:
        if r.get("evidence_file") == str(f):
            return list(r["evidence_packets"])
    raise AssertionError(f"{f.name} is named by no finding")


def _expert(path: Path) -> dict[int, set[str]]:
    run = subprocess.run([TSHARK or "tshark", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-o",
                          "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-Y", CHECK, "-T", "fields",
                          "-e", "frame.number", "-e", "_ws.expert.message", "-e", "ip.checksum.status",
                          "-e", "tcp.checksum.status", "-e", "udp.checksum.status"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-300:]
    out: dict[int, set[str]] = {}
    for line in run.stdout.splitlines():
        num, msgs, *status = (line.split("\t") + ["", "", ""])[:5]
        bad = {f"bad checksum ({s})" for s in status if s == "0"}  # Wireshark: 0 = Bad, 2 = Unverified
        out[int(num)] = {m for m in msgs.split(",") if m} | bad
    return out


def _key(r: dict) -> tuple:
    ev = r.get("evidence", {})
    return (r["rule"], r["src"], r["dst"], r["dport"], r["proto"], ev.get("protocol"), ev.get("method"))


def test_rescan_keeps_cleartext_and_logins_but_no_card_or_password(evidence, tmp_path):
    for name, (d, records) in evidence.items():
        js = tmp_path / f"{name}.jsonl"
        run = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(d), "--json", str(js),
                              "--fail-on", "none", "-q", "--jobs", "1"], capture_output=True, text=True, cwd=ROOT,
                             timeout=300)
        assert run.returncode == 0, run.stderr[-300:]
        again = _findings(js)
        assert not [r for r in again if r["category"] in ("card-data", "exfiltration")], name
        keep = ("cleartext", "credentials", "destination")
        want = {_key(r) for r in records if r["category"] in keep and r.get("proto") in ("tcp", "udp")}
        got = {_key(r) for r in again if r["category"] in keep}
        assert want <= got, f"{name}: {sorted(want - got)}"
        for r in again:
            if r["category"] == "credentials" and "password_length" in r["evidence"]:
                assert not r["evidence"]["default_password"] or r["evidence"]["protocol"] == "snmp", name


def test_filler_never_forms_a_card_number():
    """Masking leaves at most six digits in a row; nothing that could pass Luhn or any brand check."""
    rng = random.Random(11)
    for _ in range(300):
        head, n = rng.choice([("4", 16), ("4", 13), ("4", 19), ("34", 15), ("51", 16), ("6011", 16)])
        body = head + "".join(rng.choice("0123456789") for _ in range(n - len(head) - 1))
        digits = next(body + c for c in "0123456789" if luhn_ok(body + c))
        grouped = " ".join(digits[i : i + 4] for i in range(0, n, 4))
        for form in (digits, grouped, ";" + digits + "=2712101123?", "%B" + digits + "^DOE/J^27121011?"):
            buf = bytearray(b"x=" + form.encode() + b"&")
            assert scan(bytes(buf))[0]  # a card before masking...
            mask_cards(buf, [])
            assert not re.search(rb"[0-9]{7,}", buf)  # ...at most six digits in a row after
            assert not scan(bytes(buf))[0]
    assert not chr(FILLER).isdigit() and "*".encode("cp500") == b"\x5c"
    assert keep_mask(16).count(True) == 10 and keep_mask(12).count(True) == 0


def test_unusable_evidence_directory_is_one_line_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(CAPTURES / "http_card_post.pcap"),
                          "--evidence", str(blocker), "-q"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "evidence directory" in run.stderr


def _logins(app: str, chunks: list[tuple[int, bytes]]) -> list[dict]:
    """What the credentials analyzer reports for (direction, bytes) chunks in the order sent."""
    from netwatch.analyzers.credentials import Credentials
    from netwatch.flows.table import Flow

    flow = Flow(b"\x0a\x00\x00\x01", 40000, b"\x0a\x00\x00\x02", 1, 6, 0.0)
    flow.app = app
    seen: list[dict] = []
    analyzer = Credentials()
    for d, data in chunks:
        analyzer.stream(flow, d, data, 0.0, lambda o: seen.append(_fields(o)))
    return seen


def _fields(obs: object) -> dict:
    """The facts of an emitted observation (a dict of fields, or a typed event's attributes)."""
    fields = getattr(obs, "fields", None)
    if isinstance(fields, dict):
        return fields
    return {k: getattr(obs, k, None) for k in ("protocol", "user", "password_length")}


def _mysql_login(pw: bytes) -> bytes:
    caps = 0x200 | 0x8000 | 0x80000  # protocol 4.1, secure connection, plugin auth
    body = caps.to_bytes(4, "little") + bytes(4) + b"\x21" + bytes(23) + b"pos\0" + bytes([len(pw)]) + pw
    body += b"mysql_clear_password\0"
    return len(body).to_bytes(3, "little") + b"\x01" + body


def _tds_login(user: str, pw: str) -> bytes:
    obf = bytes(((b << 4 | b >> 4) & 0xFF) ^ 0xA5 for b in pw.encode("utf-16-le"))
    u = user.encode("utf-16-le")
    fixed = bytearray(94)
    fixed[40:42], fixed[42:44] = (94).to_bytes(2, "little"), len(user).to_bytes(2, "little")
    fixed[44:46], fixed[46:48] = (94 + len(u)).to_bytes(2, "little"), len(pw).to_bytes(2, "little")
    body = bytes(fixed) + u + obf
    return b"\x10\x01" + (8 + len(body)).to_bytes(2, "big") + bytes(4) + body


TELNET = [(1, b"login: "), (0, b"pos\r"), (1, b"Password: "), (0, b"tel-Pw-42\r")]


@pytest.mark.parametrize("app,chunks", [
    ("imap", [(0, b"a1 AUTHENTICATE PLAIN\r\n" + base64.b64encode(b"\0pos15\0imap-Plain-9") + b"\r\n")]),
    ("smtp", [(0, b"AUTH PLAIN " + base64.b64encode(b"\0pos15\0smtp-Plain-9") + b"\r\n")]),
    ("mysql", [(0, _mysql_login(b"my-Clear-pw"))]),
    ("tds", [(0, _tds_login("sa", "Tds-Pw-1234"))]),
    ("telnet", TELNET),
], ids=["imap-plain", "smtp-plain", "mysql-clear", "tds-login7", "telnet"])
def test_password_masked_login_still_seen(app: str, chunks: list[tuple[int, bytes]]):
    """The analyzer sees the same protocol, user and password length after redaction, not the password."""
    from netwatch.redaction.creds import redact_passwords

    before = _logins(app, chunks)
    assert before and before[0]["password_length"] >= 8
    streams = [bytearray(), bytearray()]
    order = []
    for d, data in chunks:
        order.append((d, len(streams[d]), len(data)))
        streams[d] += data
    client = bytes(streams[0])
    redact_passwords(app, streams[0], streams[1], order, [])
    assert len(streams[0]) == len(client)
    after = _logins(app, [(d, bytes(streams[d][o : o + n])) for d, o, n in order])
    assert [(a["protocol"], a["user"], a["password_length"]) for a in after] == \
        [(b["protocol"], b["user"], b["password_length"]) for b in before]
    secret = {"imap": b"imap-Plain-9", "smtp": b"smtp-Plain-9", "mysql": b"my-Clear-pw", "tds": b"Tds-Pw-1234",
              "telnet": b"tel-Pw-42"}[app]
    forms = [secret, secret.decode().encode("utf-16-le"), *password_forms(secret).values()]
    assert not any(f in bytes(streams[0]) for f in forms)
    if app == "tds":
        assert bytes(streams[0]) != client and b"\x07\xa5" in bytes(streams[0])  # '*', still obfuscated
