"""Who sent the card data on channels whose ports point the wrong way (issue 20): a TFTP upload (the
requester is the transfer's client, whatever the ports say; also when its DATA leaves from a new
port) and an FTP active-mode upload (the server opened the data connection). Card findings name the
receiver; tshark's dissection of the same captures agrees on who sent the data to whom.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import replay

from netwatch.analyzers.dispatch import Dispatcher
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.analyzers.tftp import tftp_request
from netwatch.events import CardData, Event, FlowEnd

ROOT = Path(__file__).resolve().parents[1]
TSHARK = shutil.which("tshark")
POS, TFTP_SRV, FTP_SRV = "10.20.1.15", "10.20.0.40", "10.20.0.41"


def _events(name: str) -> list[Event]:
    out: list[Event] = []
    replay(ROOT / "captures" / f"{name}.pcap", Dispatcher(build_classifier(), build_analyzers(), out.append))
    return out


def _senders(name: str, display: str) -> set[tuple[str, str]]:
    assert TSHARK is not None
    out = subprocess.run([TSHARK, "-r", str(ROOT / "captures" / f"{name}.pcap"), "-n", "-Y", display, "-T", "fields",
                          "-e", "ip.src", "-e", "ip.dst"], capture_output=True, text=True, timeout=120, check=True)
    return {tuple(line.split("\t")) for line in out.stdout.splitlines()}  # type: ignore[misc]


def test_a_tftp_upload_is_sent_to_the_server():
    evs = _events("direction_tftp_upload")
    cards = [e for e in evs if isinstance(e, CardData)]
    assert len(cards) == 2
    assert all((e.flow.src, e.direction, e.receiver) == (POS, "to_server", TFTP_SRV) for e in cards)
    ends = {(e.flow.src, e.flow.client_port, e.flow.server_port, e.app) for e in evs if isinstance(e, FlowEnd)}
    assert ends == {(POS, 1069, 69, "tftp"), (POS, 1069, 50123, "tftp"), (POS, 1071, 69, "tftp"),
                    (POS, 1070, 50124, "tftp")}


def test_an_ftp_active_upload_names_the_server_as_receiver():
    (card,) = [e for e in _events("direction_ftp_active") if isinstance(e, CardData)]
    assert (card.flow.app, card.direction, card.receiver, card.receiver_port) == ("ftp-data", "to_client", FTP_SRV, 20)


def test_tftp_requests():
    assert tftp_request(b"\x00\x02batch.csv\x00octet\x00blksize\x001428\x00") == 2
    assert tftp_request(b"\x00\x01f\x00netascii\x00") == 1
    assert tftp_request(b"\x00\x03\x00\x01data") is None and tftp_request(b"\x00\x02f\x00bogus\x00") is None


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
def test_senders_agree_with_tshark():
    tftp = {(e.receiver, e.flow.dst if e.receiver == e.flow.src else e.flow.src)
            for e in _events("direction_tftp_upload") if isinstance(e, CardData)}
    assert {(dst, src) for src, dst in _senders("direction_tftp_upload", "tftp.opcode == 3")} == tftp
    ftp = {(e.receiver, e.flow.dst if e.receiver == e.flow.src else e.flow.src)
           for e in _events("direction_ftp_active") if isinstance(e, CardData)}
    assert {(dst, src) for src, dst in _senders("direction_ftp_active", "ftp-data")} == ftp
