"""Live capture backends: raw frames from an interface, with its real link type. Knows no protocols.

Two backends yield the same frames, in blocks (`capture/blocks.FrameBlock`, as an offline scan's),
so the pipeline finds the same things whichever runs. In both, a capture process writes classic
pcap into a nameless private spool file (`capture/live_spool.py`) that netwatch reads behind it
with the offline record walk: the capture never waits for the analysis, so a burst piles up in the
spool, not in the kernel's drop count.

- `tshark` (`capture/live_dumpcap.py`) is driven by pyshark: pyshark finds tshark and dumpcap (its
  config.ini, PATH, the installers' places), checks the Wireshark version, resolves the interface
  against `tshark -D` (names, aliases, numbers) and builds dumpcap's command line (`LiveCapture`'s
  own), which netwatch runs with a large kernel buffer. pyshark's dissected packets stay out of the
  path: measured on lo they deliver 2.5-6k packets/s and lose 23% of a 10k packets/s stream
  (benchmarks/bench_live_pyshark.py, README). dumpcap reports the kernel's drop count on exit, and
  runs for a non-root user in `wireshark`.
- `scapy` opens a PF_PACKET socket through scapy's L2ListenSocket (BPF via libpcap, promiscuous
  mode) that a small reader process (`capture/live_sockspool.py`) empties into the spool without
  building scapy packets (VLAN tags restored); needs root or CAP_NET_RAW; drop counts as it goes.

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
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from netwatch.capture import CaptureError
from netwatch.capture.blocks import FrameBlock
from netwatch.capture.interfaces import ARPHRD_LINKTYPE, ARPHRD_LOOPBACK, arphrd, interface_names
from netwatch.capture.live_spool import SpoolReader, open_spool

BACKENDS = ("tshark", "scapy")
SOL_PACKET, PACKET_STATISTICS, PACKET_IGNORE_OUTGOING = 263, 6, 23
RCVBUF = 64 << 20  # frames that arrive while the reader process is not scheduled (root: SO_RCVBUFFORCE)
START_TIMEOUT = 15.0
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
        from netwatch.capture.live_dumpcap import DumpcapSource
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
    def abandon(self, lost: bool = True) -> None:
        """End the read loop now, leaving what is still buffered (counted as lost where the backend
        can, unless `lost` is False: past --count it is not wanted)."""
    def drops(self) -> int | None:
        return None
    def drop_counts(self) -> dict[str, int]:
        """Packets lost before netwatch read them, by where (`kernel`, `dumpcap`, `interface`), and
        `received` when the capture says; empty while unknown."""
        n = self.drops()
        return {} if n is None else {"kernel": n}
    def close(self) -> None: ...


class SpoolSource(LiveSource):
    """A capture process writing classic pcap into a private spool file that netwatch reads behind it
    in blocks (`capture/live_spool.py`): the process never waits for the analysis, so a burst piles
    up in the spool instead of overflowing the kernel's buffer. Stopped with SIGINT: it writes what
    it still holds, then exits; `STOP_GRACE` seconds first lets it take what the kernel still has."""

    STOP_GRACE = 0.0

    def __init__(self, iface: str, bpf: str | None) -> None:
        super().__init__(iface, bpf)
        self._give_up = threading.Event()
        self._stopping = False
        self._stderr: list[str] = []

    def _spawn(self, argv: list[str], pass_fds: tuple[int, ...] = ()) -> None:
        """Start the capture process on a fresh spool (its own session: the terminal's Ctrl-C reaches
        netwatch, which stops it in order)."""
        self.spool = open_spool()
        self.reader = SpoolReader(self.spool)
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.spool, stderr=subprocess.PIPE,
                                         start_new_session=True, pass_fds=pass_fds)
        except OSError as e:
            self.spool.close()
            raise LiveError(f"cannot run {argv[0]}: {e.strerror}") from None
        self._err_thread = threading.Thread(target=self._read_stderr, daemon=True)
        self._err_thread.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            if len(self._stderr) < 200:
                self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    def _wait_header(self) -> bool:
        """The process writes the pcap header once the capture is open: that is "ready"."""
        deadline = time.monotonic() + START_TIMEOUT
        while not self.reader.header_written() and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.reader.header_written():
            return True
        self._wait_exit()
        return False

    def _wait_exit(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(2.0)
        self._err_thread.join(1.0)

    def _broke_off(self) -> str:
        """Why the capture process ended by itself, in the technician's words."""
        return f"capture on {self.iface} ended"

    def _producing(self) -> bool:
        return self.proc.poll() is None

    def run(self, put: Put, stop: threading.Event) -> None:
        reader = self.reader
        for block in reader.blocks(self._producing, self._give_up.is_set):
            put(block)
        if stop.is_set() or self._give_up.is_set():
            return
        self._wait_exit()
        self.error = (f"{self.backend} capture stream broke off: {reader.problem}" if reader.problem
                      else self._broke_off())

    def backlog(self) -> int:
        """Bytes captured that netwatch has not analysed yet."""
        reader = getattr(self, "reader", None)
        return reader.backlog() if reader is not None else 0

    def stop(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None and not self._stopping:
            self._stopping = True
            time.sleep(self.STOP_GRACE)
            proc.send_signal(signal.SIGINT)  # it writes what it holds and exits

    def abandon(self, lost: bool = True) -> None:
        self.reader.count_left = lost
        self._give_up.set()

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


class ScapySource(SpoolSource):
    """PF_PACKET socket set up by scapy (bind, promiscuous mode, BPF, aux data), emptied by a reader
    process into the spool (`capture/live_sockspool.py`): frames never dissected, kernel timestamp,
    original length and VLAN tag from the ancillary data."""

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
        skip_outgoing = "1" if self.arphrd == ARPHRD_LOOPBACK else "0"  # older kernels: skipped by the reader
        fd = ins.fileno()
        self._spawn([sys.executable, "-m", "netwatch.capture.live_sockspool", str(fd), str(self.linktype),
                     skip_outgoing], pass_fds=(fd,))
        if not self._wait_header():
            msg = self._broke_off()
            self.close()
            raise LiveError(msg)
        self.description = "scapy (PF_PACKET socket)"

    def _broke_off(self) -> str:
        text = " ".join(ln.strip() for ln in self._stderr if ln.strip())
        return f"capture on {self.iface} failed: {text or f'reader exit status {self.proc.returncode}'}"

    def drops(self) -> int | None:
        sock = getattr(self, "sock", None)
        if sock is None:
            return None
        try:
            got, dropped = struct.unpack("II", sock.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        except (OSError, AttributeError, ValueError):
            return self._drops
        self._received += got  # the kernel resets these counters on every read
        self._drops += dropped
        return self._drops

    def drop_counts(self) -> dict[str, int]:
        n = self.drops()
        reader = getattr(self, "reader", None)
        return {} if n is None else {"kernel": n, "netwatch": reader.skipped if reader is not None else 0}

    def close(self) -> None:
        super().close()
        sock = getattr(self, "sock", None)
        if sock is not None:
            self.drops()
            sock.close()


def _filter_reason(text: str) -> str:
    """libpcap's own words on a bad filter, without the surrounding boilerplate."""
    m = re.search(r"\(([^()]*(?:syntax error|parse|unknown|illegal|expression)[^()]*)\)", text, re.I)
    return m.group(1) if m else text.strip()
