"""SNMP v1/v2c messages (BER): the community string and PDU type of a message, and the sysDescr
value a response carries. Pure functions; one BER length reader (`ber.ber_length`).
"""

from __future__ import annotations

from netwatch.protocols.ber import ber_length

SYSDESCR_OID = b"\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00\x04"  # OID 1.3.6.1.2.1.1.1.0, then an OCTET STRING
SNMP_PDUS = {0xA0: "get", 0xA1: "getnext", 0xA2: "response", 0xA3: "set", 0xA4: "trap", 0xA5: "getbulk",
             0xA6: "inform", 0xA7: "trapv2", 0xA8: "report"}


def snmp_community(data: bytes) -> tuple[str, bytes, str] | None:
    """(version, community, pdu name) of an SNMP v1/v2c message, or None."""
    try:
        if len(data) < 8 or data[0] != 0x30:
            return None
        _, i = ber_length(data, 1)
        if data[i : i + 2] != b"\x02\x01" or data[i + 2] not in (0, 1):
            return None
        version = "v1" if data[i + 2] == 0 else "v2c"
        i += 3
        if data[i] != 0x04:
            return None
        n = data[i + 1]
        if n >= 0x80:
            return None
        community = data[i + 2 : i + 2 + n]
        pdu = SNMP_PDUS.get(data[i + 2 + n], "other") if i + 2 + n < len(data) else "other"
        return version, community, pdu
    except IndexError:
        return None


def snmp_community_span(data: bytes | bytearray) -> tuple[int, int] | None:
    """Where the community string of an SNMP v1/v2c message is, or None."""
    try:
        if len(data) < 8 or data[0] != 0x30:
            return None
        i = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
        if data[i : i + 2] != b"\x02\x01" or data[i + 2] not in (0, 1) or data[i + 3] != 0x04:
            return None
        n = data[i + 4]
        return (i + 5, i + 5 + n) if n < 0x80 and i + 5 + n <= len(data) else None
    except IndexError:
        return None


def sysdescr_value(data: bytes, limit: int = 512) -> bytes | None:
    """The sysDescr.0 value in a message (at most `limit` bytes), or None."""
    i = data.find(SYSDESCR_OID)
    if i < 0:
        return None
    try:
        n, j = ber_length(data, i + len(SYSDESCR_OID))
    except IndexError:
        return None
    return data[j : j + min(n, limit)] or None
