"""Evidence redaction cases (issue 11): secrets cut over TCP segment boundaries, segments out of order
with an overlapping retransmission, and cleartext logins of several protocols.

Every card number is listed in CARD_NUMBERS and every password in PASSWORDS (tests/test_evidence.py
checks that no evidence capture holds one, in any encoding). Timestamps are fixed.
"""

from __future__ import annotations

import base64
import struct

from scenario_lib import Clock, TcpConversation

POS = "10.20.1.15"
BACKOFFICE = "10.20.9.6"
MAIL = "10.20.9.25"
DB = "10.20.9.40"
GATEWAY = "198.51.100.77"

CARD_NUMBERS = [
    "4916338506082832",  # evidence_segment_boundary: ASCII, cut between digits
    "5425233430109903",  # evidence_segment_boundary: UTF-16LE, cut inside a character
    "374245455400126",  # evidence_segment_boundary: track 2, cut at the separator (Amex)
    "6011000400000000",  # evidence_out_of_order: grouped with dashes, pieces out of order
    "4000056655665556",  # evidence_out_of_order: base64 in a JSON field, overlapping retransmission
    "4539578763621486",  # evidence_hidden_encodings: form field, percent-encoded spaces
    "5555555555554444",  # evidence_hidden_encodings: form field, grouped by '+'
    "378282246310005",  # evidence_hidden_encodings: track 1, percent-encoded (Amex)
    "6011111111111117",  # evidence_hidden_encodings: track 2, percent-encoded
    "4012888888881881",  # evidence_hidden_encodings: base64 across line breaks (PAN and track 2)
]
TRACK_TAIL = "2812101123456789"  # expiry, service code, discretionary data of every track above
PASSWORDS = [
    "Winter2024!",  # evidence_logins: HTTP Basic
    "m41lb0x-pw",  # evidence_logins: IMAP LOGIN
    "smtp-S3cret",  # evidence_logins: SMTP AUTH LOGIN, cut over two out-of-order segments
    "pop-pass-77",  # evidence_logins: POP3 USER/PASS
    "pg-Cl34rtext",  # evidence_logins: PostgreSQL cleartext password message
]


def evidence_segment_boundary() -> list:
    """A POS record with three card forms, each cut by a segment boundary, sent in order."""
    clock = Clock()
    body = (b"REC1 pan=" + CARD_NUMBERS[0].encode() + b" amt=10.00\n"
            + "card:5425 2334 3010 9903;".encode("utf-16-le")
            + b"\nT2 ;" + CARD_NUMBERS[2].encode() + b"=27121015432112345?\n")
    a = body.index(CARD_NUMBERS[0].encode()) + 7
    b = body.index("3010".encode("utf-16-le")) + 1  # inside a UTF-16 character
    c = body.index(b"=27121")  # the track-2 separator starts the next segment
    conv = TcpConversation(POS, BACKOFFICE, 41000, 9300, clock)
    conv.segments(0, body, cuts=[a, b, c], order=[0, 1, 2, 3])
    conv.send(1, b"OK\n")
    conv.close()
    return conv.packets


def evidence_out_of_order() -> list:
    """An HTTP POST whose card numbers straddle segments sent out of order, one retransmitted."""
    clock = Clock()
    b64 = base64.b64encode(b'{"pan":"' + CARD_NUMBERS[4].encode() + b'","exp":"1229"}')
    body = b'{"card":"6011-0004-0000-0000","blob":"' + b64 + b'"}'
    req = (b"POST /api/sale HTTP/1.1\r\nHost: legacy-gw.example\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body)) + body
    a = req.index(b"6011-0004") + 6
    b = req.index(b64) + 20
    conv = TcpConversation(POS, GATEWAY, 41001, 8080, clock)
    conv.segments(0, req, cuts=[a, b], order=[2, 1, 0], retransmit=1)
    conv.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    conv.close()
    return conv.packets


def _http_basic(clock: Clock) -> list:
    cred = base64.b64encode(b"posadmin:" + PASSWORDS[0].encode())
    c = TcpConversation(POS, BACKOFFICE, 41010, 80, clock)
    c.send(0, b"GET /status HTTP/1.1\r\nHost: backoffice.store.example\r\nAuthorization: Basic " + cred + b"\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c.close()
    return c.packets


def _imap(clock: Clock) -> list:
    c = TcpConversation(POS, MAIL, 41011, 143, clock)
    c.send(1, b"* OK IMAP4rev1 ready\r\n")
    c.send(0, b'a1 LOGIN "pos15" "' + PASSWORDS[1].encode() + b'"\r\n')
    c.send(1, b"a1 OK LOGIN completed\r\n")
    c.close()
    return c.packets


def _smtp(clock: Clock) -> list:
    c = TcpConversation(POS, MAIL, 41012, 25, clock)
    c.send(1, b"220 mail.store.example ESMTP\r\n")
    c.send(0, b"EHLO pos15\r\n")
    c.send(1, b"250-mail.store.example\r\n250 AUTH LOGIN PLAIN\r\n")
    c.send(0, b"AUTH LOGIN\r\n")
    c.send(1, b"334 VXNlcm5hbWU6\r\n")
    c.send(0, base64.b64encode(b"pos15") + b"\r\n")
    c.send(1, b"334 UGFzc3dvcmQ6\r\n")
    line = base64.b64encode(PASSWORDS[2].encode()) + b"\r\n"
    c.segments(0, line, cuts=[7], order=[1, 0])
    c.send(1, b"235 2.7.0 Authentication successful\r\n")
    c.close()
    return c.packets


def _pop3(clock: Clock) -> list:
    c = TcpConversation(POS, MAIL, 41013, 110, clock)
    c.send(1, b"+OK POP3 ready\r\n")
    c.send(0, b"USER pos15\r\n")
    c.send(1, b"+OK\r\n")
    c.send(0, b"PASS " + PASSWORDS[3].encode() + b"\r\n")
    c.send(1, b"+OK logged in\r\n")
    c.close()
    return c.packets


def _postgres(clock: Clock) -> list:
    c = TcpConversation(POS, DB, 41014, 5432, clock)
    params = b"user\0posapp\0database\0sales\0\0"
    c.send(0, struct.pack("!iI", 8 + len(params), 0x00030000) + params)
    c.send(1, b"R" + struct.pack("!iI", 8, 3))  # AuthenticationCleartextPassword
    pw = PASSWORDS[4].encode() + b"\0"
    c.send(0, b"p" + struct.pack("!i", 4 + len(pw)) + pw)
    c.send(1, b"R" + struct.pack("!iI", 8, 0))
    c.close()
    return c.packets


def evidence_logins() -> list:
    """Cleartext logins: HTTP Basic, IMAP LOGIN, SMTP AUTH LOGIN (password line out of order), POP3, PostgreSQL."""
    clock = Clock()
    pkts = []
    for make in (_http_basic, _imap, _smtp, _pop3, _postgres):
        pkts += make(clock)
    return pkts


def evidence_hidden_encodings() -> list:
    """Card data in encodings one detector each reads: a form body (percent-encoded spaces, '+'
    grouping, track 1 and track 2 percent-encoded), then a MIME-style base64 body (76-character
    lines) holding a PAN and track 2. tests/test_evidence_floor.py turns each detector off in turn."""
    clock = Clock()
    c = CARD_NUMBERS
    grouped = "+".join(c[6][i : i + 4] for i in range(0, 16, 4))
    form = (f"pan={'%20'.join(c[5][i : i + 4] for i in range(0, 16, 4))}&alt={grouped}"
            f"&t1=%25B{c[7]}%5EDOE%2FJOHN%5E{TRACK_TAIL}%3F&t2=%3B{c[8]}%3D{TRACK_TAIL}%3F&v=2").encode()
    blob = base64.encodebytes(f"sale id=77 pan={c[9]} track=;{c[9]}={TRACK_TAIL}? amount=12.50 "
                              f"terminal=POS15 note={'x' * 40}".encode())
    conv = TcpConversation(POS, GATEWAY, 41020, 8080, clock)
    for ctype, body in ((b"application/x-www-form-urlencoded", form), (b"application/octet-stream", blob)):
        conv.send(0, b"POST /collect HTTP/1.1\r\nHost: legacy-gw.example\r\nContent-Type: " + ctype
                  + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        conv.send(1, b"HTTP/1.1 204 No Content\r\n\r\n")
    conv.close()
    return conv.packets


SCENARIOS = {
    "evidence_hidden_encodings": evidence_hidden_encodings,
    "evidence_segment_boundary": evidence_segment_boundary,
    "evidence_out_of_order": evidence_out_of_order,
    "evidence_logins": evidence_logins,
}
