"""Site policy loading and matching: errors name file, line and field; hostnames match via names."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.judge.policy import PolicyError, load_policy, policy_from_text

GOOD = """\
site: store-0042
pos_hosts: [10.20.1.0/24]
allowed_resolvers: [10.20.0.53]
allowed_destinations:
  - name: acquirer
    hosts: [pay.acquirer.example, "*.gateway.example", 203.0.113.10]
    ports: [443]
  - name: vendor
    hosts: [198.51.100.0/28]
    apps: [tls]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(text)
    return p


def test_good_policy_matches_by_address_name_wildcard_port_and_app(tmp_path: Path) -> None:
    pol = load_policy(write(tmp_path, GOOD))
    assert pol.site == "store-0042"
    assert pol.match("203.0.113.10", 443, [])[0].name == "acquirer"
    assert pol.match("192.0.2.1", 443, ["PAY.acquirer.example."]) is not None
    assert pol.match("192.0.2.1", 443, ["api.gateway.example"])[1] == "api.gateway.example"
    assert pol.match("192.0.2.1", 443, ["gateway.example"]) is None  # "*." needs a label in front
    assert pol.match("192.0.2.1", 443, ["evilgateway.example"]) is None
    assert pol.match("203.0.113.10", 80, []) is None  # wrong port
    assert pol.allows("198.51.100.5", 8443, [], "tls") is not None
    assert pol.allows("198.51.100.5", 8443, [], "http") is None  # wrong app
    assert pol.is_pos("10.20.1.15") and not pol.is_pos("10.20.2.30")
    assert pol.is_internal("10.20.2.30") and not pol.is_public("10.20.2.30")
    assert pol.is_public("8.8.8.8") and pol.is_public("192.0.2.1")
    assert not pol.is_public("224.0.0.251") and not pol.is_public("255.255.255.255")
    assert pol.is_resolver("10.20.0.53") and not pol.is_resolver("8.8.8.8")


def test_without_allowed_resolvers_destinations_on_port_53_are_the_resolvers() -> None:
    pol = policy_from_text("allowed_destinations:\n  - {name: dns, hosts: [10.0.0.1], ports: [53]}\n"
                           "  - {name: web, hosts: [10.0.0.2], ports: [443]}\n")
    assert pol.is_resolver("10.0.0.1")
    assert not pol.is_resolver("10.0.0.2")
    assert pol.is_pos("192.168.1.9")  # no pos_hosts: every internal host is a POS host


@pytest.mark.parametrize(("text", "where"), [
    ("pos_hosts: [10.20.1.0/24, not-an-ip]\n", ":1: pos_hosts: 'not-an-ip'"),
    ("site: s\nallowed_destinations:\n  - name: acq\n    hosts: [a.example]\n    ports: [443, 70000]\n",
     ":5: allowed_destinations[0] (acq).ports"),
    ("allowed_destinations:\n  - name: acq\n    hosts: [\"bad host!\"]\n", ":3: allowed_destinations[0] (acq).hosts"),
    ("allowed_destinations:\n  - name: acq\n    ports: [443]\n",
     ":2: allowed_destinations[0] (acq): missing field 'hosts'"),
    ("site: s\nallowed_destination: []\n", ":2: allowed_destination: unknown field"),
    ("allowed_destinations:\n  - name: acq\n    hosts: [a.example]\n    port: [443]\n",
     ":4: allowed_destinations[0] (acq).port: unknown field"),
    ("pos_hosts: [10.0.0.0/8\n", ": not valid YAML"),
    ("- just\n- a list\n", ": a policy is a mapping"),
    ("internal_networks: 10.0.0.0/8\n", ":1: internal_networks: expected a list"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, where: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(PolicyError) as e:
        load_policy(p)
    msg = str(e.value)
    assert msg.startswith(str(p)), msg
    assert where in msg, msg
    assert "\n" not in msg


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.yaml")


def test_cli_bad_policy_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from netwatch.cli import main

    p = write(tmp_path, "pos_hosts: [nope]\n")
    pcap = Path(__file__).parents[1] / "captures" / "dest_acquirer_dns.pcap"
    assert main(["scan", str(pcap), "--policy", str(p), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "policy.yaml:1: pos_hosts" in err and "Traceback" not in err
