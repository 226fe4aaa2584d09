"""Windows versions from NTLMSSP wherever the handshake rides (issue 20): SMB2 SESSION_SETUP, LDAP
SASL (GSS-SPNEGO) binds, DCE/RPC binds and AUTH3; HTTP NTLM. The versions agree with tshark's
dissection (`ntlmssp.version.*`) host by host; DCE/RPC is protected only with packet privacy.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from netwatch.analyzers.recognise_apps import dcerpc
from netwatch.flows.table import Flow
from netwatch.judge.rules import load_rules_and_policy
from netwatch.pipeline.session import scan_file

ROOT = Path(__file__).resolve().parents[1]
TSHARK = shutil.which("tshark")


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
@pytest.mark.parametrize("name", ["smb2_win7_ntlm", "windows_ldap_dcerpc_ntlm", "login_http_ntlm"])
def test_ntlmssp_versions_agree_with_tshark(name):
    assert TSHARK is not None
    out = subprocess.run([TSHARK, "-r", str(ROOT / "captures" / f"{name}.pcap"), "-n", "-Y", "ntlmssp.version.major",
                          "-T", "fields", "-E", "separator=\t", "-E", "occurrence=l", "-e", "ip.src",
                          "-e", "ntlmssp.version.major", "-e", "ntlmssp.version.minor",
                          "-e", "ntlmssp.version.build_number"],
                         capture_output=True, text=True, timeout=120, check=True)
    theirs = {(src, f"{a}.{b}.{c}") for src, a, b, c in (line.split("\t") for line in out.stdout.splitlines())}
    systems = scan_file(str(ROOT / "captures" / f"{name}.pcap"), *load_rules_and_policy())
    mine = {(e.host, e.version) for e in systems.systems.results() if e.protocol.startswith("ntlmssp")}
    assert theirs and mine == theirs


def _bind(level: int) -> bytes:
    auth = b"NTLMSSP\x00" + bytes(32)
    body = bytes(12) + bytes([10, level, 0, 0]) + bytes(4) + auth
    return bytes([5, 0, 11, 3, 0x10, 0, 0, 0]) + (16 + len(body)).to_bytes(2, "little") + len(auth).to_bytes(
        2, "little") + bytes(4) + body


def test_dcerpc_is_protected_only_with_packet_privacy():
    flow = Flow(b"\x0a\x00\x00\x01", 50000, b"\x0a\x00\x00\x02", 49667, 6, 0.0)
    assert dcerpc(_bind(6), flow, 0) == ("dcerpc", True, "dcerpc-privacy")
    assert dcerpc(_bind(5), flow, 0) == ("dcerpc", False, None)
    epm = Flow(b"\x0a\x00\x00\x01", 50000, b"\x0a\x00\x00\x02", 135, 6, 0.0)
    assert dcerpc(_bind(2), epm, 0) == ("epmap", False, None)
    assert dcerpc(b"\x05\x00\x0b\x03" + bytes(12), flow, 0) is None  # a fragment length below the header


def _ldap_events(name: str) -> list:
    from pipeline_helpers import replay

    from netwatch.analyzers.dispatch import Dispatcher
    from netwatch.analyzers.registry import build_analyzers, build_classifier

    out: list = []
    replay(ROOT / "captures" / f"{name}.pcap", Dispatcher(build_classifier(), build_analyzers(), out.append))
    return out


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
def test_ldap_ntlm_bind_user_agrees_with_tshark():
    from netwatch.events import Credentials

    assert TSHARK is not None
    out = subprocess.run([TSHARK, "-r", str(ROOT / "captures" / "windows_ldap_dcerpc_ntlm.pcap"), "-n",
                          "-Y", "ldap and ntlmssp.auth.username", "-T", "fields", "-e", "ntlmssp.auth.username",
                          "-e", "ntlmssp.auth.domain"], capture_output=True, text=True, timeout=120, check=True)
    theirs = {f"{u}@{d}" for u, d in (line.split("\t") for line in out.stdout.splitlines())}
    evs = _ldap_events("windows_ldap_dcerpc_ntlm")
    mine = {(e.user, e.method, e.secret) for e in evs if isinstance(e, Credentials)}
    assert theirs and mine == {(u, "NTLM bind", "digest") for u in theirs}


def test_sicily_ntlm_bind():
    from scapy.layers.ntlm import NTLM_AUTHENTICATE_V2

    from netwatch.protocols.auth import ldap_bind
    from netwatch.protocols.windows import ntlm_authenticate

    token = bytes(NTLM_AUTHENTICATE_V2(NegotiateFlags="NEGOTIATE_UNICODE", DomainName="STORE42", UserName="clerk"))
    body = b"\x02\x01\x03" + b"\x04\x00" + b"\x8b\x81" + bytes([len(token)]) + token
    msg = b"\x30\x81" + bytes([len(body) + 5]) + b"\x02\x01\x07" + b"\x60" + bytes([len(body)]) + body
    bind = ldap_bind(msg)
    assert bind is not None and bind[2] == "sicily" and ntlm_authenticate(bind[3] or b"") == (b"STORE42", b"clerk")
