"""pyshark plans the tshark backend's capture: which dumpcap, which interface, which command line.

pyshark's `LiveCapture` runs dumpcap into a dissecting tshark and hands out dissected packets;
netwatch needs the raw frames at a store link's rate, which that path cannot give (2.5-6k
packets/s with 23% lost at 10k/s, see README). So pyshark keeps the part that drives the capture:
it locates tshark and dumpcap (its config.ini, PATH, the Wireshark installers' places), reads the
Wireshark version, lists `tshark -D` to resolve and check the interface (names, aliases, numbers)
and builds dumpcap's command line; its exceptions become one-line messages. netwatch runs exactly
that command (`capture/live_dumpcap.py`) and reads the pcap it writes into a spool with its own reader.
"""

from __future__ import annotations

import asyncio
import configparser
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from netwatch.capture.interfaces import interface_names
from netwatch.capture.live import INSTALL_TSHARK, LiveError, permission_help

KERNEL_BUFFER_MIB = 64  # dumpcap -B: libpcap's default is 2 MiB, 40 ms of a 100k packets/s stream


@dataclass(frozen=True)
class DumpcapPlan:
    """What pyshark decided: the interface dumpcap opens, the command, the versions (for the banner)."""

    iface: str
    argv: list[str]
    wireshark: str
    pyshark: str

    @property
    def exe(self) -> str:
        return self.argv[0]


def plan_dumpcap(iface: str, bpf: str | None) -> DumpcapPlan:
    """Ask pyshark for the capture; LiveError with what to do when it cannot be planned."""
    try:
        import pyshark
        from pyshark.capture.live_capture import UnknownInterfaceException
        from pyshark.tshark import tshark
    except ImportError as e:
        raise LiveError(f"the tshark backend is driven by pyshark, which cannot be imported ({e}); "
                        "pip install pyshark, or use --backend scapy") from None
    # pyshark's own loop would be the main thread's, with a SIGCHLD child watcher: give it a private one
    loop = asyncio.new_event_loop()
    try:
        exe = tshark.get_process_path(process_name="dumpcap")
        name = _by_number(iface, tshark.get_tshark_interfaces) if iface.isdigit() else iface
        capture = pyshark.LiveCapture(interface=name, bpf_filter=bpf or None, eventloop=loop)
        capture._verify_capture_parameters()  # the name (or alias) must be in `tshark -D`
        params = capture._get_dumpcap_parameters()  # -q [-f BPF] -i IFACE -w -
        version = str(capture._get_tshark_version())
    except tshark.TSharkNotFoundException as e:
        what = "dumpcap" if "dumpcap" in str(e) else "tshark"
        raise LiveError(f"the tshark backend needs {what} (installed with tshark), which pyshark did not find on "
                        f"PATH or in its config.ini; {INSTALL_TSHARK}") from None
    except UnknownInterfaceException:
        if name in interface_names():  # pyshark: "Perhaps permissions are missing?" - tshark -D then lists none
            raise LiveError(permission_help(name, str(exe), "tshark")) from None
        raise LiveError(f"no such interface: {iface}; available: {_available(tshark.get_tshark_interfaces)} "
                        "(see 'netwatch interfaces')") from None
    except configparser.Error as e:  # pyshark reads ./config.ini whatever it is
        raise LiveError(f"pyshark reads config.ini in the current directory, and this one is not pyshark's ({e}); "
                        "run netwatch from another directory, or give it [tshark] tshark_path and [dumpcap] "
                        "dumpcap_path") from None
    except tshark.TSharkVersionException as e:
        raise LiveError(f"pyshark cannot use this tshark: {e}") from None
    except AttributeError as e:  # LiveCapture's planning methods are pyshark 0.6's (pinned in pyproject)
        raise LiveError(f"pyshark {metadata.version('pyshark')} lacks what the tshark backend uses ({e}); "
                        "pip install 'pyshark>=0.6,<0.7', or use --backend scapy") from None
    except (subprocess.CalledProcessError, OSError) as e:
        raise LiveError(f"tshark could not list the interfaces or its version for pyshark: {e}") from None
    finally:
        loop.close()
    # -P: classic pcap, microsecond timestamps as the scapy backend gives them (pcapng would carry
    # nanoseconds that a float cannot hold exactly); pyshark's LiveRingCapture adds it the same way.
    # -B: a kernel ring that holds a burst while dumpcap itself is not scheduled (2 cores, one busy
    # analysing); dumpcap empties it into the spool file without waiting for netwatch
    argv = [str(exe), *params, *([] if "-P" in params else ["-P"]),
            *([] if "-B" in params else ["-B", str(KERNEL_BUFFER_MIB)])]
    return DumpcapPlan(name, argv, version, metadata.version("pyshark"))


def _by_number(number: str, listing: Callable[[], list[str]]) -> str:
    """A `tshark -D` number as its name, resolved once (numbers shift as interfaces come and go), so that the
    link type, the banner and the drop report name the interface."""
    names = listing()
    n = int(number)
    if not 1 <= n <= len(names):
        raise LiveError(f"no such interface: {number}; available: {_numbered(names)}")
    return names[n - 1]


def _available(listing: Callable[[], list[str]]) -> str:
    try:
        return _numbered(listing())
    except (subprocess.CalledProcessError, OSError):
        return "unknown (tshark -D failed)"


def _numbered(names: list[str]) -> str:
    return ", ".join(f"{i}. {n}" for i, n in enumerate(names, 1))
