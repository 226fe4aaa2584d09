"""AnyDesk on the LAN recognised by its handshake (issue 20): the direct session by AnyDesk's own
certificate, the session that resumes it by the client's JA4 between the same two hosts; plain TLS
from the same client elsewhere stays TLS. The remote-access observation reaches the remote-access
analyzer through the Dispatcher (`app_named` → `app_changed`), not by a call between analyzers.
tshark agrees: its AnyDesk certificate and its resumed session ids name the same connections.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import replay

from netwatch.analyzers.dispatch import Dispatcher
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.events import Event, FlowEnd, RemoteAccess

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "captures" / "anydesk_lan.pcap"
TSHARK = shutil.which("tshark")


def _events() -> list[Event]:
    out: list[Event] = []
    replay(CAPTURE, Dispatcher(build_classifier(), build_analyzers(), out.append))
    return out


def test_direct_and_resumed_anydesk_sessions_are_named_plain_tls_is_not():
    evs = _events()
    apps = {e.flow.client_port: e.app for e in evs if isinstance(e, FlowEnd)}
    assert apps == {50700: "anydesk", 50701: "anydesk", 50702: "tls"}
    ra = [(e.flow.client_port, e.tool, e.direction) for e in evs if isinstance(e, RemoteAccess)]
    assert ra == [(50700, "anydesk", "internal"), (50701, "anydesk", "internal")]


def test_analyzers_do_not_import_each_other_for_facts():
    src = (ROOT / "netwatch" / "analyzers" / "tls_handshakes.py").read_text()
    assert "remote_access" not in src and "RemoteAccess" not in src


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
def test_anydesk_sessions_agree_with_tshark():
    assert TSHARK is not None
    out = subprocess.run([TSHARK, "-r", str(CAPTURE), "-n", "-Y", "tls.handshake.type == 2 or tls.handshake.type == 11",
                          "-T", "fields", "-E", "separator=\t", "-e", "ip.src", "-e", "tcp.srcport",
                          "-e", "tcp.dstport", "-e", "tls.handshake.type", "-e", "tls.handshake.session_id",
                          "-e", "x509sat.uTF8String"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = [(line.split("\t") + [""] * 6)[:6] for line in out.splitlines()]
    hellos = [(server, int(dport), session) for server, _sport, dport, types, session, _ in rows
              if "2" in types.split(",")]  # ServerHello: sent by the server to the client's port
    clients = {port for _, port, _ in hellos}
    anydesk = {int(p) for _, sport, dport, _, _, names in rows if "AnyDesk" in names for p in (sport, dport)} & clients
    first: dict[tuple[str, str], int] = {}
    for server, port, session in hellos:  # a later ServerHello of the same server and session id resumes it
        origin = first.setdefault((server, session), port)
        if origin in anydesk:
            anydesk.add(port)
    mine = {e.flow.client_port for e in _events() if isinstance(e, FlowEnd) and e.app == "anydesk"}
    assert anydesk == mine == {50700, 50701}
