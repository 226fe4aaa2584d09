"""Every certificate a handshake shows gets the certificate checks, whatever carried the handshake
(issue 20): MySQL (also SSLRequest and ClientHello in one segment), PostgreSQL, LDAP StartTLS,
SMTP/IMAP/POP3 STARTTLS, RDP, SQL Server (TLS inside TDS PRELOGIN packets, also with encryption
off). tshark's dissection of the same captures agrees (the certificate seen on each connection,
issuer == subject); certificates strict DER parsing refuses are still read.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import replay

from netwatch.analyzers.dispatch import Dispatcher
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.events import Credentials, Event, TlsCert, TlsHello
from netwatch.protocols import x509

ROOT = Path(__file__).resolve().parents[1]
CARRIED = {"cert_mysql_tls11": "mysql", "cert_postgres_ssl": "postgres", "cert_ldap_starttls": "ldap",
           "cert_mail_starttls": "imap/pop3/smtp", "cert_rdp_tls": "rdp", "cert_mssql_tds": "tds"}
TSHARK = shutil.which("tshark")


def _events(name: str) -> list[Event]:
    out: list[Event] = []
    replay(ROOT / "captures" / f"{name}.pcap", Dispatcher(build_classifier(), build_analyzers(), out.append))
    return out


@pytest.mark.parametrize("name", sorted(CARRIED))
def test_the_certificate_is_checked_whatever_carried_the_handshake(name):
    evs = _events(name)
    certs = [e for e in evs if isinstance(e, TlsCert)]
    hellos = [e for e in evs if isinstance(e, TlsHello)]
    assert certs and len(certs) == len(hellos)
    assert all(c.self_signed and c.flow.app in CARRIED[name].split("/") for c in certs)


def test_mysql_sslrequest_and_clienthello_in_one_segment():
    evs = _events("cert_mysql_tls11")
    versions = {e.flow.client_port: e.version for e in evs if isinstance(e, TlsHello)}
    assert versions == {50300: "tls1.1", 50301: "tls1.1"}
    assert not [e for e in evs if isinstance(e, Credentials)]  # the SSLRequest is no login


def _tshark_certs(name: str) -> set[tuple[int, bool]]:
    """(server port, issuer == subject) of every certificate tshark dissects."""
    assert TSHARK is not None
    args = ["-d", "tcp.port==3389,tls"] if name == "cert_rdp_tls" else []  # tshark leaves RDP's TLS undissected
    out = subprocess.run([TSHARK, "-r", str(ROOT / "captures" / f"{name}.pcap"), "-n", *args,
                          "-Y", "tls.handshake.type == 11", "-V"], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    found = set()
    for frame in re.split(r"^Frame ", out, flags=re.M)[1:]:
        port = int(re.search(r"Src Port: (\d+)", frame).group(1))
        issuer = re.search(r"issuer: rdnSequence.*\n\s*rdnSequence: (.*)", frame).group(1)
        subject = re.search(r"subject: rdnSequence.*\n\s*rdnSequence: (.*)", frame).group(1)
        found.add((port, issuer == subject))
    return found


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
@pytest.mark.parametrize("name", sorted(CARRIED))
def test_certificates_agree_with_tshark(name):
    mine = {(e.flow.server_port, e.self_signed) for e in _events(name) if isinstance(e, TlsCert)}
    assert mine == _tshark_certs(name)


def _loose_certificate() -> bytes:
    """A self-signed certificate whose validity times lack seconds (UTCTime YYMMDDhhmmZ, as old encoders
    wrote them): valid BER, refused by strict DER parsing."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def tlv(tag: int, body: bytes) -> bytes:
        n = len(body)
        length = bytes([n]) if n < 128 else bytes([0x81, n]) if n < 256 else b"\x82" + n.to_bytes(2, "big")
        return bytes([tag]) + length + body

    key = ec.derive_private_key(0x5EED, ec.SECP256R1())
    alg = tlv(0x30, tlv(0x06, bytes.fromhex("2a8648ce3d040302")))  # ecdsa-with-SHA256
    name = tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, b"\x55\x04\x03") + tlv(0x0C, b"till-07.store42.example"))))
    validity = tlv(0x30, tlv(0x17, b"2301010000Z") + tlv(0x17, b"3301010000Z"))
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    tbs = tlv(0x30, tlv(0xA0, tlv(0x02, b"\x02")) + tlv(0x02, b"\x07") + alg + name + validity + name + spki)
    sig = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return tlv(0x30, tbs + alg + tlv(0x03, b"\x00" + sig))


def test_a_certificate_strict_der_refuses_is_read_leniently():
    from cryptography import x509 as cx509

    der = _loose_certificate()
    with pytest.raises(ValueError):
        cx509.load_der_x509_certificate(der)
    facts = x509.cert_facts(der, dt.datetime(2024, 6, 1, tzinfo=dt.UTC).timestamp())
    assert facts is not None
    assert facts["subject"] == facts["issuer"] == "CN=till-07.store42.example"
    assert facts["self_signed"] and facts["sig_hash"] == "sha256"
    assert (facts["key_type"], facts["key_bits"]) == ("ec", 256)
    assert facts["not_before"] == "2023-01-01T00:00:00+00:00" and not facts["expired"]
    forged = bytearray(der)
    forged[-5] ^= 0x01  # the signature no longer verifies: issuer == subject alone is not self-signed
    other = x509.cert_facts(bytes(forged), 0.0)
    assert other is not None and not other["self_signed"]
    assert x509.cert_facts(b"\x30\x03\x02\x01\x00", 0.0) is None


def test_tds_unwrap_keeps_only_the_tls_inside_prelogin_packets():
    from netwatch.protocols.tds import TdsTlsUnwrap

    def packet(ptype: int, payload: bytes) -> bytes:
        return bytes([ptype, 1]) + (8 + len(payload)).to_bytes(2, "big") + bytes(4) + payload

    tls = b"\x16\x03\x01\x00\x05hello"
    stream = packet(0x12, b"\x00\x00\x0b\x00\x06\xff" + bytes(7)) + packet(0x12, tls) + b"\x17\x03\x03\x00\x02ok"
    for step in (1, 3, 8, len(stream)):
        unwrap = TdsTlsUnwrap()
        got = b"".join(unwrap.feed(stream[i : i + step]) for i in range(0, len(stream), step))
        assert got == tls + b"\x17\x03\x03\x00\x02ok" and unwrap.raw
