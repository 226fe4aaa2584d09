"""FTP data connections, named from what the control connection announced (PASV/EPSV replies, PORT/EPRT).

A data connection carries files and listings with no greeting of its own, so content alone cannot
name it; the cleartext control channel says which address and port come next. Expectations are
per run and bounded; a matching flow is named `ftp-data` at its start (cleartext, since a control
channel we can read did not negotiate TLS). Plaintext-only: with AUTH TLS nothing is announced in clear.
"""

from __future__ import annotations

import re

from netwatch.analyzers import Analyzer, Emit, classified, deactivate
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP

MAX_EXPECTED = 1024
PASV = re.compile(rb"227 [^(\r\n]*\(?(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
PORT = re.compile(rb"PORT (\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})", re.I)
EPSV = re.compile(rb"229 [^(\r\n]*\(\|\|\|(\d{1,5})\|\)")
EPRT = re.compile(rb"EPRT \|[12]\|([0-9a-fA-F.:]+)\|(\d{1,5})\|", re.I)
MAX_CONTROL = 16 * 1024  # control-channel bytes looked at per direction


class _Seen:
    __slots__ = ("bytes",)

    def __init__(self) -> None:
        self.bytes = 0  # control-channel bytes looked at


class FtpData(Analyzer[_Seen], name="ftp_data"):
    def __init__(self) -> None:
        self.expected: dict[tuple[str, int], None] = {}

    def wants(self, flow: Flow) -> bool:
        if flow.proto != TCP or not self.expected:
            return flow.proto == TCP
        if (flow.dst, flow.server_port) in self.expected or (flow.src, flow.client_port) in self.expected:
            classified(flow, "ftp-data", False, flow.how)
            return False
        return True

    def _expect(self, addr: str, port: int) -> None:
        if len(self.expected) >= MAX_EXPECTED:
            del self.expected[next(iter(self.expected))]
        self.expected[(addr, port)] = None

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if flow.app is None:
            return
        st = self.state(flow)
        st.bytes += len(data)
        if flow.app != "ftp" or st.bytes > MAX_CONTROL:
            deactivate(flow, self)
            return
        if direction == 1:
            for m in PASV.finditer(data):
                n = [int(x) for x in m.groups()]
                self._expect(flow.dst, n[4] * 256 + n[5])  # the server's own address is what we see
            for m in EPSV.finditer(data):
                self._expect(flow.dst, int(m.group(1)))
        else:
            for m in PORT.finditer(data):
                n = [int(x) for x in m.groups()]
                self._expect(".".join(map(str, n[:4])), n[4] * 256 + n[5])
            for m in EPRT.finditer(data):
                self._expect(m.group(1).decode("ascii"), int(m.group(2)))
