"""SMB message framing over NetBIOS session service / direct TCP (RFC 1002 4.3, [MS-SMB2] 2.1):
which protocol each message speaks (SMB1, SMB2, the SMB 3.x transform header of an encrypted
message, a compressed one), its command and whether it is a response.

Pure and bounded: `SmbFramer.feed` reads one direction's bytes and yields one `SmbMessage` per
complete NetBIOS frame header, keeping only the first bytes of each message (the SMB header and
the start of its body, enough for NEGOTIATE); message bodies are skipped, never buffered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

SMB1, SMB2, TRANSFORM, COMPRESSED = b"\xffSMB", b"\xfeSMB", b"\xfdSMB", b"\xfcSMB"
KINDS = {SMB1: "smb1", SMB2: "smb2", TRANSFORM: "transform", COMPRESSED: "compressed"}
SESSION_MESSAGE = 0x00  # NetBIOS session message (the only frame type that carries SMB)
NBT_TYPES = frozenset({0x00, 0x81, 0x82, 0x83, 0x84, 0x85})  # message, request, +/- response, retarget, keepalive
KEEP = 1024  # bytes of each message kept (header and the start of NEGOTIATE)
SMB1_NEGOTIATE = 0x72
SMB2_NEGOTIATE, SMB2_SESSION_SETUP = 0x0000, 0x0001
# SMB2 commands that carry no file or pipe data: negotiate, session setup, logoff, tree connect and
# disconnect, cancel, echo. Any other command in clear moves application data unencrypted.
SMB2_CONTROL = frozenset({0x00, 0x01, 0x02, 0x03, 0x04, 0x0C, 0x0D})


class SmbMessage(NamedTuple):
    """One SMB message: `kind` smb1 / smb2 / transform / compressed / other, its command (None for
    transform/compressed/other), whether the server sent it (the header's reply flag), and its first bytes."""

    kind: str
    command: int | None
    response: bool
    head: bytes  # the message from its protocol id on, at most KEEP bytes


def parse_message(msg: bytes) -> SmbMessage:
    """The header facts of one SMB message (the bytes after the 4-byte NetBIOS header)."""
    kind = KINDS.get(msg[:4], "other")
    if kind == "smb1" and len(msg) >= 10:
        return SmbMessage(kind, msg[4], bool(msg[9] & 0x80), msg)
    if kind == "smb2" and len(msg) >= 20:
        return SmbMessage(kind, int.from_bytes(msg[12:14], "little"), bool(msg[16] & 1), msg)
    return SmbMessage(kind, None, False, msg)


class SmbFramer:
    """One direction of an SMB connection: NetBIOS frames in, SMB messages out (bounded)."""

    __slots__ = ("_buf", "_want", "_skip", "broken")

    def __init__(self) -> None:
        self._buf = b""  # the current frame's header and kept bytes
        self._want = 0  # bytes of the current message still to keep (0: reading a frame header)
        self._skip = 0  # bytes of the current message to pass over unread
        self.broken = False  # the bytes stopped looking like NetBIOS frames: give up

    def gap(self) -> None:
        """Bytes were lost: the framing is lost with them."""
        self.broken = True

    def feed(self, data: bytes) -> Iterator[SmbMessage]:
        i, n = 0, len(data)
        while i < n and not self.broken:
            if self._want:
                take = min(self._want, n - i)
                self._buf += data[i : i + take]
                self._want -= take
                i += take
                if not self._want:
                    yield parse_message(self._buf)
                    self._buf = b""
                continue
            if self._skip:
                step = min(self._skip, n - i)
                self._skip -= step
                i += step
                continue
            take = min(4 - len(self._buf), n - i)
            self._buf += data[i : i + take]
            i += take
            if len(self._buf) < 4:
                break
            kind, length = self._buf[0], int.from_bytes(self._buf[1:4], "big")
            self._buf = b""
            if kind not in NBT_TYPES or length > 0x1FFFFF:
                self.broken = True
                break
            if kind != SESSION_MESSAGE or length == 0:
                self._skip = length
                continue
            self._want = min(length, KEEP)
            self._skip = length - self._want
