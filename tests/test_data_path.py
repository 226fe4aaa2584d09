"""Facts flow up as events; nothing sends events back down (issue 19's data-path rule).

An analyzer's bound (a DataLimit event: an HTTP body past the decoding cap) is tallied by the
session beside the flow table's own losses, never written into the table; the report joins both.
The live dashboard's totals come from FlowEnd events through a listener, with FlowEnd.infra."""

from __future__ import annotations

from pathlib import Path

from bounds_captures import CARD2, Tcp, filler, http_post

from netwatch.capture.pcapfile import CaptureReader
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.live import LiveSession


def test_analyzer_bounds_stay_in_the_session_and_reach_the_report(tmp_path: Path) -> None:
    c = Tcp(port=80)
    c.handshake()
    body = filler((1 << 20) + 5000) + b" pan=" + CARD2 + b" " + filler(300)
    c.pieces(0, http_post(body), 1400)
    c.pieces(1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1400)
    c.close()
    cap = tmp_path / "bigbody.pcap"
    c.write(cap)
    session = LiveSession(RuleSet.load([]), None, str(cap))
    with CaptureReader(str(cap)) as reader:
        session.feed_blocks(reader.blocks())
    report = session.close()
    capped = len(body) - (1 << 20)
    assert [n for r, n in session.limits.totals.items() if "decoding cap" in r] == [capped]
    assert not [r for r in session.flows.losses.totals if "decoding cap" in r]  # nothing went down
    assert [d["bytes"] for d in report.losses if "decoding cap" in d["reason"]] == [capped]
    # the dashboard's totals: the flow's payload bytes, cleartext (http is not infrastructure)
    assert session.share == [0, sum(session.host_bytes.values()) // 2]
    assert session.share[1] > len(body)
