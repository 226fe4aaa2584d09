"""TFTP transfers (RFC 1350): the read or write request goes to port 69, the transfer runs between
two other ports, chosen by each side; content cannot name it and the ports cannot say who is the
client. The request names both: a later flow between the same two hosts is the transfer, `tftp`
(cleartext), and its client is the host that sent the request, whatever the ports say (`client_is`),
so a file the POS uploads (WRQ) is data sent to the server. Expectations are per run, bounded, and
expire after EXPECT_SECONDS.
"""

from __future__ import annotations

from netwatch.analyzers import Analyzer, Emit, classified, client_is, deactivate
from netwatch.flows.table import Flow
from netwatch.packets.decode import UDP

TFTP_PORT = 69
MAX_EXPECTED = 1024
EXPECT_SECONDS = 30.0
MODES = (b"netascii", b"octet", b"mail")


def tftp_request(data: bytes) -> int | None:
    """1 (RRQ) or 2 (WRQ) for a TFTP request: opcode, file name, NUL, mode, NUL (options may follow)."""
    if len(data) < 4 or data[0] != 0 or data[1] not in (1, 2):
        return None
    parts = data[2:].split(b"\0")
    return data[1] if len(parts) >= 3 and parts[0] and parts[1].lower() in MODES else None


class TftpTransfers(Analyzer[None], name="tftp", transports=(UDP,)):
    def __init__(self) -> None:
        self.expected: dict[tuple[str, str], float] = {}  # (TFTP client, server) → when requested

    def wants(self, flow: Flow) -> bool:
        if TFTP_PORT in (flow.server_port, flow.client_port):
            return True
        for client, server in ((flow.src, flow.dst), (flow.dst, flow.src)):
            at = self.expected.pop((client, server), None)
            if at is not None and flow.first_ts - at <= EXPECT_SECONDS:
                classified(flow, "tftp", False, None)
                if client != flow.src:
                    client_is(flow, 1)  # the requester is the client: the table turns the flow round
                return False
        return False

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        to_69 = flow.server_port == TFTP_PORT if direction == 0 else flow.client_port == TFTP_PORT
        if to_69 and tftp_request(data) is not None:
            sender, receiver = (flow.src, flow.dst) if direction == 0 else (flow.dst, flow.src)
            if len(self.expected) >= MAX_EXPECTED:
                del self.expected[next(iter(self.expected))]
            self.expected[(sender, receiver)] = ts
        deactivate(flow, self)
