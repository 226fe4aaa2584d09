"""Facts about a server certificate (TLS ≤ 1.2 shows it in clear), read with `cryptography`.

Sans-IO: DER bytes and the capture time in, a dict of facts out (None if it does not parse).
Self-signed means issuer == subject and the certificate's own key verifies its signature.
A server sends the same certificate on every connection, so parsed facts are cached by DER
(bounded); only `expired` / `not_yet_valid` depend on the capture time and are computed per call.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from netwatch.protocols.ber import ber_length

MAX_NAME = 200
CACHE_SIZE = 512
_cache: dict[bytes, tuple[dict[str, Any], float, float] | None] = {}


def cert_facts(der: bytes, ts: float) -> dict[str, Any] | None:
    if der in _cache:
        hit = _cache[der]
    else:
        hit = _parse(der)
        if len(_cache) >= CACHE_SIZE:
            del _cache[next(iter(_cache))]
        _cache[der] = hit
    if hit is None:
        return None
    facts, not_before, not_after = hit
    return dict(facts, expired=ts > not_after, not_yet_valid=ts < not_before)


def _parse(der: bytes) -> tuple[dict[str, Any], float, float] | None:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.x509.oid import PublicKeyAlgorithmOID

        cert = x509.load_der_x509_certificate(der)
        try:
            sig_hash = cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else None
        except Exception:  # unsupported algorithm
            sig_hash = None
        key_type, key_bits = "other", None
        if cert.public_key_algorithm_oid == PublicKeyAlgorithmOID.DSA:
            # cryptography 51 deprecates DSA: loading the key or verifying with it warns (on stderr,
            # even under -q), so its size is read from the certificate's own bytes and a self-issued
            # DSA certificate counts as self-signed, as for algorithms the library cannot verify
            key_type, key_bits, verifiable = "dsa", _dsa_bits(cert.tbs_certificate_bytes), False
        else:
            key, verifiable = cert.public_key(), True
            if isinstance(key, rsa.RSAPublicKey):
                key_type, key_bits = "rsa", key.key_size
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key_type, key_bits = "ec", key.curve.key_size
        not_after: dt.datetime = cert.not_valid_after_utc
        not_before: dt.datetime = cert.not_valid_before_utc
        facts = {
            "subject": cert.subject.rfc4514_string()[:MAX_NAME],
            "issuer": cert.issuer.rfc4514_string()[:MAX_NAME],
            "self_signed": cert.subject == cert.issuer and (not verifiable or _verifies_itself(cert)),
            "not_before": not_before.isoformat(),
            "not_after": not_after.isoformat(),
            "sig_hash": sig_hash,
            "key_type": key_type,
            "key_bits": key_bits,
        }
        return facts, not_before.timestamp(), not_after.timestamp()
    except Exception:  # a malformed certificate is a fact we cannot state, not an error
        return None


def _tlv(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at i; IndexError when malformed."""
    length, start = ber_length(data, i + 1)
    if start + length > len(data):
        raise IndexError("DER element runs past its container")
    return data[i], start, start + length


def _dsa_bits(tbs: bytes) -> int | None:
    """The bit length of a DSA key's prime p, from TBSCertificate's SubjectPublicKeyInfo
    (algorithm parameters: SEQUENCE { p, q, g }); None when absent or malformed."""
    try:
        _, i, _ = _tlv(tbs, 0)
        if tbs[i] == 0xA0:  # [0] version
            i = _tlv(tbs, i)[2]
        for _ in range(5):  # serial, signature, issuer, validity, subject
            i = _tlv(tbs, i)[2]
        _, spki, _ = _tlv(tbs, i)
        _, alg, alg_end = _tlv(tbs, spki)
        params = _tlv(tbs, alg)[2]
        if params >= alg_end or tbs[params] != 0x30:
            return None  # parameters inherited from the issuer
        _, p_at, _ = _tlv(tbs, params)
        tag, p_start, p_end = _tlv(tbs, p_at)
        return int.from_bytes(tbs[p_start:p_end], "big").bit_length() if tag == 0x02 else None
    except IndexError:
        return None


def _verifies_itself(cert: Any) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(cert)
        return True
    except InvalidSignature:
        return False  # same name as its issuer, but signed by another key: issued by a namesake CA
    except Exception:  # unsupported algorithm (e.g. MD5): self-issued is the best we can say
        return True
