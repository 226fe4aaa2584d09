"""Logins in WebSocket messages (captures/scenarios_ws_logins.py): a client's JSON or XML sign-on after
an upgrade is NW-CRED-001 (masked, fragmented, deflated), the server's echo and a flag are not; in
evidence the password is blanked *inside* the mask, so unmasking the frames (as any reader can: the
key travels with them) shows no password, and a re-scan still sees each plain-message login.
Assertion messages name logins, never a password."""

from __future__ import annotations

import json
from pathlib import Path

import dpkt
from scenario_modules import CAPTURES, load_scenario

from netwatch.cli import main

CAPTURE = CAPTURES / "login_websocket.pcap"
MOD = load_scenario(CAPTURES / "scenarios_ws_logins.py")


def _findings(capture: Path, out: Path, *extra: str) -> list[dict]:
    assert main(["scan", str(capture), "--json", str(out), "--fail-on", "none", "-q", "--jobs", "1", *extra]) == 0
    return [r for r in map(json.loads, out.read_text().splitlines()) if r["event_type"] == "finding"]


def _logins(findings: list[dict]) -> list[tuple[str, str, int]]:
    return sorted((f["evidence"]["user"], f["evidence"]["method"], f["evidence"]["password_length"])
                  for f in findings if f["rule"] == "NW-CRED-001")


def _unmasked_payloads(capture: Path) -> bytes:
    """Every TCP payload of the capture with each WebSocket frame after the 101 unmasked (RFC 6455 §5.3)."""
    streams: dict[tuple[int, int], bytearray] = {}
    with capture.open("rb") as fh:
        for _ts, raw in dpkt.pcap.Reader(fh):
            tcp = dpkt.ethernet.Ethernet(raw).data.data
            if isinstance(tcp, dpkt.tcp.TCP) and tcp.data:
                streams.setdefault((tcp.sport, tcp.dport), bytearray()).extend(tcp.data)
    out = bytearray()
    for data in streams.values():
        at = data.find(b"\r\n\r\n") + 4
        out += data[:at]
        while at + 2 <= len(data):
            size, masked = data[at + 1] & 0x7F, data[at + 1] & 0x80
            head = at + 2 + {126: 2, 127: 8}.get(size, 0)
            if size >= 126:
                size = int.from_bytes(data[at + 2 : head], "big")
            key = bytes(data[head : head + 4]) if masked else b"\0\0\0\0"
            start = head + (4 if masked else 0)
            out += bytes(b ^ key[i % 4] for i, b in enumerate(data[start : start + size]))
            at = start + size
    return bytes(out)


def test_client_logins_found_and_echoes_and_flags_not(tmp_path: Path) -> None:
    p = MOD.PASSWORD
    assert _logins(_findings(CAPTURE, tmp_path / "out.jsonl")) == sorted([
        ("till7", "WebSocket JSON message", len(p["json"])), ("mgr", "WebSocket JSON message", len(p["fragmented"])),
        ("kiosk", "WebSocket XML message", len(p["xml"])), ("night", "WebSocket JSON message", len(p["deflate"]))])


def test_evidence_blanks_the_password_inside_the_mask(tmp_path: Path) -> None:
    findings = _findings(CAPTURE, tmp_path / "out.jsonl", "--evidence", str(tmp_path / "ev"))
    files = sorted((tmp_path / "ev").glob("*.pcap"))
    assert files and _unmasked_payloads(CAPTURE).count(MOD.PASSWORD["json"].encode()) == 1  # the reader reads frames
    for f in files:
        seen = _unmasked_payloads(f) + f.read_bytes()
        assert [k for k, pw in MOD.PASSWORD.items() if pw.encode() in seen] == [], f.name
    assert any("websocket+deflate message overwritten whole" in (x.get("evidence_redaction") or []) for x in findings)
    original = [x for x in _logins(findings) if x[0] != "night"]  # the deflated message went whole
    rescanned = {x for f in files for x in _logins(_findings(f, tmp_path / f"{f.stem}.jsonl"))}
    assert set(original) <= rescanned  # the same users, methods and password lengths
