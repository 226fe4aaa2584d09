"""QUIC Initial decryption against RFC 9001 appendix A and RFC 9369 appendix A, CRYPTO reassembly,
gQUIC CHLO tags; corpus QUIC flows named like nDPI names them."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import scan_file
from netwatch.protocols.quic import CryptoStream, crypto_frames, gquic_chlo, initial_keys, long_header, salt_for

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
DCID = bytes.fromhex("8394c8f03e515708")


def test_v1_client_keys_rfc9001_a1() -> None:
    k = initial_keys(DCID, 1)
    assert k is not None
    assert (k.key.hex(), k.iv.hex(), k.hp.hex()) == (
        "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2")


def test_v1_server_keys_rfc9001_a1() -> None:
    k = initial_keys(DCID, 1, server=True)
    assert k is not None and k.key.hex() == "cf3a5331653c364c88f0f379b6067e37"


def test_v2_client_keys_rfc9369_a1() -> None:
    k = initial_keys(DCID, 0x6B3343CF)
    assert k is not None
    assert (k.key.hex(), k.iv.hex(), k.hp.hex()) == (
        "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9")


def test_versions() -> None:
    assert salt_for(0xFF00001D) is not None and salt_for(0xFF000017) is not None
    assert salt_for(0x12345678) is None and initial_keys(DCID, 0x12345678) is None


def test_long_header_rejects_short_and_truncated() -> None:
    assert long_header(b"\x40" + bytes(40)) is None
    assert long_header(b"\xc3\x00\x00\x00\x01\x08" + DCID) is None


def test_crypto_frames_after_ack_and_padding() -> None:
    payload = b"\x02\x05\x00\x00\x00" + b"\x06\x00\x04abcd" + b"\x00" * 10 + b"\x06\x04\x02ef"
    assert crypto_frames(payload) == [(0, b"abcd"), (4, b"ef")]


def test_crypto_stream_joins_out_of_order() -> None:
    msg = b"\x01\x00\x00\x06" + b"hello!"
    s = CryptoStream()
    s.add(5, msg[5:])
    assert s.message() is None
    s.add(0, msg[:5])
    assert s.message() == (1, b"hello!")


def test_gquic_chlo_tags() -> None:
    values = b"example.org" + b"Chrome/99"
    table = b"SNI\0" + (11).to_bytes(4, "little") + b"UAID" + (20).to_bytes(4, "little")
    data = b"\x0d" + bytes(12) + b"CHLO" + (2).to_bytes(2, "little") + b"\0\0" + table + values
    assert gquic_chlo(data) == {"SNI": b"example.org", "UAID": b"Chrome/99"}


def _quic_names(path: Path) -> list[str | None]:
    import netwatch.pipeline.session as S

    names: list[str | None] = []
    orig = S.Session._emit

    def spy(self: S.Session, obs: object) -> None:
        if obs.kind == "flow_end" and obs.flow.app == "quic":  # type: ignore[attr-defined]
            names.append(obs.flow.server_name)  # type: ignore[attr-defined]
        orig(self, obs)  # type: ignore[arg-type]

    S.Session._emit = spy  # type: ignore[method-assign]
    try:
        scan_file(str(path), RuleSet.load([]), None)
    finally:
        S.Session._emit = orig  # type: ignore[method-assign]
    return names


@pytest.mark.parametrize(("name", "want"), [("ndpi/quic-29.pcap", {"localhost"}),
                                             ("ndpi/quic_0RTT.pcap", {"abcd", "ssl.gstatic.com"}),
                                             ("ndpi/http_ipv6.pcap", {"www.google.it"})])
def test_corpus_quic_flows_named_as_ndpi_does(name: str, want: set[str]) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip("corpus absent")
    assert {n for n in _quic_names(path) if n} == want


def test_bundled_quic_capture_names_every_flow() -> None:
    names = _quic_names(ROOT / "captures" / "detect_quic_initial.pcap")
    assert sorted(n or "" for n in names) == ["cdn.pos-vendor.example", "pay.acquirer.example",
                                              "telemetry.pos-vendor.example"]


def test_site_policy_allows_quic_by_name() -> None:
    """pay.acquirer.example is allowed by name in the store policy (its address is not listed):
    only the two vendor QUIC flows are unexpected destinations, named by their SNI."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(ROOT / "captures" / "detect_quic_initial.pcap"),
                          "--policy", str(ROOT / "captures" / "policies" / "store.yaml"), "--json", "-", "-q",
                          "--fail-on", "none"], capture_output=True, cwd=ROOT, timeout=60)
    recs = [r for line in out.stdout.splitlines() if (r := json.loads(line))["event_type"] == "finding"]
    assert sorted((r["rule"], r["server_name"]) for r in recs) == [
        ("NW-DEST-001", "cdn.pos-vendor.example"), ("NW-DEST-001", "telemetry.pos-vendor.example")]


def _scenario_initial(version: int, dcid: bytes, frames: bytes) -> bytes:
    """An Initial packet protected by the scenario script's own RFC 9001 code (not netwatch's)."""
    import sys

    sys.path.insert(0, str(ROOT / "captures"))
    try:
        from scenarios_detect_proto import quic_initial
    finally:
        sys.path.remove(str(ROOT / "captures"))
    return quic_initial(version, dcid, b"\x01\x02", 0, frames)


@pytest.mark.parametrize("version", [1, 0x6B3343CF, 0xFF00001D])
def test_decrypts_independently_protected_initial(version: int) -> None:
    from netwatch.protocols.quic import initial_crypto

    pkt = _scenario_initial(version, b"\x11" * 8, b"\x06\x00\x05hello")
    assert initial_crypto(pkt, None) == (b"\x11" * 8, [(0, b"hello")])


def test_initial_after_retry_uses_the_new_dcid() -> None:
    from netwatch.protocols.quic import initial_crypto

    pkt = _scenario_initial(1, b"\x22" * 8, b"\x06\x00\x02hi")
    assert initial_crypto(pkt, b"\x11" * 8) == (b"\x22" * 8, [(0, b"hi")])
