"""BER (ASN.1 Basic Encoding Rules) lengths, as LDAP and SNMP use them. Pure."""

from __future__ import annotations


def ber_length(data: bytes | bytearray, i: int, octets: int = 4) -> tuple[int, int]:
    """A BER length at i, in at most `octets` length octets: (length, offset of the value);
    IndexError when short or malformed."""
    n = data[i]
    if n < 0x80:
        return n, i + 1
    k = n & 0x7F
    if not 1 <= k <= octets:
        raise IndexError("BER length")
    return int.from_bytes(data[i + 1 : i + 1 + k], "big"), i + 1 + k
