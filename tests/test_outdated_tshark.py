"""The systems inventory agrees with tshark's dissection of the same fields: SSH banners
(`ssh.protocol`), HTTP `Server` (`http.server`) and `User-Agent` (`http.user_agent`) on the shared
corpus, and NTLMSSP versions (`ntlmssp.version.*`) on the bundled captures (the corpus has no
NTLMSSP). Skips without tshark or the corpus (`../shared/corpus`, or NETWATCH_CORPUS).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from netwatch.judge.rules import load_rules_and_policy
from netwatch.pipeline.session import scan_file
from netwatch.protocols.software_versions import http_server, user_agent

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("NETWATCH_CORPUS") or ROOT.parent / "shared" / "corpus")
TSHARK = shutil.which("tshark")
MARKERS = (b"SSH-", b"Server:", b"User-Agent:", b"server:", b"user-agent:")
SUFFIXES = (".pcap", ".pcapng", ".cap")
UNDECODED = ("geneve",)  # tunnels netwatch does not unwrap (VXLAN and GRE it does): nothing to compare


def _tshark(path: Path, fields: list[str], display: str) -> list[list[str]]:
    assert TSHARK is not None
    out = subprocess.run([TSHARK, "-r", str(path), "-n", "-o", "http.desegment_body:FALSE", "-Y", display,
                          "-T", "fields", "-E", "separator=\t",
                          "-E", "occurrence=l", *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, timeout=120, errors="replace")
    return [line.split("\t") for line in out.stdout.splitlines() if line.strip()]


def _ua_claims(systems: list) -> set[tuple[str, str, str | None]]:
    """User-Agent claims as the inventory holds them; a Windows version the UA gave without a build
    is folded into the same host's entry with one (from NTLMSSP), so it is compared by prefix."""
    return {(e.host, e.product, e.version) for e in systems}


def _covered(claims: set[tuple[str, str, str | None]], systems: list) -> bool:
    have = _ua_claims(systems)
    return all(any(h == host and p == product and (v == version or (v or "").startswith(f"{version}."))
                   for h, p, v in have) for host, product, version in claims)


def _sample() -> list[Path]:
    """Corpus captures that carry a banner or header at all (the rest cannot disagree)."""
    if not CORPUS.is_dir():
        return []
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))
    return [p for p in files if any(m in p.read_bytes() for m in MARKERS)]


@pytest.fixture(scope="module")
def pipeline():
    return load_rules_and_policy()


@pytest.mark.skipif(TSHARK is None or not _sample(), reason="needs tshark and the shared corpus")
def test_banners_and_headers_agree_with_tshark(pipeline):
    agreed = {"ssh": 0, "server": 0, "ua": 0}
    for path in _sample():
        rows = _tshark(path, ["frame.protocols", "ip.src", "ipv6.src", "ssh.protocol", "http.server",
                              "http.user_agent"], "ssh.protocol or http.server or http.user_agent")
        ssh, server, ua = set(), set(), set()
        for stack, src4, src6, proto, srv, agent in ((r + [""] * 6)[:6] for r in rows):
            if any(t in stack.split(":") for t in UNDECODED):
                continue
            host = src4 or src6
            if proto.startswith("SSH-"):
                ssh.add((host, proto))
            if srv and http_server(srv):
                server.add((host, srv))
            for s in user_agent(agent) if agent else []:
                ua.add((host, s.product, s.version))
        report = scan_file(str(path), *pipeline)
        if report.unknown_linktypes:  # e.g. ARCNET: netwatch does not decode the link layer at all
            agreed["skipped"] = agreed.get("skipped", 0) + 1
            continue
        systems = report.systems.results()
        mine_ssh = {(e.host, e.detail) for e in systems if e.protocol == "ssh banner"}
        mine_server = {(e.host, e.detail) for e in systems if e.protocol == "http Server"}
        mine_ua = {(e.host, e.product, e.version) for e in systems if e.protocol == "http User-Agent"}
        where = path.relative_to(CORPUS)
        assert ssh <= mine_ssh, f"{where}: tshark saw SSH banners netwatch missed: {ssh - mine_ssh}"
        assert server == mine_server, f"{where}: http.server {server} vs netwatch {mine_server}"
        assert mine_ua <= ua and _covered(ua, systems), f"{where}: User-Agent {ua} vs netwatch {mine_ua}"
        agreed["ssh"] += len(ssh)
        agreed["server"] += len(server)
        agreed["ua"] += len(ua)
    print(f"agreed with tshark: {agreed}")
    assert agreed["ssh"] >= 3 and agreed["server"] >= 3  # the sample really exercised both


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
@pytest.mark.parametrize("name", ["outdated_posready_smb", "outdated_current_store"])
def test_ntlmssp_versions_agree_with_tshark(name, pipeline):
    path = ROOT / "captures" / f"{name}.pcap"
    rows = _tshark(path, ["ip.src", "ntlmssp.version.major", "ntlmssp.version.minor",
                          "ntlmssp.version.build_number"], "ntlmssp.version.major")
    theirs = {(src, f"{a}.{b}.{c}") for src, a, b, c in rows}
    systems = scan_file(str(path), *pipeline).systems.results()
    mine = {(e.host, e.version) for e in systems if e.protocol.startswith("ntlmssp")}
    assert theirs and mine == theirs


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
@pytest.mark.parametrize("name", ["outdated_win7_useragent", "outdated_current_store"])
def test_user_agent_and_server_agree_with_tshark_on_bundled(name, pipeline):
    path = ROOT / "captures" / f"{name}.pcap"
    rows = _tshark(path, ["ip.src", "http.server", "http.user_agent"], "http.server or http.user_agent")
    ua = {(src, s.product, s.version) for src, _srv, agent in rows if agent for s in user_agent(agent)}
    server = {(src, srv) for src, srv, _agent in rows if srv and http_server(srv)}
    systems = scan_file(str(path), *pipeline).systems.results()
    assert ua and _covered(ua, systems)
    assert {(e.host, e.product, e.version) for e in systems if e.protocol == "http User-Agent"} <= ua
    assert server and server == {(e.host, e.detail) for e in systems if e.protocol == "http Server"}
