"""Scenarios for who sent what on channels whose ports point the wrong way (issue 20): a TFTP upload
from a POS (the write request to port 69, the transfer between the POS's low port and the server's
high one, and a second upload whose DATA leaves from a new client port), and an FTP upload in active
mode (the server opens the data connection from port 20 to the client's PORT).

Card numbers (test numbers) are listed in CARD_NUMBERS.
"""

from __future__ import annotations

import struct

from scenario_lib import Clock, TcpConversation, udp

POS, TFTP_SRV, FTP_SRV = "10.20.1.15", "10.20.0.40", "10.20.0.41"
CARD_NUMBERS = ["4242424242424242", "2223003122003222"]


def _batch(pan: str) -> bytes:
    rows = [f"2023-11-14;{i:04d};12.50;EUR;{pan if i == 3 else '0' * 16};approved" for i in range(1, 9)]
    return ("\r\n".join(rows) + "\r\n").encode()


def tftp_upload() -> list:
    """The POS's embedded TFTP client (port 1069) uploads the day's batch: WRQ to port 69, the server answers
    from port 50123, DATA blocks go POS → server. Then a second WRQ, whose DATA leaves from port 1070."""
    clock = Clock()
    out = []
    data = _batch(CARD_NUMBERS[0])
    for n, (req_port, data_port, srv_port) in enumerate([(1069, 1069, 50123), (1071, 1070, 50124)]):
        out.append(udp(POS, TFTP_SRV, req_port, 69, b"\x00\x02" + f"batch{n}.csv".encode() + b"\0octet\0", clock))
        out.append(udp(TFTP_SRV, POS, srv_port, data_port, b"\x00\x04\x00\x00", clock))  # ACK block 0
        for block, i in enumerate(range(0, len(data), 512), start=1):
            out.append(udp(POS, TFTP_SRV, data_port, srv_port, struct.pack("!HH", 3, block) + data[i : i + 512],
                           clock))
            out.append(udp(TFTP_SRV, POS, srv_port, data_port, struct.pack("!HH", 4, block), clock))
    return out


def ftp_active_upload() -> list:
    """The POS uploads its batch by FTP in active mode: PORT, STOR, and the server connects from port 20."""
    clock = Clock()
    ctl = TcpConversation(POS, FTP_SRV, 49400, 21, clock)
    ctl.send(1, b"220 batch FTP ready\r\n")
    ctl.send(0, b"USER batch\r\n")
    ctl.send(1, b"331 Password required\r\n")
    ctl.send(0, b"PASS\r\n")
    ctl.send(1, b"230 Logged in\r\n")
    ctl.send(0, b"PORT 10,20,1,15,195,81\r\n")  # 195 * 256 + 81 = 50001
    ctl.send(1, b"200 PORT command successful\r\n")
    ctl.send(0, b"STOR batch.csv\r\n")
    ctl.send(1, b"150 Opening data connection\r\n")
    data = TcpConversation(FTP_SRV, POS, 20, 50001, clock)
    data.send(1, _batch(CARD_NUMBERS[1]))  # the file flows from the POS (the data connection's server)
    data.close()
    ctl.send(1, b"226 Transfer complete\r\n")
    ctl.send(0, b"QUIT\r\n")
    ctl.send(1, b"221 Bye\r\n")
    ctl.close()
    return sorted(ctl.packets + data.packets, key=lambda p: p.time)


SCENARIOS = {
    "direction_tftp_upload": tftp_upload,
    "direction_ftp_active": ftp_active_upload,
}
