"""Facts about a server certificate (TLS ≤ 1.2 shows it in clear), read with `cryptography`.

Sans-IO: DER bytes and the capture time in, a dict of facts out (None if it does not parse).
Self-signed means issuer == subject and the certificate's own key verifies its signature.
`cryptography` refuses certificates that bend DER (times without seconds, v1 certificates with
extensions, odd string types: embedded devices and old database servers make them); those are read
by a lenient walk of the same structure (`_lenient`), so their facts are still stated.
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
        return _facts(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                      cert.subject == cert.issuer and (not verifiable or _verifies_itself(cert)),
                      not_before, not_after, sig_hash, key_type, key_bits)
    except Exception:  # strict DER refused it: read it leniently (None if it is not a certificate at all)
        return _lenient(der)


def _facts(subject: str, issuer: str, self_signed: bool, not_before: dt.datetime, not_after: dt.datetime,
           sig_hash: str | None, key_type: str | None, key_bits: int | None) -> tuple[dict[str, Any], float, float]:
    """The certificate facts both readers (strict and lenient) report, in one shape, and the validity
    period as timestamps."""
    facts = {
        "subject": subject[:MAX_NAME],
        "issuer": issuer[:MAX_NAME],
        "self_signed": self_signed,
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "sig_hash": sig_hash,
        "key_type": key_type,
        "key_bits": key_bits,
    }
    return facts, not_before.timestamp(), not_after.timestamp()


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


NAME_OIDS = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
             "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID"}
SIG_HASHES = {"1.2.840.113549.1.1.2": "md2", "1.2.840.113549.1.1.4": "md5", "1.2.840.113549.1.1.5": "sha1",
              "1.2.840.113549.1.1.11": "sha256", "1.2.840.113549.1.1.12": "sha384", "1.2.840.113549.1.1.13": "sha512",
              "1.2.840.113549.1.1.14": "sha224", "1.2.840.10045.4.1": "sha1", "1.2.840.10045.4.3.2": "sha256",
              "1.2.840.10045.4.3.3": "sha384", "1.2.840.10045.4.3.4": "sha512", "1.2.840.10040.4.3": "sha1"}


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, value start, value end) of each element in der[start:end]."""
    out: list[tuple[int, int, int, int]] = []
    i = start
    while i < end and len(out) < 64:
        tag, v, e = _tlv(der, i)
        out.append((tag, i, v, e))
        i = e
    return out


def _oid(raw: bytes) -> str:
    parts, n = [], 0
    for b in raw:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    if not parts:
        return ""
    first = min(parts[0] // 40, 2)
    return ".".join(str(x) for x in [first, parts[0] - 40 * first, *parts[1:]])


def _name(der: bytes, v: int, e: int) -> str:
    """An X.501 Name as RFC 4514 writes it (last RDN first)."""
    rdns = []
    for _t, _s, sv, se in _children(der, v, e):  # SET of AttributeTypeAndValue
        atvs = []
        for _t2, _s2, av, ae in _children(der, sv, se):
            (_, _, ov, oe), (vt, _, vv, ve) = _children(der, av, ae)[:2]
            oid = _oid(der[ov:oe])
            raw = der[vv:ve]
            text = raw.decode("utf-16-be", "replace") if vt == 0x1E else raw.decode("utf-8", "replace")
            text = text.replace("\\", "\\\\").replace(",", "\\,").replace("+", "\\+")
            atvs.append(f"{NAME_OIDS.get(oid, oid)}={text}")
        rdns.append("+".join(atvs))
    return ",".join(reversed(rdns))


def _time(der: bytes, tag: int, v: int, e: int) -> dt.datetime:
    text = der[v:e].decode("ascii").rstrip("Z")
    if tag == 0x17:  # UTCTime: two-digit year (50-99: 19xx), seconds optional in old encoders
        year = int(text[:2])
        text = str(1900 + year if year >= 50 else 2000 + year) + text[2:]
    text = text.split(".")[0].ljust(14, "0")[:14]
    return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def _lenient(der: bytes) -> tuple[dict[str, Any], float, float] | None:
    """The same facts from a certificate `cryptography` would not load, read element by element."""
    try:
        _, cv, ce = _tlv(der, 0)
        (_, tbs_at, tv, te), (_, _, av, ae), (_, _, sv, se) = _children(der, cv, ce)[:3]
        fields = _children(der, tv, te)
        if fields and fields[0][0] == 0xA0:  # [0] version
            fields = fields[1:]
        _serial, _alg, issuer, validity, subject, spki = fields[:6]
        (t1, _, v1, e1), (t2, _, v2, e2) = _children(der, validity[2], validity[3])[:2]
        not_before, not_after = _time(der, t1, v1, e1), _time(der, t2, v2, e2)
        alg_oid = _children(der, av, ae)[0]
        sig_hash = SIG_HASHES.get(_oid(der[alg_oid[2] : alg_oid[3]]))
        same_name = der[issuer[2] : issuer[3]] == der[subject[2] : subject[3]]
        key_type, key_bits, verified = _key(der[spki[1] : spki[3]], der[tbs_at:te], der[sv + 1 : se], sig_hash)
        return _facts(_name(der, subject[2], subject[3]), _name(der, issuer[2], issuer[3]), same_name and verified,
                      not_before, not_after, sig_hash, key_type, key_bits)
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def _key(spki: bytes, tbs: bytes, signature: bytes, sig_hash: str | None) -> tuple[str, int | None, bool]:
    """Key type and size, and whether the key verifies `signature` over `tbs` (True when it cannot tell)."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

        key = serialization.load_der_public_key(spki)
    except Exception:  # unknown key algorithm
        return "other", None, True
    algo = {"sha1": hashes.SHA1(), "sha224": hashes.SHA224(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
            "sha512": hashes.SHA512()}.get(sig_hash or "")
    try:
        if isinstance(key, rsa.RSAPublicKey):
            kind, bits = "rsa", key.key_size
            if algo is not None:
                key.verify(signature, tbs, padding.PKCS1v15(), algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            kind, bits = "ec", key.curve.key_size
            if algo is not None:
                key.verify(signature, tbs, ec.ECDSA(algo))
        else:
            return "other", None, True
    except InvalidSignature:
        return kind, bits, False
    return kind, bits, True
