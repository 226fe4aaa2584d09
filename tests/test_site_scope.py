"""One answer to "is this address internal to the site" (issue 19): the policy's verdicts, the
remote-access analyzer's direction and scopes, the systems inventory and the HTML roles all read
`packets.addresses.Site`, built from the site's `internal_networks` (RFC 1918/4193 without a policy).
"""

from __future__ import annotations

from pathlib import Path

from netwatch.judge.policy import load_policy
from netwatch.judge.rules import RuleSet
from netwatch.packets.addresses import DEFAULT_SITE, Site, scope
from netwatch.pipeline.session import all_findings, scan_file

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "captures" / "protect_rdp_inbound.pcap"  # 185.220.101.5 opens RDP to 10.20.0.8


def _rules(policy_path: Path | None) -> list[tuple[str, str]]:
    policy = load_policy(policy_path) if policy_path else None
    report = scan_file(str(CAPTURE), RuleSet.load([]), policy)
    return sorted((f.rule, f.message) for f in all_findings([report]) if f.rule.startswith("NW-RA"))


def test_scopes_without_a_policy():
    assert [scope(a) for a in ("10.1.2.3", "fd00::1", "185.220.101.5", "203.0.113.7", "224.0.0.251", "127.0.0.1",
                               "ff02::1", "not-an-address")] == ["internal", "internal", "public", "public",
                                                                 "local", "local", "local", "local"]


def test_the_sites_networks_decide_remote_access_direction(tmp_path):
    assert [r for r, _ in _rules(None)] == ["NW-RA-001"]  # inbound from the internet
    policy = tmp_path / "site.yaml"
    policy.write_text("site: store-7\ninternal_networks: [10.0.0.0/8, 185.220.101.0/24]\n")
    assert [r for r, _ in _rules(policy)] == ["NW-RA-003"]  # the site's own routed block: internal
    pol = load_policy(policy)
    assert pol.scope("185.220.101.5") == pol.networks().scope("185.220.101.5") == "internal"
    assert pol.is_public("8.8.8.8") and not pol.is_internal("192.168.1.1")  # not listed: outside this site


def test_a_site_remembers_a_bounded_number_of_addresses():
    site = Site()
    for i in range(5000):
        site.scope(f"10.0.{i // 256}.{i % 256}")
    assert len(site._memo) <= 4096 and DEFAULT_SITE.is_internal("172.16.0.1")
