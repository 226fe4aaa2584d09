"""netwatch.flows.fastpath: the block path (numpy headers, settled flows counted per block) must give the
same report as the same frames fed one at a time, whatever the link layer and wherever blocks end."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from pipeline_helpers import ether, ipv4_packet, pcap_bytes, tcp_frame, write
from test_pipeline_scan import _bench, _summary

from netwatch.capture.blocks import batches
from netwatch.capture.pcapfile import CaptureReader
from netwatch.flows.fastpath import SMALL
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import Session, scan_file
from netwatch.redaction.masking import Fingerprinter

RULES = RuleSet.load([])
KEY = Fingerprinter(bytes(16))
CARD = b"4000056655665556"  # a Luhn-valid test Visa number
SLL = struct.pack("!HHH8sH", 0, 1, 6, bytes(8), 0x0800)  # Linux cooked header, IPv4
SLL2 = struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, bytes(8))


def _frame_by_frame(path: str) -> dict:
    slow = Session(RULES, None, path, fingerprint=KEY)
    with CaptureReader(path) as r:
        for frame in r:
            slow.feed(frame)
    return _summary(slow.close())


@pytest.fixture(scope="module")
def mix(tmp_path_factory) -> tuple[Path, list[tuple[float, bytes]]]:
    path = tmp_path_factory.mktemp("fp") / "mix.pcap"
    _bench().generate(path, 6_000, seed=11)
    with CaptureReader(path) as r:
        frames = [(ts, data) for ts, _lt, data, _wl in r.records()]
    return path, frames


# each link layer the vector path reads, as a rewrite of an Ethernet/IPv4 frame
LINKS = {
    "ethernet": (1, lambda f: f),
    "802.1q": (1, lambda f: f[:12] + b"\x81\x00\x00\x07" + f[12:]),
    "raw ip": (101, lambda f: f[14:]),
    "sll": (113, lambda f: SLL + f[14:]),
    "sll2": (276, lambda f: SLL2 + f[14:]),
}


@pytest.mark.parametrize("link", sorted(LINKS))
def test_blocks_agree_with_frame_by_frame(tmp_path, mix, link):
    linktype, rewrite = LINKS[link]
    path = write(tmp_path, "l.pcap", pcap_bytes([(ts, rewrite(f)) for ts, f in mix[1]], linktype=linktype))
    fast = _summary(scan_file(path, RULES, None, fingerprint=KEY))
    assert fast == _frame_by_frame(path)
    assert fast["packets"] == 6_000 and fast["findings"]
    ether_run = scan_file(str(mix[0]), RULES, None, fingerprint=KEY)
    assert fast["flows"] == ether_run.flows
    assert fast["findings"] == [f.replace(str(mix[0]), path) for f in _summary(ether_run)["findings"]]


@pytest.mark.parametrize("size", [SMALL, 97, 1000, 6000])
def test_block_boundaries_do_not_matter(mix, size):
    """Where a block ends (a flow settled in one block and counted in bulk in the next) changes nothing."""
    path = str(mix[0])
    s = Session(RULES, None, path, fingerprint=KEY)
    with CaptureReader(path) as r:
        s.feed_blocks(batches(r.records(), size))
    assert _summary(s.close()) == _frame_by_frame(path)


def test_port_reuse_inside_one_block(tmp_path):
    """A settled flow (SSH, counted only) closes and its ports are reused within one block: the second
    connection is a new flow with its own counts, not packets added to the ended one."""
    c, s = ("10.20.1.15", 49200), ("198.51.100.77", 22)
    frames = [ether(ipv4_packet("192.0.2.1", "192.0.2.2", 50, b"\0\0\1\1" + i.to_bytes(4, "big") + b"e" * 60))
              for i in range(SMALL)]
    for base, n in ((100, 3), (5000, 9)):
        frames += [tcp_frame(c[0], s[0], c[1], s[1], base, 0x02), tcp_frame(s[0], c[0], s[1], c[1], 900, 0x12),
                   tcp_frame(c[0], s[0], c[1], s[1], base + 1, 0x10),
                   tcp_frame(s[0], c[0], s[1], c[1], 901, 0x18, b"SSH-2.0-OpenSSH_9.6\r\n"),
                   tcp_frame(c[0], s[0], c[1], s[1], base + 1, 0x18, b"SSH-2.0-OpenSSH_9.6\r\n")]
        frames += [tcp_frame(c[0], s[0], c[1], s[1], base + 22 + 48 * i, 0x18, bytes(range(48))) for i in range(n)]
        end = base + 22 + 48 * n
        frames += [tcp_frame(c[0], s[0], c[1], s[1], end, 0x11), tcp_frame(s[0], c[0], s[1], c[1], 922, 0x11),
                   tcp_frame(c[0], s[0], c[1], s[1], end + 1, 0x10)]
    frames += frames[:SMALL]
    path = write(tmp_path, "reuse.pcap", pcap_bytes([(1.0 + i / 100, f) for i, f in enumerate(frames)]))
    session = Session(RULES, None, path, fingerprint=KEY)
    with CaptureReader(path) as r:  # the first block ends once the first connection is settled
        session.feed_blocks(batches(r.records(), SMALL + 5))
    report = session.close()
    assert report.flows == 3
    ssh = [row for row in report.inventory if row["dport"] == 22]
    assert [row["flows"] for row in ssh] == [2]
    assert _summary(report) == _frame_by_frame(path)


class _CountOnly:
    """A sink that settles every flow at its start: each later frame is counted, not inspected."""

    def flow_start(self, flow: object) -> None:
        flow.inspect = False  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return lambda *args: None


@pytest.mark.parametrize("pure", [True, False], ids=["pure", "compiled"])
def test_settled_flow_last_time_is_its_latest_frame(pure, monkeypatch):
    """Both directions of a settled flow are counted per key in one block: the flow's last time is
    its latest frame's, whichever key is counted first (the cores order keys differently)."""
    from netwatch.capture.blocks import block_of
    from netwatch.flows import fastpath
    from netwatch.flows.core import compiled
    from netwatch.flows.table import FlowTable
    from netwatch.packets.decode import Decoder

    if not pure and compiled is None:
        pytest.skip("compiled core not built here")
    monkeypatch.setattr(fastpath, "compiled", None if pure else compiled)
    a, b = "10.0.0.2", "10.0.0.1"  # the client's key sorts after the server's

    def seg(src: str, dst: str, sport: int, dport: int, flags: int, ts: float) -> tuple[float, int, bytes, int]:
        frame = ether(ipv4_packet(src, dst, 6, struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 0x50, flags, 1000, 0, 0)))
        return ts, 1, frame, len(frame)

    table = FlowTable(_CountOnly())  # type: ignore[arg-type]
    fast = fastpath.FastPath(Decoder(), table)
    fast.feed(block_of([seg(a, b, 40000, 443, 0x02, 0.5), *[seg(b, a, 443, 40000, 0x12, 0.6)] * SMALL]))
    fast.feed(block_of([seg(a, b, 40000, 443, 0x10, 1.0)] * SMALL + [seg(b, a, 443, 40000, 0x10, 2.0)] * SMALL
                       + [seg(a, b, 40000, 443, 0x10, 3.0)] * SMALL))
    (flow,) = table.live
    assert (flow.last_ts, flow.last_frame, flow.packets) == (3.0, 4 * SMALL + 1, [2 * SMALL + 1, 2 * SMALL])
