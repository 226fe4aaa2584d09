"""Sans-IO parsers for what Windows protocols reveal about the OS: NTLMSSP version fields, SMB
dialects offered and chosen, the RDP client build.

NTLMSSP messages are found by their signature wherever they ride (SMB1/SMB2 session setup inside
SPNEGO, HTTP `Authorization: NTLM`, SMTP/IMAP `AUTH NTLM`, where they are base64): the VERSION
structure (major, minor, build) is read only when the message's flags say it is present
(NTLMSSP_NEGOTIATE_VERSION), as [MS-NLMP] 2.2.2.10 defines it.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import NamedTuple

SIGNATURE = b"NTLMSSP\x00"
B64_SIGNATURE = re.compile(rb"TlRMTVNTUA[A-Za-z0-9+/]{10,4000}={0,2}")
NEGOTIATE_VERSION = 0x02000000
# message type -> (offset of NegotiateFlags, offset of Version) after the signature's start
LAYOUT = {1: (12, 32), 2: (20, 48), 3: (60, 64)}
MAX_MESSAGES = 8  # per call: a stream has two or three


class NtlmVersion(NamedTuple):
    """The OS version an NTLMSSP message carries: type 1/3 from the client, type 2 from the server."""

    msg_type: int
    major: int
    minor: int
    build: int


def _parse(msg: bytes) -> NtlmVersion | None:
    if len(msg) < 16 or not msg.startswith(SIGNATURE):
        return None
    (mtype,) = struct.unpack_from("<I", msg, 8)
    layout = LAYOUT.get(mtype)
    if layout is None or len(msg) < layout[1] + 8:
        return None
    (flags,) = struct.unpack_from("<I", msg, layout[0])
    if not flags & NEGOTIATE_VERSION:
        return None
    major, minor, build = struct.unpack_from("<BBH", msg, layout[1])
    revision = msg[layout[1] + 7]
    if not (5 <= major <= 10) or minor > 9 or build == 0 or revision not in (0x0A, 0x0F):
        return None  # a zeroed or garbled VERSION: no claim
    return NtlmVersion(mtype, major, minor, build)


def ntlmssp_versions(data: bytes) -> list[NtlmVersion]:
    """Every NTLMSSP message with a VERSION field in `data`, raw or base64 (text protocols)."""
    out: list[NtlmVersion] = []
    i = data.find(SIGNATURE)
    while i >= 0 and len(out) < MAX_MESSAGES:
        v = _parse(data[i : i + 1024])
        if v is not None:
            out.append(v)
        i = data.find(SIGNATURE, i + 8)
    for m in B64_SIGNATURE.finditer(data):
        if len(out) >= MAX_MESSAGES:
            break
        token = m.group()
        try:
            raw = base64.b64decode(token + b"=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            continue
        v = _parse(raw)
        if v is not None:
            out.append(v)
    return out


def ntlm_authenticate(token: bytes) -> tuple[bytes, bytes] | None:
    """(domain, user) of an NTLMSSP AUTHENTICATE message (type 3), raw or inside a SPNEGO token
    (HTTP `Authorization: NTLM` / `Negotiate`): [MS-NLMP] 2.2.1.3, UTF-16 when NEGOTIATE_UNICODE."""
    i = token.find(SIGNATURE)
    msg = token[i : i + 4096] if i >= 0 else b""
    if len(msg) < 64 or struct.unpack_from("<I", msg, 8)[0] != 3:
        return None
    (flags,) = struct.unpack_from("<I", msg, 60)

    def field(at: int) -> bytes:
        n, _max, off = struct.unpack_from("<HHI", msg, at)
        raw = msg[off : off + n] if off + n <= len(msg) else b""
        return raw.decode("utf-16-le", "replace").encode() if flags & 1 else raw

    return field(28), field(36)


SMB2_DIALECTS = {0x0202: "2.0.2", 0x0210: "2.1", 0x0300: "3.0", 0x0302: "3.0.2", 0x0311: "3.1.1", 0x02FF: "2.???"}
SMB1_DIALECTS = {b"NT LM 0.12": "1", b"SMB 2.002": "2.0.2", b"SMB 2.???": "2.???"}
SMB1_OLD = "lanman"  # core, LANMAN and Windows for Workgroups dialects: older than NT LM 0.12


class SmbNegotiate(NamedTuple):
    """A NEGOTIATE request (dialects offered, in order) or response (the dialect chosen; for SMB1
    only its index (`chosen`) into the request's list)."""

    response: bool
    dialects: tuple[str, ...]
    chosen: int | None = None


def smb_negotiate(data: bytes) -> SmbNegotiate | None:
    """The SMB1 or SMB2 NEGOTIATE at the start of one NetBIOS-framed message, if it is one."""
    if len(data) < 4 + 36:
        return None
    msg = data[4:]
    if msg[:4] == b"\xfeSMB" and len(msg) >= 64 + 8:
        (cmd,) = struct.unpack_from("<H", msg, 12)
        (flags,) = struct.unpack_from("<I", msg, 16)
        if cmd != 0:
            return None
        body = msg[64:]
        if flags & 1:  # SMB2_FLAGS_SERVER_TO_REDIR
            (rev,) = struct.unpack_from("<H", body, 4)
            return SmbNegotiate(True, (SMB2_DIALECTS.get(rev, f"0x{rev:04x}"),))
        (count,) = struct.unpack_from("<H", body, 2)
        raw = body[36 : 36 + 2 * min(count, 16)]
        revs = struct.unpack(f"<{len(raw) // 2}H", raw[: len(raw) // 2 * 2])
        return SmbNegotiate(False, tuple(SMB2_DIALECTS.get(r, f"0x{r:04x}") for r in revs))
    if msg[:4] == b"\xffSMB" and msg[4] == 0x72 and len(msg) >= 35:
        if msg[9] & 0x80:  # SMB_FLAGS_REPLY: WordCount, then DialectIndex into the request's list
            return SmbNegotiate(True, (), struct.unpack_from("<H", msg, 33)[0]) if msg[32] else None
        names = [n[1:] for n in msg[35:35 + 1024].split(b"\x00") if n.startswith(b"\x02")][:32]
        return SmbNegotiate(False, tuple(SMB1_DIALECTS.get(n, SMB1_OLD) for n in names)) if names else None
    return None


CS_CORE = re.compile(rb"\x01\xc0..[\x01-\x0d]\x00\x08\x00", re.S)  # header, length, RDP 4.0-10.x version


def rdp_client_build(data: bytes) -> int | None:
    """clientBuild from TS_UD_CS_CORE in an MCS Connect Initial (standard RDP security only; with
    TLS/CredSSP this block is encrypted). Some clients send a fixed build: it names the client, not the OS."""
    m = CS_CORE.search(data)
    if m is None or m.start() + 24 > len(data):
        return None
    (build,) = struct.unpack_from("<I", data, m.start() + 20)
    return build if 0 < build < 100_000 else None
