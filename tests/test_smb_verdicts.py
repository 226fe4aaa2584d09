"""SMB verdicts (issue 20): SMBv1 only when the server answers in SMB1, an SMB1 offer alone a low
note, SMB 3.x transform-header sessions protected; each flow's verdict agrees with tshark's
dissection of the same capture (SMB1 responses, the SMB2 dialect chosen, transform headers).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import replay

from netwatch.analyzers.dispatch import Dispatcher
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.events import Event, FlowEnd, SmbNegotiate
from netwatch.protocols.smb import SmbFramer

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ["smb_win11_offer", "smb3_encrypted", "smb1_nas", "smb2_win7_ntlm", "outdated_posready_smb",
            "outdated_current_store", "dest_lateral_smb"]
TSHARK = shutil.which("tshark")
SMB2_CONTROL = {0, 1, 2, 3, 4, 12, 13}


def _events(name: str) -> list[Event]:
    out: list[Event] = []
    replay(ROOT / "captures" / f"{name}.pcap", Dispatcher(build_classifier(), build_analyzers(), out.append))
    return out


def _smb_flows(evs: list[Event]) -> dict[int, FlowEnd]:
    return {e.flow.client_port: e for e in evs if isinstance(e, FlowEnd) and e.app == "smb"}


def test_an_smb1_offer_answered_in_smb2_is_not_smbv1():
    evs = _events("smb_win11_offer")
    (end,) = _smb_flows(evs).values()
    assert (end.how, end.encrypted) == ("smb2", False)
    (neg,) = [e for e in evs if isinstance(e, SmbNegotiate)]
    assert neg.smb1_offered and not neg.smb1_chosen and neg.chosen == "3.1.1"
    assert "1" in neg.offered and "3.1.1" in neg.offered


def test_a_server_answering_in_smb1_is_smbv1():
    evs = _events("smb1_nas")
    (end,) = _smb_flows(evs).values()
    assert end.how == "smb1"
    (neg,) = [e for e in evs if isinstance(e, SmbNegotiate)]
    assert neg.smb1_chosen and neg.chosen == "1"


def test_transform_headers_after_session_setup_are_protected():
    (end,) = _smb_flows(_events("smb3_encrypted")).values()
    assert (end.how, end.encrypted) == ("smb3-encrypted", True)


def test_the_framer_keeps_headers_only_and_survives_any_split():
    msg = b"\xfeSMB" + bytes(60) + b"x" * 5000
    frame = b"\x00" + len(msg).to_bytes(3, "big") + msg
    stream = b"\x85\x00\x00\x00" + frame * 3  # a keepalive, then three messages
    for step in (1, 7, 1500, len(stream)):
        f = SmbFramer()
        got = [m for i in range(0, len(stream), step) for m in f.feed(stream[i : i + step])]
        assert [m.kind for m in got] == ["smb2"] * 3 and all(len(m.head) == 1024 for m in got)
    broken = SmbFramer()
    assert not list(broken.feed(b"GET / HTTP/1.1\r\n")) and broken.broken


def _tshark_verdicts(name: str) -> dict[int, tuple[bool, str | None, bool, bool]]:
    """Per client port: (SMB1 answered by the server, SMB2 dialect chosen, transform headers, SMB2 data in clear)."""
    assert TSHARK is not None
    out = subprocess.run([TSHARK, "-r", str(ROOT / "captures" / f"{name}.pcap"), "-n", "-Y", "smb or smb2",
                          "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,",
                          "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "smb.flags.response",
                          "-e", "smb.dialect.index", "-e", "smb2.cmd", "-e", "smb2.flags.response",
                          "-e", "smb2.dialect",
                          "-e", "smb2.header.transform.msg_size"],
                         capture_output=True, text=True, timeout=120, check=True)
    flows: dict[int, list] = {}
    for line in out.stdout.splitlines():
        sport, dport, smb1_resp, index, cmd, smb2_resp, dialect, sealed = (line.split("\t") + [""] * 8)[:8]
        client = int(dport) if int(sport) == 445 or int(sport) == 139 else int(sport)
        v = flows.setdefault(client, [False, None, False, False])
        if smb1_resp == "1" and index not in ("", "65535"):
            v[0] = True
        if smb2_resp.startswith("1") and dialect and dialect != "0x02ff":
            v[1] = {"0x0202": "2.0.2", "0x0210": "2.1", "0x0300": "3.0", "0x0302": "3.0.2", "0x0311": "3.1.1"}[dialect]
        if sealed:
            v[2] = True
        if any(c and int(c) not in SMB2_CONTROL for c in cmd.split(",")):
            v[3] = True
    return {k: (v[0], v[1], v[2], v[3]) for k, v in flows.items()}


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
@pytest.mark.parametrize("name", CAPTURES)
def test_smb_verdicts_agree_with_tshark(name):
    theirs = _tshark_verdicts(name)
    evs = _events(name)
    ends = _smb_flows(evs)
    negs = {e.flow.client_port: e for e in evs if isinstance(e, SmbNegotiate)}
    assert theirs and set(theirs) <= set(ends)
    for port, (smb1, dialect, sealed, clear_data) in theirs.items():
        end = ends[port]
        assert (end.how == "smb1") == smb1, (port, end.how)
        if dialect is not None:
            assert negs[port].chosen == dialect and not negs[port].smb1_chosen
        assert end.encrypted is (sealed and not clear_data), (port, end.how)


def _nbt(msg: bytes) -> bytes:
    return len(msg).to_bytes(4, "big") + msg


def _smb2(command: int, response: bool = False) -> bytes:
    return b"\xfeSMB" + bytes(8) + command.to_bytes(2, "little") + bytes(2) + bytes([1 if response else 0]) + bytes(47)


@pytest.mark.parametrize(("messages", "how", "encrypted"), [
    ([_smb2(1), _smb2(1, True), b"\xfdSMB" + bytes(60), b"\xfdSMB" + bytes(80)], "smb3-encrypted", True),
    ([_smb2(1), b"\xfdSMB" + bytes(60), _smb2(8), _smb2(8, True)], "smb3-partly-encrypted", False),
    ([_smb2(3), _smb2(5), b"\xfdSMB" + bytes(60)], "smb2", False),  # data in clear before any sealed message
    ([_smb2(1), b"\xfcSMB" + bytes(40)], "smb2", False),  # compressed, not encrypted
])
def test_sealed_partly_sealed_and_compressed_sessions(messages, how, encrypted):
    from netwatch.analyzers import FlowNotes
    from netwatch.analyzers.smb import SmbSessions
    from netwatch.flows.table import Flow

    flow = Flow(b"\x0a\x00\x00\x01", 50000, b"\x0a\x00\x00\x02", 445, 6, 0.0)
    flow.app, flow.encrypted, flow.how = "smb", False, "smb2"
    flow.state["@dispatch"] = FlowNotes()
    analyzer = SmbSessions()
    flow.active = [analyzer]
    for i, msg in enumerate(messages):
        analyzer.stream(flow, i % 2, _nbt(msg), float(i), lambda e: None)
    assert (flow.how, flow.encrypted) == (how, encrypted)
