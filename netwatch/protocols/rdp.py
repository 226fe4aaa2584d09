"""RDP security negotiation (MS-RDPBCGR): the protocol an X.224 Connection Confirm selects, and the
encryption method and level of the Server Security Data block (Standard RDP Security). Pure.
"""

from __future__ import annotations

PROTOCOLS = {0: "rdp", 1: "tls", 2: "credssp", 4: "rdstls", 8: "credssp-early-auth"}


METHODS = {0: "none", 1: "40-bit RC4", 2: "128-bit RC4", 8: "56-bit RC4", 0x10: "FIPS 3DES"}


LEVELS = {0: "none", 1: "low", 2: "client-compatible", 3: "high", 4: "fips"}


def selected_protocol(data: bytes) -> int | None:
    """The security protocol an X.224 Connection Confirm selects (0 = Standard RDP Security when
    there is no negotiation response), or None if `data` is not a Connection Confirm (or a failure)."""
    if len(data) < 11 or data[0] != 3 or data[1] != 0 or data[5] != 0xD0:
        return None
    li = data[4]
    if li <= 6 or len(data) < 5 + li:
        return 0  # no RDP_NEG_* structure: legacy Standard RDP Security
    neg = data[11 : 5 + li]
    if len(neg) >= 8 and neg[0] == 0x02:
        return int.from_bytes(neg[4:8], "little")
    return None  # RDP_NEG_FAILURE


def server_security(data: bytes) -> tuple[int, int] | None:
    """(encryptionMethod, encryptionLevel) from the Server Security Data block of an MCS Connect
    Response (TS_UD_SC_SEC1: type 0x0C02, length, method, level), or None."""
    i = data.find(b"\x02\x0c")
    while 0 <= i <= len(data) - 12:
        n = int.from_bytes(data[i + 2 : i + 4], "little")
        method = int.from_bytes(data[i + 4 : i + 8], "little")
        level = int.from_bytes(data[i + 8 : i + 12], "little")
        if n >= 12 and method in METHODS and level in LEVELS:
            return method, level
        i = data.find(b"\x02\x0c", i + 1)
    return None
