"""DTLS handshake reassembly: a message (a certificate chain above all) split over several records
or datagrams is joined by fragment offset, bounded in messages kept and bytes per message."""

from __future__ import annotations


def dtls_messages(frags: dict[tuple[int, int], dict[int, bytes]], frag: bytes, limit: int) -> list[tuple[int, bytes]]:
    """Whole handshake messages (type, body) from one DTLS handshake record; fragments are kept in
    `frags` (message_seq, type) -> {offset: bytes} until they cover the message."""
    out = []
    i = 0
    while i + 12 <= len(frag):
        t, n = frag[i], int.from_bytes(frag[i + 1 : i + 4], "big")
        seq = int.from_bytes(frag[i + 4 : i + 6], "big")
        foff, flen = int.from_bytes(frag[i + 6 : i + 9], "big"), int.from_bytes(frag[i + 9 : i + 12], "big")
        piece = frag[i + 12 : i + 12 + flen]
        i += 12 + flen
        if foff == 0 and flen == n:
            out.append((t, piece))
        elif n <= limit and foff + len(piece) <= n and (len(frags) < 8 or (seq, t) in frags):
            parts = frags.setdefault((seq, t), {})
            parts[foff] = piece
            whole = _joined(parts, n)
            if whole is not None:
                out.append((t, whole))
                parts.clear()
    return out


def _joined(parts: dict[int, bytes], n: int) -> bytes | None:
    """The message once the pieces cover 0..n, else None."""
    pos = 0
    for off in sorted(parts):
        if off > pos:
            return None
        pos = max(pos, off + len(parts[off]))
    if pos < n:
        return None
    buf = bytearray(n)
    for off, piece in parts.items():
        buf[off : off + len(piece)] = piece
    return bytes(buf)
