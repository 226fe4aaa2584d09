"""Real traffic for the live-capture tests: loopback (or namespace) servers and clients.

An HTTP POST carrying a test card number, a TLS handshake (self-signed certificate made with
`cryptography`), and an FTP-style USER/PASS login. Every socket operation has a timeout.
Run as a script (`python live_traffic.py serve HOST`) it serves until stdin closes, printing its
ports as JSON: that is how a test puts the servers inside a network namespace.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import sys
import tempfile
import threading
from pathlib import Path

TEST_PAN = "4111111111111111"  # the public Visa test number
MASKED_PAN = "411111******1111"
FTP_USER = "technician"
FTP_PASSWORD = "Sw1tch-Secret!"
TIMEOUT = 5.0


def self_signed(dirpath: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pay.netwatch.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2)).sign(key, hashes.SHA256()))
    crt, pem = dirpath / "cert.pem", dirpath / "key.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def _recv_until(conn: socket.socket, end: bytes, limit: int = 65536) -> bytes:
    buf = b""
    while end not in buf and len(buf) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def _http(conn: socket.socket) -> None:
    head = _recv_until(conn, b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = head.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in head else b""
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


def _ftp(conn: socket.socket) -> None:
    conn.sendall(b"220 netwatch test FTP ready\r\n")
    for reply in (b"331 Password required\r\n", b"230 Logged in\r\n", b"221 Bye\r\n"):
        if not _recv_until(conn, b"\r\n"):
            return
        conn.sendall(reply)


class Servers:
    """HTTP, TLS and FTP servers on `host`, each on its own free port, one thread per connection."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._tmp = tempfile.TemporaryDirectory()
        crt, key = self_signed(Path(self._tmp.name))
        self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls_ctx.load_cert_chain(crt, key)
        self.socks: dict[str, socket.socket] = {}
        self.stopped = threading.Event()
        for name in ("http", "tls", "ftp"):
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            s.listen(8)
            s.settimeout(0.2)
            self.socks[name] = s
            threading.Thread(target=self._accept, args=(name, s), daemon=True).start()

    @property
    def ports(self) -> dict[str, int]:
        return {n: s.getsockname()[1] for n, s in self.socks.items()}

    def _accept(self, name: str, s: socket.socket) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = s.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(name, conn), daemon=True).start()

    def _serve(self, name: str, conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT)
        try:
            if name == "http":
                _http(conn)
            elif name == "ftp":
                _ftp(conn)
            else:
                with self.tls_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(_recv_until(tls, b"\n"))
                    return
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        for s in self.socks.values():
            s.close()
        self._tmp.cleanup()


def run_clients(host: str, ports: dict[str, int]) -> None:
    """One of each conversation, in order, each closed cleanly (FIN both ways)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    body = f"amount=12.50&pan={TEST_PAN}&exp=1228".encode()
    with socket.create_connection((host, ports["http"]), TIMEOUT) as c:
        c.sendall(b"POST /authorize HTTP/1.1\r\nHost: pay.netwatch.test\r\nContent-Type: "
                  b"application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        _recv_until(c, b"ok")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, ports["tls"]), TIMEOUT) as raw, \
            ctx.wrap_socket(raw, server_hostname="pay.netwatch.test") as tls:
        tls.sendall(b"hello over tls\n")
        _recv_until(tls, b"\n")
    with socket.socket(family, socket.SOCK_STREAM) as c:
        c.settimeout(TIMEOUT)
        c.connect((host, ports["ftp"]))
        _recv_until(c, b"\r\n")
        for line in (f"USER {FTP_USER}\r\n", f"PASS {FTP_PASSWORD}\r\n", "QUIT\r\n"):
            c.sendall(line.encode())
            _recv_until(c, b"\r\n")


def bpf_for(ports: dict[str, int]) -> str:
    """A filter for exactly this test's conversations (other users of lo stay out of the capture)."""
    return " or ".join(f"tcp port {p}" for p in sorted(ports.values()))


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "serve":
    servers = Servers(sys.argv[2])
    print(json.dumps(servers.ports), flush=True)
    sys.stdin.read()  # serve until the test closes our stdin
    servers.close()
