"""Outdated systems (issue 14): version parsers, the end-of-life table, the systems inventory, the
NW-OLD rules on the bundled scenarios, the console table and diff."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from scapy.layers.ntlm import NTLM_CHALLENGE, NTLM_NEGOTIATE

from netwatch.events import FlowFacts, Software
from netwatch.findings.systems import MAX_HOSTS, MAX_PER_HOST, SystemInventory, judge
from netwatch.judge.eol import comparable, load_eol
from netwatch.judge.rules import RuleSet, builtin_rules_dir, load_rules_and_policy
from netwatch.pipeline.session import scan_file
from netwatch.protocols.software_versions import (
    http_server,
    service_banner,
    ssdp_server,
    ssh_banner,
    sysdescr,
    user_agent,
)
from netwatch.protocols.windows import NtlmVersion, ntlmssp_versions, rdp_client_build, smb_negotiate

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
FLAGS = "NEGOTIATE_VERSION+NEGOTIATE_UNICODE+NEGOTIATE_NTLM"


@pytest.fixture(scope="module")
def pipeline():
    return load_rules_and_policy()


def _scan(name: str, pipeline) -> tuple[list, SystemInventory]:
    r = scan_file(str(CAPTURES / f"{name}.pcap"), *pipeline)
    return r.findings, r.systems


# -- parsers ------------------------------------------------------------------------------------
def test_ntlmssp_version_raw_and_base64():
    neg = bytes(NTLM_NEGOTIATE(NegotiateFlags=FLAGS, ProductMajorVersion=5, ProductMinorVersion=1, ProductBuild=2600))
    chal = bytes(NTLM_CHALLENGE(NegotiateFlags=FLAGS, ServerChallenge=b"\1" * 8, TargetName="X",
                                ProductMajorVersion=6, ProductMinorVersion=3, ProductBuild=9600))
    assert ntlmssp_versions(b"junk" + neg + b"more" + chal) == [NtlmVersion(1, 5, 1, 2600), NtlmVersion(2, 6, 3, 9600)]
    http = b"GET / HTTP/1.1\r\nAuthorization: NTLM " + base64.b64encode(neg) + b"\r\n\r\n"
    assert ntlmssp_versions(http) == [NtlmVersion(1, 5, 1, 2600)]
    smtp = b"334 " + base64.b64encode(chal).rstrip(b"=") + b"\r\n"  # unpadded, as some servers send it
    assert ntlmssp_versions(smtp) == [NtlmVersion(2, 6, 3, 9600)]


def test_ntlmssp_without_version_flag_or_zeroed_says_nothing():
    no_flag = bytes(NTLM_NEGOTIATE(NegotiateFlags="NEGOTIATE_UNICODE+NEGOTIATE_NTLM", ProductMajorVersion=5,
                                   ProductMinorVersion=1, ProductBuild=2600))
    zeroed = bytes(NTLM_NEGOTIATE(NegotiateFlags=FLAGS, ProductMajorVersion=0, ProductMinorVersion=0, ProductBuild=0))
    full = bytes(NTLM_NEGOTIATE(NegotiateFlags=FLAGS, ProductMajorVersion=5, ProductMinorVersion=1, ProductBuild=2600))
    assert ntlmssp_versions(no_flag) == []
    assert ntlmssp_versions(zeroed) == []
    assert ntlmssp_versions(full[:36]) == []  # cut inside the VERSION field


def test_smb_negotiate_dialects():
    dialects = b"".join(b"\x02" + d + b"\x00" for d in (b"LANMAN1.0", b"NT LM 0.12"))
    smb1 = b"\xffSMB\x72" + bytes(4) + b"\x18" + bytes(22) + b"\x00" + struct.pack("<H", len(dialects)) + dialects
    assert smb_negotiate(struct.pack("!I", len(smb1)) + smb1).dialects == ("lanman", "1")
    reply = b"\xffSMB\x72" + bytes(4) + b"\x98" + bytes(22) + b"\x11\x01\x00" + bytes(40)
    assert smb_negotiate(struct.pack("!I", len(reply)) + reply) == (True, (), 1)
    hdr = b"\xfeSMB" + struct.pack("<HHIHHII", 64, 0, 0, 0, 0, 0, 0) + bytes(40)
    body = struct.pack("<HHHHI", 36, 2, 1, 0, 0) + bytes(16) + bytes(8) + struct.pack("<HH", 0x0210, 0x0311)
    neg = smb_negotiate(struct.pack("!I", len(hdr + body)) + hdr + body)
    assert neg is not None and not neg.response and neg.dialects == ("2.1", "3.1.1")


def test_rdp_client_build():
    core = b"\x01\xc0" + struct.pack("<HIHHHHII", 216, 0x00080004, 1024, 768, 0xCA01, 0xAA03, 0x409, 7601)
    assert rdp_client_build(b"\x7f\x65" + bytes(20) + core + bytes(180)) == 7601
    assert rdp_client_build(b"\x01\xc0" + bytes(40)) is None


@pytest.mark.parametrize("line, product, version", [
    ("SSH-2.0-OpenSSH_5.3", "OpenSSH", "5.3"),
    ("SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u3", "OpenSSH", "7.4p1"),
    ("SSH-2.0-dropbear_2015.68", "Dropbear", "2015.68"),
    ("SSH-2.0-APACHE-SSHD-2.5.0", "APACHE-SSHD", "2.5.0"),
    ("SSH-2.0-ROSSSH", "ROSSSH", None),
])
def test_ssh_banners(line, product, version):
    s = ssh_banner(line)
    assert s is not None and (s.product, s.version) == (product, version)


def test_text_parsers():
    assert [(s.product, s.version) for s in http_server("Apache/2.2.15 (CentOS) OpenSSL/1.0.1e-fips")] == [
        ("Apache httpd", "2.2.15"), ("OpenSSL", "1.0.1e-fips")]
    assert [(s.product, s.version) for s in http_server("Microsoft-IIS/7.5")] == [("IIS", "7.5")]
    assert [(s.product, s.version) for s in user_agent("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)")] == [
        ("Windows", "5.1"), ("Internet Explorer", "6.0")]
    assert user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0") == []
    assert (service_banner("220 (vsFTPd 2.3.4)") or ()).version == "2.3.4"  # type: ignore[union-attr]
    assert service_banner("220 welcome") is None
    w = sysdescr("Hardware: x86 - Software: Windows Version 5.1 (Build 2600 Uniprocessor Free)")
    assert (w.product, w.version) == ("Windows", "5.1.2600")
    assert sysdescr("POS printer").version is None  # no version claimed: none guessed
    assert [(s.product, s.version) for s in ssdp_server("Windows/6.1 UPnP/1.0")] == [("Windows", "6.1")]


# -- versions and the table ---------------------------------------------------------------------
@pytest.mark.parametrize("raw, want", [
    ("5.3p1", "5.3"), ("1.0.1e-fips", "1.0.1"), ("2016.74", "2016.74"), ("6.1.7601", "6.1.7601"),
    ("v1.2", "1.2"), ("", None), (None, None), ("beta", None), ("x1.2", None), ("tls1.0", None), ("7", None),
    ("0xfb1a", None), ("12.2(55)SE", "12.2"),
])
def test_comparable_never_guesses(raw, want):
    v = comparable(raw)
    assert (None if v is None else str(v)) == want


BUILTIN = load_eol([builtin_rules_dir()])


def test_every_eol_entry_has_a_source_and_a_date():
    assert len(BUILTIN.entries) >= 15
    for e in BUILTIN.entries:
        assert e.source and 2000 <= e.eol.year <= 2035 and e.kind in ("os", "software", "tls")


@pytest.mark.parametrize("product, version", [
    ("OpenSSH", "9.9p1"), ("OpenSSH", "7.4p1"), ("Apache httpd", "2.4.62"), ("nginx", "1.26.2"), ("vsftpd", "3.0.5"),
    ("OpenSSL", "3.5.0"), ("IIS", "10.0"), ("Windows", "10.0.26100"), ("Windows", "10.0"), ("TLS client", "tls1.2"),
    ("TLS client", "tls1.3"), ("Dropbear", "2022.83"), ("ProFTPD", "1.3.8"), ("OpenSSH", "garbage"), ("vsftpd", None),
])
def test_current_versions_match_no_entry(product, version):
    assert BUILTIN.lookup(product, version) is None


@pytest.mark.parametrize("product, version, entry", [
    ("Windows", "5.1.2600", "windows-5.1"), ("Windows", "6.1", "windows-6.1"), ("OpenSSH", "5.3", "openssh-pre-7.4"),
    ("vsftpd", "2.3.4", "vsftpd-2.3.4-backdoor"), ("vsftpd", "2.2.2", "vsftpd-2"), ("IIS", "7.5", "iis-7"),
    ("Apache httpd", "2.2.15", "apache-2.2"), ("Apache httpd", "1.3.33", "apache-1.3"), ("IIS", "4.0", "iis-4"),
    ("TLS client", "tls1.0", "tls-pre-1.2-client"),
])
def test_old_versions_match_their_entry(product, version, entry):
    hit = BUILTIN.lookup(product, version)
    assert hit is not None and hit.id == entry


def _software(inv: SystemInventory, host: str, product: str, version: str | None, ts: float = 1_700_000_000.0) -> None:
    flow = FlowFacts("10.20.1.9", "10.20.0.9", 40000, 21, "tcp")
    inv.observe(Software(ts=ts, flow=flow, host=host, role="server", product=product, version=version, name=product,
                         protocol="ftp banner"))


def test_unparseable_version_is_inventoried_as_unknown_and_not_judged():
    inv = SystemInventory()
    _software(inv, "10.20.0.9", "vsftpd", "2.3.x-custom")  # release 2.3: not the 2.3.4 build, but below 3.0
    _software(inv, "10.20.0.8", "vsftpd", "custom-build")
    obs = judge(inv, BUILTIN, None)
    by_host = {e.host: e for e in inv.results()}
    assert by_host["10.20.0.8"].eol_status == "unknown"
    assert [o.host for o in obs] == ["10.20.0.9"]  # "2.3.x" starts with release 2.3 (< 3.0)


def test_capture_date_decides():
    inv = SystemInventory()
    _software(inv, "10.20.0.9", "OpenSSH", "5.3", ts=1_500_000_000.0)  # 2017: before the table's date
    assert judge(inv, BUILTIN, None) == [] and inv.results()[0].eol_status == "supported"


def test_inventory_is_bounded():
    inv = SystemInventory()
    for i in range(MAX_PER_HOST + 5):
        _software(inv, "10.20.0.9", "Dropbear", f"2016.{i}")
    assert inv.per_host["10.20.0.9"] == MAX_PER_HOST and inv.dropped == 5
    for i in range(MAX_HOSTS + 3):
        _software(inv, f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", "Dropbear", "2016.1")
    assert len(inv.per_host) == MAX_HOSTS and inv.dropped == 5 + 4


# -- the rules on the bundled scenarios ---------------------------------------------------------
@pytest.mark.parametrize("name, want", [
    ("outdated_posready_smb", {("NW-OLD-001", "critical", "10.20.1.21", "5.1.2600"),
                               ("NW-OLD-001", "high", "10.20.0.10", "6.3.9600")}),
    ("outdated_win7_useragent", {("NW-OLD-001", "high", "10.20.1.22", "6.1")}),
    ("outdated_openssh53", {("NW-OLD-002", "high", "10.20.0.12", "5.3")}),
    ("outdated_vsftpd234", {("NW-OLD-002", "high", "10.20.9.31", "2.3.4")}),
    ("outdated_ssdp_win61", {("NW-OLD-001", "high", "10.20.1.23", "6.1")}),
    ("outdated_tls10_client", {("NW-OLD-003", "medium", "10.20.1.30", "tls1.0")}),
    ("outdated_current_store", set()),
])
def test_scenarios(name, want, pipeline):
    findings, _ = _scan(name, pipeline)
    got = {(f.rule, f.severity, f.evidence["host"], f.evidence["version"])
           for f in findings if f.category == "outdated"}
    assert got == want


def test_current_store_was_seen_and_judged_current(pipeline):
    """No outdated finding because the versions are current, not because nothing was read."""
    _, systems = _scan("outdated_current_store", pipeline)
    seen = {(e.host, e.product, e.version): e.eol_status for e in systems.results()}
    assert seen[("10.20.1.30", "Windows", "10.0.26100")] == "not listed"
    assert seen[("10.20.0.12", "OpenSSH", "9.9")] == "not listed"
    assert seen[("10.20.9.31", "vsftpd", "3.0.5")] == "not listed"
    assert seen[("10.20.1.30", "TLS client", "tls1.3")] == "not listed"
    assert seen[("10.20.0.12", "nginx", "1.26.2")] == "not listed"
    assert ("10.20.1.30", "SMB", "3.1.1") in seen


def test_user_eol_table_overrides_and_extends(tmp_path):
    (tmp_path / "eol").mkdir()
    (tmp_path / "eol" / "site.yaml").write_text(
        "- {id: vsftpd-2.3.4-backdoor, enabled: false}\n"
        "- {id: vsftpd-2, enabled: false}\n"
        "- {id: site-nginx, product: nginx, kind: software, name: nginx before our baseline, below: '1.27',\n"
        "   eol: 2020-01-01, source: store policy}\n")
    rules = RuleSet.load([tmp_path])
    vsftpd = scan_file(str(CAPTURES / "outdated_vsftpd234.pcap"), rules, None)
    assert not [f for f in vsftpd.findings if f.category == "outdated"]
    store = scan_file(str(CAPTURES / "outdated_current_store.pcap"), rules, None)
    assert {(f.rule, f.evidence["product"]) for f in store.findings if f.category == "outdated"} == {
        ("NW-OLD-002", "nginx")}


def test_bad_eol_file_is_a_one_line_error(tmp_path):
    (tmp_path / "eol").mkdir()
    (tmp_path / "eol" / "bad.yaml").write_text("- {id: x1, product: nginx, kind: software, name: n, below: '1.0',"
                                               " eol: someday, source: s}\n")
    p = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(CAPTURES / "outdated_ssdp_win61.pcap"),
                        "--rules", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "bad.yaml" in p.stderr and "'eol'" in p.stderr


# -- outputs ------------------------------------------------------------------------------------
def test_systems_table_escapes_packet_text(pipeline):
    inv = SystemInventory()
    _software(inv, "10.20.0.9", "[bold red]evil\x1b[2J", "1.0")
    r = scan_file(str(CAPTURES / "outdated_vsftpd234.pcap"), *pipeline)
    r.systems.merge(inv)
    from netwatch.report.console import print_systems

    current = scan_file(str(CAPTURES / "outdated_current_store.pcap"), *pipeline)
    con = Console(record=True, width=200, color_system=None)
    print_systems(con, [r, current])  # every status: backdoored, not listed, unknown
    text = con.export_text()
    assert "vsftpd" in text and "2.3.4" in text and "backdoored" in text and "not listed" in text
    assert "[bold red]evil\\x1b[2J" in text and "\x1b" not in text


def test_systems_to_json_round_trips_through_json(pipeline):
    _, systems = _scan("outdated_posready_smb", pipeline)
    doc = json.loads(json.dumps(systems.to_json()))
    xp = [s for s in doc["systems"] if s["host"] == "10.20.1.21" and s["product"] == "Windows"]
    assert xp and xp[0]["version"] == "5.1.2600" and xp[0]["eol_status"] == "end-of-life"
    assert doc["card_senders"] == ["10.20.1.21"]


def test_diff_reports_changed_and_new_systems(tmp_path):
    out = tmp_path / "diff.jsonl"
    p = subprocess.run([sys.executable, "-m", "netwatch", "diff", str(CAPTURES / "outdated_posready_smb.pcap"),
                        str(CAPTURES / "outdated_current_store.pcap"), "--json", str(out), "-q", "--fail-on", "none"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    changed = [r for r in recs if r["diff"] == "system-version-changed"]
    assert sorted((r["host"], r["product"], r["version"], r["was"]) for r in changed) == [
        ("10.20.0.10", "SMB", "3.1.1", ["1"]), ("10.20.0.10", "Windows", "10.0.20348", ["6.3.9600"])]
    assert any(r["diff"] == "system-appeared" and r["host"] == "10.20.9.31" for r in recs)


def _systems_diff(base: str, cur: str, tmp_path: Path) -> list[tuple]:
    out = tmp_path / "d.jsonl"
    p = subprocess.run([sys.executable, "-m", "netwatch", "diff", base, cur, "--json", str(out), "-q", "--fail-on",
                        "none"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    return sorted((r["diff"], r["host"], r["product"], r["version"], tuple(r.get("was", ()))) for r in recs
                  if r["diff"].startswith("system-"))


def test_diff_of_json_lines_reads_systems_from_the_summary_record(tmp_path):
    caps = [str(CAPTURES / f"{n}.pcap") for n in ("outdated_posready_smb", "outdated_current_store")]
    jsonl = []
    for c in caps:
        out = tmp_path / (Path(c).stem + ".jsonl")
        subprocess.run([sys.executable, "-m", "netwatch", "scan", c, "--json", str(out), "-q", "--fail-on", "none"],
                       check=True, cwd=ROOT, timeout=120)
        jsonl.append(str(out))
    from_summary = _systems_diff(*jsonl, tmp_path)
    assert ("system-version-changed", "10.20.0.10", "Windows", "10.0.20348", ("6.3.9600",)) in from_summary
    assert from_summary == _systems_diff(*caps, tmp_path)


def test_html_report_lists_systems_and_explains_outdated(pipeline):
    from netwatch.report.html import render_html

    r = scan_file(str(CAPTURES / "outdated_vsftpd234.pcap"), *pipeline)
    page = render_html([r], r.findings)
    assert "Systems seen" in page and "vsftpd" in page and "backdoored" in page
    assert "no longer gets security updates" in page


def _write(tmp_path: Path, packets: list) -> Path:
    from scapy.utils import wrpcap

    path = tmp_path / "t.pcap"
    wrpcap(str(path), packets)
    return path


def test_every_source_reaches_the_inventory(tmp_path, pipeline):
    """HTTP and SMTP NTLM, SNMP sysDescr, DHCP vendor class and host name, RDP client build, each in
    a real capture, come out as inventory entries for the right host."""
    sys.path.insert(0, str(CAPTURES))
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scenario_lib import Clock, TcpConversation, udp

    clk = Clock()
    neg = bytes(NTLM_NEGOTIATE(NegotiateFlags=FLAGS, ProductMajorVersion=6, ProductMinorVersion=1, ProductBuild=7601))
    chal = bytes(NTLM_CHALLENGE(NegotiateFlags=FLAGS, ServerChallenge=b"\1" * 8, TargetName="X",
                                ProductMajorVersion=6, ProductMinorVersion=3, ProductBuild=9600))
    web = TcpConversation("10.20.1.40", "10.20.0.20", 49000, 80, clk)
    web.send(0, b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: NTLM " + base64.b64encode(neg) + b"\r\n\r\n")
    web.send(1, b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM " + base64.b64encode(chal) + b"\r\n"
                b"Content-Length: 0\r\n\r\n")
    smtp = TcpConversation("10.20.1.41", "10.20.0.25", 49001, 25, clk)
    smtp.send(1, b"220 mail Microsoft ESMTP MAIL Service, Version: 6.0.3790.4675 ready\r\n")
    smtp.send(0, b"AUTH NTLM " + base64.b64encode(neg) + b"\r\n")
    smtp.send(1, b"334 " + base64.b64encode(chal) + b"\r\n")
    rdp = TcpConversation("10.20.1.42", "10.20.0.8", 49002, 3389, clk)
    rdp.send(0, b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x00\x00\x00\x00")
    rdp.send(1, b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x00\x08\x00\x00\x00\x00\x00")
    core = b"\x01\xc0" + struct.pack("<HIHHHHII", 216, 0x00080004, 1024, 768, 0xCA01, 0xAA03, 0x409, 2600)
    rdp.send(0, b"\x03\x00\x01\x00\x02\xf0\x80\x7f\x65\x82\x00\xf0" + bytes(20) + core + bytes(196))
    descr = b"Hardware: x86 - Software: Windows Version 5.2 (Build 3790 Uniprocessor Free)"
    oid = b"\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00"
    vb = b"\x30" + bytes([len(oid) + 2 + len(descr) + 2]) + b"\x30" + bytes([len(oid) + 2 + len(descr)]) + oid
    vb += b"\x04" + bytes([len(descr)]) + descr
    pdu = b"\xa2" + bytes([9 + len(vb)]) + b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + vb
    snmp = b"\x30" + bytes([3 + 8 + len(pdu)]) + b"\x02\x01\x01\x04\x06public" + pdu
    opts = b"\x35\x01\x03\x32\x04\x0a\x14\x01\x2b\x0c\x0aPOS-LANE-3\x3c\x0cudhcp 1.19.4\xff"
    bootp = b"\x01\x01\x06\x00" + bytes(8) + bytes(16) + b"\x02\x00\x00\x00\x00\x2b" + bytes(10 + 192) + \
        b"\x63\x82\x53\x63" + opts
    dhcp = Ether(src="02:00:00:00:00:2b", dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255") / \
        UDP(sport=68, dport=67) / bootp
    dhcp.time = clk()
    packets = web.packets + smtp.packets + rdp.packets + [udp("10.20.0.30", "10.20.0.5", 161, 50161, snmp, clk), dhcp]
    r = scan_file(str(_write(tmp_path, sorted(packets, key=lambda p: p.time))), *pipeline)
    got = {(e.host, e.product, e.version, e.protocol) for e in r.systems.results()}
    assert {("10.20.1.40", "Windows", "6.1.7601", "ntlmssp over http"),
            ("10.20.0.20", "Windows", "6.3.9600", "ntlmssp over http"),
            ("10.20.1.41", "Windows", "6.1.7601", "ntlmssp over smtp"),
            ("10.20.0.25", "Microsoft SMTP Service", "6.0.3790.4675", "smtp banner"),
            ("10.20.1.42", "RDP client", "2600", "rdp client core data"),
            ("10.20.0.30", "Windows", "5.2.3790", "snmp sysDescr"),
            ("10.20.1.43", "BusyBox udhcpc", "1.19.4", "dhcp")} <= got
    assert r.systems.names == {"10.20.1.43": ["POS-LANE-3"]}
    assert ("10.20.1.42", "Windows") not in {(h, p) for h, p, _v, _w in got}  # a client build is not an OS claim


@pytest.mark.parametrize("prefix", [b"", b"NTLMSSP\x00", b"TlRMTVNTUA", b"\x00\x00\x00\x60\xfeSMB",
                                    b"\x00\x00\x00\x60\xffSMBr", b"\x01\xc0\xd8\x00\x04\x00\x08\x00"])
def test_parsers_take_any_bytes(prefix):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=300))
    def run(tail: bytes) -> None:
        data = prefix + tail
        for v in ntlmssp_versions(data):
            assert 5 <= v.major <= 10
        smb_negotiate(data)
        rdp_client_build(data)
        text = data.decode("latin-1")
        ssh_banner(text), http_server(text), user_agent(text), service_banner(text), sysdescr(text)

    run()
