"""The tshark backend's capture: dumpcap run as pyshark planned it, writing into netwatch's spool.

dumpcap (with a 64 MiB kernel ring, `-B`) writes classic pcap into the private spool file that
netwatch reads behind it (`capture/live.py` SpoolSource): it never waits for the analysis. It runs
behind `capture/live_guard.py`, which stops it should netwatch die. It is stopped with SIGINT so
it flushes and reports its drop count (pyshark's own clean-up kills it, losing both), and its error
lines become one-line messages saying what to do.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING

from netwatch.capture.interfaces import interface_names
from netwatch.capture.live import START_TIMEOUT, LiveError, SpoolSource, _filter_reason, permission_help

if TYPE_CHECKING:
    from netwatch.capture.pyshark_plan import DumpcapPlan

DUMPCAP_DROPS = re.compile(r"received/dropped on interface .*: (\d+)/(\d+)"
                           r"(?: \(pcap:(\d+)/dumpcap:(\d+)/flushed:(\d+)/ps_ifdrop:(\d+)\))?")


class DumpcapSource(SpoolSource):
    """dumpcap as pyshark planned it, into the spool; its closing line gives the drop counts."""

    backend = "tshark"
    # dumpcap hands over the kernel ring every 250 ms and drops what is unread when interrupted:
    # wait one period so that what was captured before the stop reaches the pipeline
    STOP_GRACE = 0.3

    def __init__(self, plan: DumpcapPlan, bpf: str | None) -> None:
        super().__init__(plan.iface, bpf)
        self.plan = plan
        self.exe = plan.exe

    def start(self) -> None:
        # behind a guard that stops dumpcap if netwatch dies: nothing else would end it (no pipe to break)
        self._spawn([sys.executable, "-m", "netwatch.capture.live_guard", str(os.getpid()), *self.plan.argv])
        if not self._wait_header():
            msg = self._failure()
            self.close()
            raise LiveError(msg)
        self.description = (f"tshark (pyshark {self.plan.pyshark} running {self.exe}, "
                            f"Wireshark {self.plan.wireshark})")

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

    def _broke_off(self) -> str:
        return f"dumpcap stopped capturing: {self._failure()}"

    def drops(self) -> int | None:
        """dumpcap reports drops when it exits: 'Packets received/dropped on interface ...: R/D (...)'."""
        counts = self.drop_counts()
        return None if not counts else sum(v for k, v in counts.items() if k != "received")

    def drop_counts(self) -> dict[str, int]:
        counts = dumpcap_drops(self._stderr)
        reader = getattr(self, "reader", None)
        if counts and reader is not None:
            counts["netwatch"] = reader.skipped  # frames in the spool never analysed
        return counts


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
