"""Facts flow up as events; nothing sends events back down (issue 19's data-path rule).

An analyzer's bound (a DataLimit event: an HTTP body past the decoding cap) is tallied by the
session beside the flow table's own losses, never written into the table; the report joins both.
The live dashboard's totals come from FlowEnd events through a listener, with FlowEnd.infra."""

from __future__ import annotations

from pathlib import Path

from bounds_captures import card_past_body_cap

from netwatch.capture.pcapfile import CaptureReader
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.live import LiveSession


def test_analyzer_bounds_stay_in_the_session_and_reach_the_report(tmp_path: Path) -> None:
    cap = tmp_path / "bigbody.pcap"
    body_len = card_past_body_cap(cap)
    session = LiveSession(RuleSet.load([]), None, str(cap))
    with CaptureReader(str(cap)) as reader:
        session.feed_blocks(reader.blocks())
    report = session.close()
    capped = body_len - (1 << 20)
    assert [n for r, n in session.limits.totals.items() if "decoding cap" in r] == [capped]
    assert not [r for r in session.flows.losses.totals if "decoding cap" in r]  # nothing went down
    assert [d["bytes"] for d in report.losses if "decoding cap" in d["reason"]] == [capped]
    # the dashboard's totals: the flow's payload bytes, cleartext (http is not infrastructure)
    assert session.share == [0, sum(session.host_bytes.values()) // 2]
    assert session.share[1] > body_len
