"""Live capture backends: raw frames from an interface, with its real link type. Knows no protocols.

Two backends yield the same frames, in blocks (`capture/blocks.FrameBlock`, as an offline scan's),
so the pipeline finds the same things whichever runs:

- `tshark` is driven by pyshark: pyshark finds tshark and dumpcap (its config.ini, PATH, the
  installers' places), checks the Wireshark version, resolves the interface against `tshark -D`
  (names, aliases, numbers) and builds dumpcap's command line (`LiveCapture`'s own); netwatch runs
  that command with a large kernel buffer, writing pcap into a nameless private spool file
  (`capture/live_spool.py`) that netwatch reads behind it with the offline record walk: dumpcap
  never waits for the analysis, so a burst piles up in the spool, not in the kernel's drop count.
  pyshark's dissected packets stay out of the path: measured on lo they deliver 2.5-6k packets/s
  and lose 23% of a 10k packets/s stream (benchmarks/bench_live_pyshark.py, README). dumpcap
  reports the kernel's drop count on exit, and runs for a non-root user in `wireshark`.
- `scapy` reads a PF_PACKET socket through scapy's L2ListenSocket (VLAN tags restored, BPF via
  libpcap) without building scapy packets; needs root or CAP_NET_RAW; drop counts as it goes.

Each source: `start()` opens the capture (raising LiveError with what the technician should do),
`run(put, stop)` is the blocking read loop for a reader thread (`put` takes a block), `stop()` asks
it to end once what was captured is read, `abandon()` to end now, `drops()` gives the drop count so
far (None where the backend cannot tell yet), `close()` frees it.
"""

from __future__ import annotations

import configparser
import contextlib
import logging
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from netwatch.capture import CaptureError
from netwatch.capture.blocks import BLOCK, FrameBlock, block_of
from netwatch.capture.interfaces import ARPHRD_LINKTYPE, ARPHRD_LOOPBACK, arphrd, interface_names
from netwatch.capture.live_spool import SpoolReader, open_spool

if TYPE_CHECKING:
    from netwatch.capture.pyshark_plan import DumpcapPlan

BACKENDS = ("tshark", "scapy")
SOL_PACKET, PACKET_STATISTICS, PACKET_AUXDATA, PACKET_OUTGOING = 263, 6, 8, 4
SO_TIMESTAMPNS, PACKET_IGNORE_OUTGOING = 35, 23
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40
RCVBUF = 64 << 20  # a burst's worth of frames while the pipeline is busy (root: SO_RCVBUFFORCE)
RECV_MAX = 262144  # loopback and GRO/TSO frames can exceed 64 KiB
START_TIMEOUT = 15.0
DUMPCAP_GRACE = 0.3
DUMPCAP_DROPS = re.compile(r"received/dropped on interface .*: (\d+)/(\d+)"
                           r"(?: \(pcap:(\d+)/dumpcap:(\d+)/flushed:(\d+)/ps_ifdrop:(\d+)\))?")
INSTALL_TSHARK = (
    "install it with 'sudo apt-get install tshark' (Debian/Ubuntu), 'sudo dnf install wireshark-cli' "
    "(Fedora/RHEL) or 'brew install wireshark' (macOS), or use --backend scapy"
)


class LiveError(CaptureError):
    """A capture that cannot start or went wrong; the message says what to do about it."""


def check_interface(name: str) -> None:
    names = interface_names()
    if names and name not in names:
        raise LiveError(f"no such interface: {name}; available: {', '.join(names)} (see 'netwatch interfaces')")


def permission_help(iface: str, binary: str, backend: str) -> str:
    """What to do without CAP_NET_RAW. The capability goes to dumpcap or to an interpreter copy used
    only for netwatch, never to the system Python: every script it runs would get raw sockets."""
    group = "the 'wireshark' group (sudo usermod -aG wireshark $USER, then log in again)"
    if backend == "tshark":
        return (f"no permission to capture on {iface} with the tshark backend: dumpcap needs CAP_NET_RAW; "
                f"run with sudo, grant it to dumpcap once with 'sudo setcap cap_net_raw,cap_net_admin+eip "
                f"{binary}', or add yourself to {group}; sudo dpkg-reconfigure wireshark-common sets this up")
    dumpcap = find_dumpcap() or "$(command -v dumpcap)"
    return (f"no permission to capture on {iface} with the scapy backend: a raw socket needs root or "
            f"CAP_NET_RAW; run with sudo, or use --backend tshark and grant it to dumpcap once with "
            f"'sudo setcap cap_net_raw,cap_net_admin+eip {dumpcap}' (or join {group}), or give it to a "
            f"dedicated interpreter copy used only for netwatch ({python_copy_hint(binary)}), never to the "
            "system Python")


def python_copy_hint(python: str) -> str:
    """Commands that make an interpreter copy for netwatch alone (a venv with --copies) and grant it the capability."""
    return (f"{python} -m venv --copies ~/netwatch-venv; ~/netwatch-venv/bin/pip install netwatch; "
            "sudo setcap cap_net_raw,cap_net_admin+eip ~/netwatch-venv/bin/python3")


def find_dumpcap() -> str | None:
    """dumpcap where pyshark looks for it: its config.ini, PATH, the macOS and Windows installers' places."""
    try:
        from pyshark.tshark.tshark import (
            TSharkNotFoundException,
            get_process_path,
        )
    except ImportError:
        return None
    try:
        return str(get_process_path(process_name="dumpcap"))
    except (TSharkNotFoundException, configparser.Error):  # a ./config.ini that is not pyshark's
        return None


def default_backend() -> str:
    """tshark (pyshark + dumpcap) where installed: kernel ring buffer, non-root capture; scapy otherwise."""
    return "tshark" if shutil.which("tshark") and (find_dumpcap() or shutil.which("dumpcap")) else "scapy"


def open_source(iface: str, backend: str | None = None, bpf: str | None = None) -> LiveSource:
    """The backend's source for `iface`; the tshark backend asks pyshark to plan the capture here."""
    backend = backend or default_backend()
    if backend == "scapy":
        check_interface(iface)
        return ScapySource(iface, bpf)
    if backend == "tshark":
        from netwatch.capture.pyshark_plan import plan_dumpcap

        return DumpcapSource(plan_dumpcap(iface, bpf), bpf)
    raise LiveError(f"unknown backend {backend}; choose one of {', '.join(BACKENDS)}")


Put = Callable[[FrameBlock], None]


class LiveSource:
    backend = ""

    def __init__(self, iface: str, bpf: str | None) -> None:
        self.iface = iface
        self.bpf = bpf or None
        self.arphrd = arphrd(iface)
        self.linktype: int | None = ARPHRD_LINKTYPE.get(self.arphrd) if self.arphrd is not None else None
        self.description = self.backend
        self.error: str | None = None  # set when the capture broke off by itself

    def start(self) -> None: ...
    def run(self, put: Put, stop: threading.Event) -> None: ...
    def stop(self) -> None: ...
    def abandon(self) -> None:
        """End the read loop now, leaving what is still buffered (counted where the backend can)."""
    def drops(self) -> int | None:
        return None
    def drop_counts(self) -> dict[str, int]:
        """Packets lost before netwatch read them, by where (`kernel`, `dumpcap`, `interface`), and
        `received` when the capture says; empty while unknown."""
        n = self.drops()
        return {} if n is None else {"kernel": n}
    def close(self) -> None: ...


class ScapySource(LiveSource):
    """PF_PACKET socket set up by scapy (bind, promiscuous mode, BPF, aux data); frames read here with
    recvmsg, never dissected: kernel timestamp, original length and VLAN tag from the ancillary data."""

    backend = "scapy"

    def start(self) -> None:
        if self.linktype is None:
            raise LiveError(f"{self.iface}: link type (ARPHRD {self.arphrd}) is not supported by the scapy "
                            "backend; use --backend tshark")
        try:
            from scapy.arch.common import compile_filter
            from scapy.arch.linux import L2ListenSocket
            from scapy.error import Scapy_Exception
        except ImportError as e:
            raise LiveError(f"the scapy backend needs scapy with Linux PF_PACKET sockets ({e}); "
                            "use --backend tshark") from None
        if self.bpf:
            try:
                compile_filter(self.bpf, linktype=self.linktype)
            except (Scapy_Exception, OSError, ImportError) as e:
                raise LiveError(f"invalid capture filter {self.bpf!r}: {_filter_reason(str(e))}") from None
        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # its link-type guess warning is noise here
        try:
            self.sock = L2ListenSocket(iface=self.iface, filter=self.bpf, promisc=True)
        except PermissionError:
            raise LiveError(permission_help(self.iface, os.path.realpath(sys.executable), "scapy")) from None
        except (Scapy_Exception, OSError) as e:
            raise LiveError(f"cannot capture on {self.iface}: {e}") from None
        ins = self.sock.ins
        try:
            ins.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)  # SO_RCVBUFFORCE (root): bursts need room
        except OSError:
            ins.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        if self.arphrd == ARPHRD_LOOPBACK:
            # lo hands a packet socket each packet twice (out, then in); skip the copy in the kernel, which
            # also keeps it out of the drop count (Linux 4.20+; older kernels: skipped in run())
            with contextlib.suppress(OSError):
                ins.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        ins.setblocking(False)
        self._drops = 0
        self._received = 0
        self._abandoned = False
        self.description = "scapy (PF_PACKET socket)"

    def run(self, put: Put, stop: threading.Event) -> None:
        ins = self.sock.ins
        linktype = self.linktype
        assert linktype is not None  # start() refused an interface without one
        skip_outgoing = self.arphrd == ARPHRD_LOOPBACK  # lo shows each packet twice, as libpcap knows
        recvmsg = ins.recvmsg
        cmsg_room = socket.CMSG_SPACE(64) * 2
        batch: list[tuple[float, int, bytes, int]] = []
        add = batch.append
        while not self._abandoned:
            if len(batch) >= BLOCK:
                put(block_of(batch))
                batch.clear()
            try:
                data, anc, _flags, sa_ll = recvmsg(RECV_MAX, cmsg_room)
            except BlockingIOError:
                if batch:  # the socket is drained for now: hand over what was read
                    put(block_of(batch))
                    batch.clear()
                    continue
                if stop.is_set():
                    return  # what the kernel had queued before the stop has been read
                select.select([ins], [], [], 0.2)
                continue
            except OSError as e:
                if batch:
                    put(block_of(batch))
                if not stop.is_set():
                    self.error = f"capture on {self.iface} failed: {e.strerror or e}"
                return
            if not data or (skip_outgoing and sa_ll[2] == PACKET_OUTGOING):
                continue
            us = None
            wirelen = len(data)
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack_from("qq", value)
                    us = sec * 1_000_000 + nsec // 1000  # microseconds, truncated as libpcap does
                elif level == SOL_PACKET and kind == PACKET_AUXDATA and len(value) >= 20:
                    status, wirelen, _, _, _, tci, tpid = struct.unpack_from("IIIHHHH", value)
                    if tci or status & TP_STATUS_VLAN_VALID:  # the kernel took the 802.1Q tag off: put it back
                        tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                        data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
                        wirelen += 4
            # the same arithmetic as the pcapng reader, so both backends give identical timestamps
            ts = us * 1e-6 if us is not None else int(time.time() * 1e6) * 1e-6
            add((ts, linktype, data, max(wirelen, len(data))))

    def abandon(self) -> None:
        self._abandoned = True

    def drops(self) -> int | None:
        try:
            got, dropped = struct.unpack("II", self.sock.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        except (OSError, AttributeError, ValueError):
            return self._drops
        self._received += got  # the kernel resets these counters on every read
        self._drops += dropped
        return self._drops

    def close(self) -> None:
        sock = getattr(self, "sock", None)
        if sock is not None:
            self.drops()
            sock.close()


class DumpcapSource(LiveSource):
    """dumpcap run as pyshark planned it, writing pcap into a private spool file read back in blocks
    (`capture/live_spool.py`); stopped with SIGINT so it flushes and reports its drop count
    (pyshark's own clean-up kills it, losing both)."""

    backend = "tshark"

    def __init__(self, plan: DumpcapPlan, bpf: str | None) -> None:
        super().__init__(plan.iface, bpf)
        self.plan = plan
        self.exe = plan.exe
        self._give_up = threading.Event()

    def start(self) -> None:
        self.spool = open_spool()
        self.reader = SpoolReader(self.spool)
        try:
            # its own session: the terminal's Ctrl-C reaches netwatch, which stops dumpcap in order
            self.proc = subprocess.Popen(self.plan.argv, stdin=subprocess.DEVNULL, stdout=self.spool,
                                         stderr=subprocess.PIPE, start_new_session=True)
        except OSError as e:
            self.spool.close()
            raise LiveError(f"cannot run {self.exe}: {e.strerror}") from None
        self._stderr: list[str] = []
        self._stopping = False
        self._err_thread = threading.Thread(target=self._read_stderr, daemon=True)
        self._err_thread.start()
        # dumpcap writes the pcap header once the interface is open and the filter set: that is "ready"
        deadline = time.monotonic() + START_TIMEOUT
        while not self.reader.header_written() and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.reader.header_written():
            self._wait_exit()
            msg = self._failure()
            self.close()
            raise LiveError(msg) from None
        self.description = (f"tshark (pyshark {self.plan.pyshark} running {self.exe}, "
                            f"Wireshark {self.plan.wireshark})")

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            if len(self._stderr) < 200:
                self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    def _wait_exit(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(2.0)
        self._err_thread.join(1.0)

    def _failure(self) -> str:
        text = " ".join(ln.strip() for ln in self._stderr if ln.strip() and not ln.startswith("Capturing on"))
        low = text.lower()
        if "permission" in low or "operation not permitted" in low:
            return permission_help(self.iface, self.exe, "tshark")
        if "invalid capture filter" in low:
            return f"invalid capture filter {self.bpf!r}: {_filter_reason(text)}"
        if "no such device" in low or "there is no device" in low:
            return f"no such interface: {self.iface}; available: {', '.join(interface_names())}"
        if self.proc.poll() is None:
            return f"dumpcap did not start capturing on {self.iface} within {START_TIMEOUT:.0f}s"
        return f"dumpcap could not capture on {self.iface}: {text or f'exit status {self.proc.returncode}'}"

    def _producing(self) -> bool:
        return self.proc.poll() is None

    def run(self, put: Put, stop: threading.Event) -> None:
        reader = self.reader
        for block in reader.blocks(self._producing, self._give_up.is_set):
            put(block)
        if stop.is_set() or self._give_up.is_set():
            return
        self._wait_exit()
        if reader.problem:
            self.error = f"dumpcap stream broke off: {reader.problem}"
        else:
            self.error = f"dumpcap stopped capturing: {self._failure()}"

    def backlog(self) -> int:
        """Bytes dumpcap has written that netwatch has not analysed yet."""
        reader = getattr(self, "reader", None)
        return reader.backlog() if reader is not None else 0

    def stop(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None and not self._stopping:
            self._stopping = True
            # dumpcap hands over the kernel ring every 250 ms and drops what is unread when interrupted:
            # wait one period so that what was captured before the stop reaches the pipeline
            time.sleep(DUMPCAP_GRACE)
            proc.send_signal(signal.SIGINT)  # dumpcap flushes, reports its drop count and exits

    def abandon(self) -> None:
        self._give_up.set()

    def drops(self) -> int | None:
        """dumpcap reports drops when it exits: 'Packets received/dropped on interface ...: R/D (...)'."""
        counts = self.drop_counts()
        return None if not counts else sum(v for k, v in counts.items() if k != "received")

    def drop_counts(self) -> dict[str, int]:
        counts = dumpcap_drops(self._stderr if hasattr(self, "_stderr") else [])
        reader = getattr(self, "reader", None)
        if counts and reader is not None:
            counts["netwatch"] = reader.skipped  # frames in the spool never analysed
        return counts

    def close(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is None:
            return
        self.stop()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()
        self._give_up.set()
        self.spool.close()  # the last reference: the kernel frees the spool's pages


def dumpcap_drops(lines: list[str]) -> dict[str, int]:
    """dumpcap's closing count per interface, summed: 'received/dropped on interface X: R/D
    (pcap:P/dumpcap:Q/flushed:F/ps_ifdrop:I)': the kernel's drops (pcap), dumpcap's own (its buffer
    and what it flushed unwritten) and the interface's; only the total D without the detail."""
    out: dict[str, int] = {}
    for line in lines:
        m = DUMPCAP_DROPS.search(line)
        if not m:
            continue
        got = {"received": int(m.group(1))}
        if m.group(3) is not None:
            got |= {"kernel": int(m.group(3)), "dumpcap": int(m.group(4)) + int(m.group(5)),
                    "interface": int(m.group(6))}
        else:
            got["kernel"] = int(m.group(2))
        for k, v in got.items():
            out[k] = out.get(k, 0) + v
    return out


def _filter_reason(text: str) -> str:
    """libpcap's own words on a bad filter, without the surrounding boilerplate."""
    m = re.search(r"\(([^()]*(?:syntax error|parse|unknown|illegal|expression)[^()]*)\)", text, re.I)
    return m.group(1) if m else text.strip()
