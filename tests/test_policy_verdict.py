"""One policy verdict: the destinations inventory and the rules judge every flow the same way.

Every bundled capture is scanned with every bundled policy through the real pipeline; per flow, the
inventory's verdict (counted as denied or not) must match whether a rule that judges destinations
under the policy fired on one of the flow's events.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.capture.pcapfile import CaptureReader
from netwatch.cli import main
from netwatch.events import Event, FlowEnd
from netwatch.judge.policy import load_policy
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import Session

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted(p for p in (ROOT / "captures").iterdir() if p.is_file() and ".pcap" in p.name)
POLICIES = sorted((ROOT / "captures" / "policies").glob("*.yaml"))
# Rules whose condition is "the policy does not allow this destination" (DEST-005 judges the source).
JUDGING = {"NW-DEST-001", "NW-DEST-003", "NW-DEST-004", "NW-DEST-006", "NW-EXFIL-002"}

FlowKey = tuple[str, int, str, int, str]


class _Recording(Session):
    """A Session that notes, per flow, the inventory's verdict and the judging rules that fired."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.denied: dict[FlowKey, bool] = {}
        self.fired: dict[FlowKey, set[str]] = {}

    def _emit(self, obs: Event) -> None:
        f = obs.flow
        key = (f.src, f.client_port, f.dst, f.server_port, f.proto)
        hits = {r.id for r, _sev, _get in self.aggregator.rules.match(obs, self.aggregator.policy)}
        self.fired.setdefault(key, set()).update(hits & JUDGING)
        before = sum(r["denied"] or 0 for r in self.inventory.rows.values())
        super()._emit(obs)
        if isinstance(obs, FlowEnd):
            after = sum(r["denied"] or 0 for r in self.inventory.rows.values())
            self.denied[key] = after > before


def _scan(capture: Path, policy_path: Path) -> _Recording:
    session = _Recording(RuleSet.load([]), load_policy(policy_path), str(capture))
    with CaptureReader(str(capture)) as reader:
        session.feed_all(reader.records())
    session.close()
    return session


def test_there_is_a_bundled_policy() -> None:
    assert POLICIES


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name.split(".pcap")[0])
def test_inventory_and_rules_agree_flow_by_flow(capture: Path, policy: Path) -> None:
    s = _scan(capture, policy)
    assert s.denied, "every capture has at least one flow"
    disagree = [(k, s.denied[k], sorted(s.fired.get(k, ()))) for k in s.denied
                if s.denied[k] != bool(s.fired.get(k))]
    assert disagree == []


def test_card_flow_from_a_host_outside_pos_hosts_is_judged(capsys: pytest.CaptureFixture[str]) -> None:
    """ipv6_card_post: the sender is not in pos_hosts, but it sent a card number to a destination the
    policy does not list. The rules said so (NW-EXFIL-002) while the inventory said "(not from a POS
    host)"; both now say not allowed."""
    s = _scan(ROOT / "captures" / "ipv6_card_post.pcap", ROOT / "captures" / "policies" / "store.yaml")
    (row,) = s.inventory.results()
    assert (row["allowed"], row["denied"]) == ([], 1)
    assert any("NW-EXFIL-002" in fired for fired in s.fired.values())
    main(["scan", str(ROOT / "captures" / "ipv6_card_post.pcap"), "--policy",
          str(ROOT / "captures" / "policies" / "store.yaml"), "--fail-on", "none", "--no-progress"])
    assert "not from a POS host" not in capsys.readouterr().out
