"""Facts about a server certificate (TLS ≤ 1.2 shows it in clear), read with `cryptography`.

Sans-IO: DER bytes and the capture time in, a dict of facts out (None if it does not parse).
Self-signed means issuer == subject and the certificate's own key verifies its signature.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

MAX_NAME = 200


def cert_facts(der: bytes, ts: float) -> dict[str, Any] | None:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

        cert = x509.load_der_x509_certificate(der)
        subject = cert.subject.rfc4514_string()[:MAX_NAME]
        issuer = cert.issuer.rfc4514_string()[:MAX_NAME]
        try:
            sig_hash = cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else None
        except Exception:  # unsupported algorithm
            sig_hash = None
        key = cert.public_key()
        key_type, key_bits = "other", None
        if isinstance(key, rsa.RSAPublicKey):
            key_type, key_bits = "rsa", key.key_size
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key_type, key_bits = "ec", key.curve.key_size
        elif isinstance(key, dsa.DSAPublicKey):
            key_type, key_bits = "dsa", key.key_size
        not_after = cert.not_valid_after_utc
        not_before = cert.not_valid_before_utc
        now = dt.datetime.fromtimestamp(ts, dt.UTC)
        return {
            "subject": subject,
            "issuer": issuer,
            "self_signed": cert.subject == cert.issuer and _verifies_itself(cert),
            "not_before": not_before.isoformat(),
            "not_after": not_after.isoformat(),
            "expired": now > not_after,
            "not_yet_valid": now < not_before,
            "sig_hash": sig_hash,
            "key_type": key_type,
            "key_bits": key_bits,
        }
    except Exception:  # a malformed certificate is a fact we cannot state, not an error
        return None


def _verifies_itself(cert: Any) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:
        return cert.subject == cert.issuer  # same name but unverifiable (e.g. MD5): still self-issued
