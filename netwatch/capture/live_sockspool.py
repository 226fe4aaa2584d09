"""The scapy backend's reader process: a PF_PACKET socket emptied into a pcap spool, nothing else.

Why a process: read in netwatch's own process, the socket waits for the GIL while a block is
analysed, and a burst overflows it (15-40% of 300k packets lost at 100k packets/s on lo). This
process only reads and writes, on the other core, so the socket is emptied as fast as the kernel
fills it; netwatch reads the spool behind it (`capture/live_spool.py`), as it reads dumpcap's.

Run as `python -m netwatch.capture.live_sockspool FD LINKTYPE SKIP_OUTGOING` with the socket
(already bound, filtered, non-blocking) inherited as FD and standard output on the spool. SIGINT
ends it once the socket holds nothing more; so does netwatch's end, however it came (its parent
process changes), as nothing would read the spool. Imports nothing heavy: it starts in tens of
milliseconds while the socket buffers what arrives.
"""

from __future__ import annotations

import math
import os
import select
import signal
import socket
import struct
import sys
import time

SOL_PACKET, PACKET_AUXDATA, PACKET_OUTGOING = 263, 8, 4
SO_TIMESTAMPNS = 35
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40
RECV_MAX = 262144  # loopback and GRO/TSO frames can exceed 64 KiB
FLUSH_AT = 1 << 18  # bytes gathered before a write while the socket keeps delivering
SNAPLEN = RECV_MAX
STOP_DRAIN = 2.0  # seconds of reading after a stop, when traffic never lets the socket run empty


def pcap_header(linktype: int) -> bytes:
    """A classic pcap file header, microsecond timestamps, native byte order."""
    return struct.pack("=IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, linktype)


def frame_of(data: bytes, anc: list[tuple[int, int, bytes]]) -> tuple[int, bytes, int]:
    """(microseconds since the epoch, frame, wire length) from a recvmsg: kernel timestamp, original
    length, and the 802.1Q tag the kernel took off put back."""
    us = None
    wirelen = len(data)
    for level, kind, value in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            sec, nsec = struct.unpack_from("qq", value)
            us = sec * 1_000_000 + nsec // 1000  # truncated as libpcap does
        elif level == SOL_PACKET and kind == PACKET_AUXDATA and len(value) >= 20:
            status, wirelen, _, _, _, tci, tpid = struct.unpack_from("IIIHHHH", value)
            if tci or status & TP_STATUS_VLAN_VALID:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
                wirelen += 4
    if us is None:
        us = int(time.time() * 1e6)
    return us, data, max(wirelen, len(data))


def write_all(out: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(out, view) :]


def pump(sock: socket.socket, out: int, skip_outgoing: bool, stop_at: list[float]) -> None:
    """Socket → pcap records on `out` until a stop was asked (`stop_at[0]`, the latest end) and the
    socket is empty."""
    parent = os.getppid()
    recvmsg = sock.recvmsg
    cmsg_room = socket.CMSG_SPACE(64) * 2
    record = struct.Struct("=IIII").pack
    pending: list[bytes] = []
    size = 0
    while True:
        try:
            data, anc, _flags, sa_ll = recvmsg(RECV_MAX, cmsg_room)
        except (BlockingIOError, InterruptedError):
            if pending:  # drained for now: what was read goes out at once
                write_all(out, b"".join(pending))
                pending.clear()
                size = 0
            if stop_at[0] < math.inf or os.getppid() != parent:  # stopped, or netwatch has gone
                return
            select.select([sock], [], [], 0.2)
            continue
        if not data or (skip_outgoing and sa_ll[2] == PACKET_OUTGOING):
            continue
        us, data, wirelen = frame_of(data, anc)
        sec, usec = divmod(us, 1_000_000)
        pending.append(record(sec, usec, len(data), wirelen))
        pending.append(data)
        size += 16 + len(data)
        if size >= FLUSH_AT:
            write_all(out, b"".join(pending))
            pending.clear()
            size = 0
            if time.monotonic() > stop_at[0] or os.getppid() != parent:
                return


def main(argv: list[str]) -> int:
    fd, linktype, skip_outgoing = int(argv[0]), int(argv[1]), argv[2] == "1"
    stop_at = [math.inf]

    def stop(signum: int, frame: object) -> None:
        stop_at[0] = min(stop_at[0], time.monotonic() + STOP_DRAIN)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)  # so a stop is noticed while the socket is empty
    out = sys.stdout.fileno()
    write_all(out, pcap_header(linktype))
    try:
        pump(sock, out, skip_outgoing, stop_at)
    except OSError as e:
        print(f"capture failed: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
