"""No card number, password or track data from any channel reaches any output of any command.

captures/leaks_every_channel.pcap (captures/scenarios_leaks.py) carries a distinct card number in
every channel netwatch reads, passwords in every login, track data with discretionary data, and
control characters and rich markup in names. It goes through `scan` (console, stderr, --json file
and stdout, --html), `learn` (the policy file), `diff` (captures and JSON Lines; tables and --json),
and `live` (the live pipeline fed from the capture: log lines, dashboard, summary, JSON; and a real
`netwatch live` on lo while the capture's frames are replayed there). Every output is searched for
every secret as written, in hex (both cases), base32, base32hex, base64 and UTF-16, also with
whitespace, dots, dashes and table borders removed. Failures name the output and the channel, never
the secret.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from scenario_modules import load_scenario

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
CAPTURE = CAPTURES / "leaks_every_channel.pcap"
POLICY = CAPTURES / "policies" / "store.yaml"
CLEAN = CAPTURES / "dest_clean_store.pcap"
KEY = "00" * 16
RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")  # as bytes of UTF-8 text
SQUEEZE = re.compile(rb"\\\\?(?:x00|u0000)|[\s.\-_|]|\xe2\x94[\x80-\xbf]|\xe2\x95[\x80-\xbf]|\xe2\x80\xa6")


SCENARIO = load_scenario(CAPTURES / "scenarios_leaks.py")
SECRETS = {**{f"card:{k}": v for k, v in SCENARIO.CARD.items()},
           **{f"password:{k}": v for k, v in SCENARIO.PASSWORD.items()},
           **{f"track-tail:{i}": v for i, v in enumerate(SCENARIO.TRACK_TAILS)}}


def _forms(value: str) -> dict[str, bytes]:
    """The secret in every encoding an output could carry it (base encodings without the last,
    alignment-dependent characters)."""
    b = value.encode()
    out = {"plain": b, "hex": b.hex().encode(), "HEX": b.hex().upper().encode(),
           "base64": base64.b64encode(b).rstrip(b"=")[:-2], "base32": base64.b32encode(b).rstrip(b"=")[:-2],
           "base32hex": base64.b32hexencode(b).rstrip(b"=")[:-2]}
    out.update({f"{k}-lower": v.lower() for k, v in list(out.items()) if k.startswith(("base", "HEX"))})
    out.update({"utf16le": value.encode("utf-16-le"), "utf16be": value.encode("utf-16-be")})
    out.update({"percent": quote(value, safe="").encode(), "form": quote_plus(value, safe="").encode()})
    return out


def leaks(outputs: dict[str, bytes | str], secrets: dict[str, str] = SECRETS) -> list[str]:
    """'output: secret label (form)' for every secret found; never the secret itself."""
    found = []
    for name, text in outputs.items():
        raw = text.encode("utf-8") if isinstance(text, str) else text
        squeezed = SQUEEZE.sub(b"", raw)
        for label, value in secrets.items():
            for form, needle in _forms(value).items():
                if needle in raw or needle in squeezed or needle.lower() in squeezed.lower():
                    found.append(f"{name}: {label} ({form})")
    return found


def expect(cond: bool, what: str) -> None:
    """Fail with `what` only: pytest's introspection would print the outputs, secrets and all."""
    if not cond:
        pytest.fail(what, pytrace=False)


def ran(r: subprocess.CompletedProcess[str]) -> None:
    from netwatch.redaction.text import redact

    expect(r.returncode == 0, f"exit {r.returncode}: {redact(r.stderr[-300:])}")


def no_leaks(outputs: dict[str, bytes | str]) -> None:
    found, controls = leaks(outputs), raw_controls(outputs)
    expect(not found, f"secrets in outputs: {found}")
    expect(not controls, f"raw control characters in: {controls}")


def raw_controls(outputs: dict[str, bytes | str]) -> list[str]:
    return [name for name, text in outputs.items()
            if RAW_CONTROL.search(text.encode("utf-8") if isinstance(text, str) else text)]


def _netwatch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "netwatch", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_the_capture_carries_every_secret() -> None:
    """The test is worth something only if the secrets are in the capture: whole (plain or in one
    encoding) except where the scenario splits them over labels or groups or embeds them in a
    longer base64 string (SMTP AUTH PLAIN, HTTP Basic)."""
    data = CAPTURE.read_bytes()
    split = {"user-agent", "dns-dots", "dns-dashes", "dns-hex-split", "sni-dashes", "host-grouped", "smtp-plain",
             "http-basic"}
    missing = {label.split(":")[1] for label, v in SECRETS.items() if not any(f in data for f in _forms(v).values())}
    assert missing <= split, f"not in the capture: {sorted(missing - split)}"
    assert len(SECRETS) - len(missing) >= 30
    expect(b"\x1b[31m" in data and b"[bold" in data, "no hostile names in the capture")


def test_scan_every_output(tmp_path: Path) -> None:
    out_json, out_html = tmp_path / "f.jsonl", tmp_path / "r.html"
    r = _netwatch("scan", str(CAPTURE), "--policy", str(POLICY), "--json", str(out_json), "--html", str(out_html),
                  "--fail-on", "none", "--no-progress", "--key", KEY, "--log", "all")
    ran(r)
    piped = _netwatch("scan", str(CAPTURE), "--policy", str(POLICY), "--json", "-", "--fail-on", "none",
                      "--no-progress")
    outputs = {"console": r.stdout, "stderr": r.stderr, "json": out_json.read_bytes(), "html": out_html.read_bytes(),
               "json-stdout": piped.stdout, "summary-stderr": piped.stderr}
    rules = {json.loads(line).get("rule") for line in out_json.read_text().splitlines()}
    kinds = {json.loads(line)["event_type"] for line in out_json.read_text().splitlines()}
    assert {"flow", "tls", "dns", "http"} <= kinds  # --log all: the metadata records are searched too
    assert {"NW-CARD-001", "NW-CARD-002", "NW-CRED-001", "NW-DEST-003", "NW-EXFIL-001", "NW-TLS-003"} <= rules
    expect("Destinations" in r.stdout and "NW-DEST-003" in r.stdout, "the tables that show names are missing")
    no_leaks(outputs)


@pytest.mark.parametrize(("module", "name"), [("scenarios_url_logins.py", "login_url_secrets"),
                                            ("scenarios_body_logins.py", "login_body_secrets"),
                                            ("scenarios_nested_logins.py", "login_nested_secrets")])
def test_url_form_and_body_passwords_in_no_output(tmp_path: Path, module: str, name: str) -> None:
    """captures/login_url_secrets.pcap (scenarios_url_logins: proxy and ftp userinfo, query values,
    form posts plain / chunked / gzip, access_token, h2c) and captures/login_body_secrets.pcap
    (scenarios_body_logins: JSON, multipart, XML/SOAP bodies, as sent and decoded) through scan's
    every output, --log all."""
    mod = load_scenario(CAPTURES / module)
    secrets = {f"url-password:{k}": v for k, v in mod.PASSWORD.items()}
    secrets |= {f"wire-form:{k}": v for k, v in getattr(mod, "WIRE", {}).items()}
    capture = CAPTURES / f"{name}.pcap"
    out_json, out_html = tmp_path / "f.jsonl", tmp_path / "r.html"
    r = _netwatch("scan", str(capture), "--json", str(out_json), "--html", str(out_html), "--fail-on", "none",
                  "--no-progress", "--key", KEY, "--log", "all")
    ran(r)
    piped = _netwatch("scan", str(capture), "--json", "-", "--fail-on", "none", "--no-progress")
    outputs = {"console": r.stdout, "stderr": r.stderr, "json": out_json.read_bytes(), "html": out_html.read_bytes(),
               "json-stdout": piped.stdout, "summary-stderr": piped.stderr}
    expect(out_json.read_text().count('"NW-CRED-001"') >= 10, "the URL, form and body logins were not reported")
    expect('"event_type": "http"' in out_json.read_text(), "no --log http records were searched")
    found = leaks(outputs, secrets)
    expect(not found, f"secrets in outputs: {found}")


def test_learn_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "learnt.yaml"
    r = _netwatch("learn", str(CAPTURE), "-o", str(policy))
    ran(r)
    text = policy.read_bytes()
    expect(b"allowed_destinations:" in text and b"******" in text, "no masked names in the policy's comments")
    no_leaks({"policy": text, "stdout": r.stdout, "stderr": r.stderr})
    # a masked name is no hostname: the destination is allowed by address, so the policy still covers the capture
    rescan = tmp_path / "rescan.jsonl"
    r = _netwatch("scan", str(CAPTURE), "--policy", str(policy), "--json", str(rescan), "--fail-on", "none", "-q")
    ran(r)
    dest = [json.loads(x)["rule"] for x in rescan.read_text().splitlines() if '"category": "destination"' in x]
    assert dest == [], dest


def _hostile_jsonl(path: Path) -> None:
    """JSON Lines as an older netwatch wrote them: names, users and messages unmasked."""
    card, sni = SCENARIO.CARD, f"{SCENARIO.CARD['sni']}.gw.example"
    recs = [
        {"rule": "NW-DEST-001", "severity": "high", "title": "t", "src": "10.20.1.15", "dst": "198.51.100.9",
         "dport": 443, "proto": "tcp", "server_name": sni, "message": f"to {sni}",
         "evidence": {"names": [f"{card['dns-answer-a']}.cdn2.example", card["dns-hex"].encode().hex()]}},
        {"rule": "NW-CRED-001", "severity": "high", "title": "t", "src": "10.20.1.15", "dst": "10.20.9.30",
         "dport": 21, "proto": "tcp", "evidence": {"user": f";{card['ftp-user']}={SCENARIO.TRACK_TAILS[0]}?\u001b"}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_diff_tables_and_json(tmp_path: Path) -> None:
    outputs: dict[str, bytes | str] = {}
    for name, base, cur in (("captures", CLEAN, CAPTURE), ("reverse", CAPTURE, CLEAN)):
        out = tmp_path / f"{name}.jsonl"
        r = _netwatch("diff", str(base), str(cur), "--policy", str(POLICY), "--json", str(out), "--fail-on", "none")
        ran(r)
        outputs |= {f"{name}-console": r.stdout, f"{name}-stderr": r.stderr, f"{name}-json": out.read_bytes()}
    recs = [json.loads(x) for x in outputs["captures-json"].splitlines()]
    names = [n for rec in recs if rec["diff"] == "new-destination" for n in rec["names"]]
    expect(any("******" in n for n in names), "no masked name among the new destinations")
    old, scanned = tmp_path / "old.jsonl", tmp_path / "scanned.jsonl"
    _hostile_jsonl(old)
    ran(_netwatch("scan", str(CAPTURE), "--json", str(scanned), "--fail-on", "none", "-q"))
    for name, base, cur in (("jsonl", old, scanned), ("jsonl-reverse", scanned, old)):
        out = tmp_path / f"{name}.out"
        r = _netwatch("diff", str(base), str(cur), "--json", str(out), "--fail-on", "none")
        ran(r)
        outputs |= {f"{name}-console": r.stdout, f"{name}-json": out.read_bytes()}
    expect("NW-DEST-001" in str(outputs["jsonl-console"]), "the old JSON Lines' finding is not in the diff")
    no_leaks(outputs)


class _Replay:
    """A LiveSource that plays a capture file's frames (the real frames, at full speed)."""

    backend = "replay"
    description = "replay"
    linktype = 1

    def __init__(self, path: Path) -> None:
        from netwatch.capture.pcapfile import CaptureReader

        self.iface, self.error = "replay", None
        self.reader = CaptureReader(path)

    def start(self) -> None: ...

    def run(self, put: object, stop: threading.Event) -> None:
        assert callable(put)
        for block in self.reader.blocks():  # sources hand over blocks of frames, as the live backends do
            if stop.is_set():
                break
            put(block)

    def stop(self) -> None: ...

    def drops(self) -> int | None:
        return 0

    def close(self) -> None:
        self.reader.close()


def test_live_pipeline_outputs(tmp_path: Path) -> None:
    """The capture through LiveRun/LiveSession: log lines, the terminal dashboard, the summary, the JSON."""
    from rich.console import Console

    from netwatch.judge.policy import load_policy
    from netwatch.judge.rules import RuleSet
    from netwatch.pipeline.live import LiveRun, LiveSession
    from netwatch.report.console import print_summary
    from netwatch.report.jsonl import write_jsonl
    from netwatch.report.live import Dashboard

    log, tty = io.StringIO(), io.StringIO()
    plain = Dashboard(Console(file=log, width=120, color_system=None), "replay")
    session = LiveSession(RuleSet.load([]), load_policy(str(POLICY)), "live:replay", on_finding=plain.finding)
    run = LiveRun(_Replay(CAPTURE), session, duration=60)  # type: ignore[arg-type]
    plain.start()
    assert run.run(plain.update) == "source ended"
    report = run.finish()
    view = Dashboard(Console(file=tty, width=120, force_terminal=True, color_system=None), "replay")
    view.console.print(view.render(run.stats))
    summary = io.StringIO()
    print_summary(Console(file=summary, width=120, color_system=None), [report], report.findings)
    jsonl = tmp_path / "live.jsonl"
    with jsonl.open("w", encoding="utf-8") as fh:
        write_jsonl(report.findings, fh)
    logged = [r for r in ("critical NW-EXFIL-002", "high NW-CRED-001", "high NW-DEST-003")
              if f"finding {r}" in log.getvalue()]
    expect(len(logged) == 3 and "NW-DEST-003" in jsonl.read_text(), f"findings missing from the log: {logged}")
    outputs = {"log": log.getvalue(), "dashboard": tty.getvalue(), "summary": summary.getvalue(),
               "json": jsonl.read_bytes()}
    expect("Findings" in tty.getvalue(), "the dashboard shows no findings table")
    no_leaks(outputs)


def _replay_frames_on_lo() -> list[bytes]:
    """The capture's frames with every IPv4 address moved into 127.77.0.0/16, for sending on lo.
    The IP header checksum is left wrong on purpose: the kernel drops each frame at once (no RSTs,
    nothing delivered), while a packet socket, and so `netwatch live`, still sees it."""
    from scapy.layers.inet import IP
    from scapy.utils import rdpcap

    addresses: dict[str, str] = {}
    frames = []
    for pkt in rdpcap(str(CAPTURE)):
        ip = pkt[IP]
        for attr in ("src", "dst"):
            old = getattr(ip, attr)
            new = addresses.setdefault(old, f"127.77.{len(addresses) // 250}.{len(addresses) % 250 + 1}")
            setattr(ip, attr, new)
        ip.chksum = 0x0001  # wrong for any header this capture has (its checksums are never 1 here)
        pkt.src = pkt.dst = "00:00:00:00:00:00"
        frames.append(bytes(pkt))
    return frames


@pytest.mark.live
def test_live_command_on_loopback(tmp_path: Path) -> None:
    """`netwatch live -i lo` while the capture's frames are replayed onto lo: log lines, summary, JSON."""
    import socket
    import time

    from live_run import KEY as LIVE_KEY
    from live_run import finish, need_raw, start_live

    need_raw()
    frames = _replay_frames_on_lo()
    jsonl = tmp_path / "live.jsonl"
    proc = start_live(["-i", "lo", "--backend", "scapy", "--bpf", "net 127.77.0.0/16", "--duration", "60",
                       "--json", str(jsonl), "--key", LIVE_KEY, "--fail-on", "none", "--log", "all"])
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind(("lo", 0))
            for i, frame in enumerate(frames):
                s.send(frame)
                if i % 50 == 49:
                    time.sleep(0.02)  # let the capture keep up: a drop would only weaken the test
        time.sleep(1.5)
    finally:
        code, out, err = finish(proc, signal.SIGINT, timeout=60)
    expect(code == 0, f"exit {code}")
    rules = {json.loads(line).get("rule") for line in jsonl.read_text().splitlines() if line.strip()} - {None}
    expect({"NW-CARD-001", "NW-CRED-001", "NW-EXFIL-001"} <= rules, f"findings missing: {sorted(rules)}")
    kinds = {json.loads(line)["event_type"] for line in jsonl.read_text().splitlines() if line.strip()}
    expect({"flow", "dns", "http"} <= kinds, f"metadata records missing: {sorted(kinds)}")
    expect("finding critical" in out and "Destinations" in out, "no log lines or summary on stdout")
    no_leaks({"stdout": out, "stderr": err, "json": jsonl.read_bytes()})
