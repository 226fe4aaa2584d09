"""Passwords in URLs and form posts (CWE-598): the userinfo of a proxy request's absolute URL (http
and ftp), password-named query parameters (mixed case, percent-encoded, '+' for a space, repeated, on
a port that is not 80, the second request of a keep-alive flow), form posts (plain, chunked with the
value cut over chunks, gzip-coded), RFC 6750's access_token in a query, and HTTP/2 cleartext (a :path
query and a form body in DATA frames); then the look-alikes that must stay silent.

Every password is listed in PASSWORDS (tests/test_url_logins.py, tests/test_evidence.py and the
leak tests look for them in every output and evidence capture). Fixed timestamps: reruns are
byte-identical. The h2 frames are made by the h2 library, gzip by the standard library.
"""

from __future__ import annotations

import gzip

import h2.config
import h2.connection
from scenario_lib import Clock, TcpConversation

POS, SHOP, PROXY, BACKOFFICE = "10.20.1.15", "198.51.100.90", "10.20.0.8", "10.20.9.6"
PASSWORD = {
    "proxy-userinfo": "Url1-pr0xy!pw",  # sent percent-encoded: %21
    "ftp-userinfo": "Ftp2-f1les-pw",
    "query-mixed": "Query Pw3 x",  # sent as Qu%65ry+Pw3+x
    "query-repeat-a": "Rep4a-first-pw",
    "query-repeat-b": "Rep4b-second-pw",
    "form-plain": "Form5+pw&more",  # sent as Form5%2Bpw%26more
    "form-chunked": "Chunk6-cut-pw",
    "form-gzip": "Gzip7-coded-pw",
    "keepalive-query": "Keep8-alive-pw",
    "access-token": "tok9-AbCdEfGh0123456789",
    "h2c-query": "H2c10-path-pw",
    "h2c-form": "H2c11-data-pw",
}
PASSWORDS = list(PASSWORD.values())
# what each must be reported as: (method, user, secret kind, decoded length)
EXPECTED = [
    ("URL userinfo", "alice", "cleartext", len(PASSWORD["proxy-userinfo"])),
    ("URL userinfo (ftp)", "ftpuser", "cleartext", len(PASSWORD["ftp-userinfo"])),
    ("URL query", "bob", "cleartext", len(PASSWORD["query-mixed"])),
    ("URL query", "carol", "cleartext", len(PASSWORD["query-repeat-a"])),
    ("URL query", "carol", "cleartext", len(PASSWORD["query-repeat-b"])),
    ("form body", "dave", "cleartext", len(PASSWORD["form-plain"])),
    ("form body", "erin@shop.example", "cleartext", len(PASSWORD["form-chunked"])),
    ("form body", "gus", "cleartext", len(PASSWORD["form-gzip"])),
    ("URL query", "hana", "cleartext", len(PASSWORD["keepalive-query"])),
    ("URL query", None, "token", len(PASSWORD["access-token"])),
    ("URL query", "ivan", "cleartext", len(PASSWORD["h2c-query"])),
    ("form body", "jo", "cleartext", len(PASSWORD["h2c-form"])),
]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _request(head: str, body: bytes = b"", extra: str = "") -> bytes:
    lines = head.replace("\n", "\r\n") + "\r\n" + extra
    if body and "Transfer-Encoding" not in extra:
        lines += f"Content-Length: {len(body)}\r\n"
    return lines.encode("latin-1") + b"\r\n" + body


def _exchange(clk: Clock, server: str, port: int, cport: int, *requests: bytes) -> list:
    conv = TcpConversation(POS, server, cport, port, clk)
    for req in requests:
        conv.send(0, req)
        conv.send(1, OK)
    conv.close()
    return conv.packets


def _h2c(clk: Clock) -> list:
    """HTTP/2 with prior knowledge: a password in a :path query, then a form post in DATA frames."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    p = PASSWORD
    client.send_headers(1, [(":method", "GET"), (":path", f"/login?username=ivan&password={p['h2c-query']}"),
                            (":scheme", "http"), (":authority", "backoffice.store.example")], end_stream=True)
    client.send_headers(3, [(":method", "POST"), (":path", "/session"), (":scheme", "http"),
                            (":authority", "backoffice.store.example"),
                            ("content-type", "application/x-www-form-urlencoded")])
    body = f"login=jo&pass={p['h2c-form']}".encode()
    client.send_data(3, body[:12])
    client.send_data(3, body[12:], end_stream=True)
    conv = TcpConversation(POS, BACKOFFICE, 53100, 8080, clk)
    conv.send(0, client.data_to_send(), mss=120)
    conv.close()
    return conv.packets


def login_url_secrets() -> list:
    clk, p = Clock(), PASSWORD
    out = _exchange(clk, PROXY, 3128, 53000, _request(
        f"GET http://alice:{p['proxy-userinfo'].replace('!', '%21')}@shop.example/orders HTTP/1.1\n"
        "Host: shop.example"))
    out += _exchange(clk, PROXY, 8080, 53001, _request(
        f"GET ftp://ftpuser:{p['ftp-userinfo']}@files.example/pub/prices.csv HTTP/1.1\nHost: files.example"))
    out += _exchange(clk, SHOP, 8081, 53002, _request(
        "GET /auth/check?UserName=bob&PassWord=Qu%65ry+Pw3+x&lang=en HTTP/1.1\nHost: shop.example:8081"))
    out += _exchange(clk, SHOP, 80, 53003, _request(
        f"GET /api/v1/sync?user=carol&pwd={p['query-repeat-a']}&pwd={p['query-repeat-b']} HTTP/1.1\n"
        "Host: shop.example"))
    form = b"j_username=dave&j_password=Form5%2Bpw%26more&remember=on"
    out += _exchange(clk, SHOP, 80, 53004, _request(
        "POST /j_security_check HTTP/1.1\nHost: shop.example\n"
        "Content-Type: application/x-www-form-urlencoded; charset=UTF-8", form))
    form = f"user%5Bemail%5D=erin%40shop.example&user%5Bpassword%5D={p['form-chunked']}".encode()
    cut = form.index(b"cut")
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in (form[:cut], form[cut:])) + b"0\r\n\r\n"
    out += _exchange(clk, SHOP, 80, 53005, _request(
        "POST /users/sign_in HTTP/1.1\nHost: shop.example\nContent-Type: application/x-www-form-urlencoded",
        chunked, "Transfer-Encoding: chunked\r\n"))
    packed = gzip.compress(f"usr=gus&passwd={p['form-gzip']}".encode(), mtime=0)
    out += _exchange(clk, SHOP, 80, 53006, _request(
        "POST /login HTTP/1.1\nHost: shop.example\nContent-Type: application/x-www-form-urlencoded\n"
        "Content-Encoding: gzip", packed))
    out += _exchange(clk, SHOP, 80, 53007, _request("GET /index.html HTTP/1.1\nHost: shop.example"), _request(
        f"GET /report?email=hana&Password={p['keepalive-query']} HTTP/1.1\nHost: shop.example"))
    out += _exchange(clk, SHOP, 80, 53008, _request(
        f"GET /v1/items?access_token={p['access-token']}&limit=5 HTTP/1.1\nHost: shop.example"))
    return out + _h2c(clk)


LOOKALIKES = [
    "GET /account/settings?password_reset=1&show_password=1&user=frank HTTP/1.1",  # flags named like passwords
    "GET /oauth/callback?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj HTTP/1.1",  # an OAuth redirect
    "GET /cart/update?token=8f14e45fceea167a5a36dedd4bea2543&qty=2 HTTP/1.1",  # a CSRF token
    "GET /login?user=gina&password=&pw= HTTP/1.1",  # empty values
    "GET /files/pw=archive/password=2024/report.pdf HTTP/1.1",  # path segments, not a query
    "GET /login;password=matrix?view=full HTTP/1.1",  # a matrix parameter in the path
    "GET /help#password=in-a-fragment HTTP/1.1",  # a fragment (never the server's)
    "GET /search?q=password+manager&passwords=12 HTTP/1.1",  # the word as a value, a plural name
    "GET http://shop.example?email=a:b@mail.example HTTP/1.1",  # '@' in a query, not userinfo
    "GET http://kiosk@shop.example/ HTTP/1.1",  # a user name only
]


def login_url_lookalikes() -> list:
    """Requests that look like URL or form logins and are not; each must stay silent."""
    clk = Clock()
    reqs = [_request(line + "\nHost: shop.example") for line in LOOKALIKES]
    reqs.append(_request("POST /prefs HTTP/1.1\nHost: shop.example\nContent-Type: application/x-www-form-urlencoded",
                         b"passwordless=true&remember_password=on&password_hint="))
    reqs.append(_request("POST /notes HTTP/1.1\nHost: shop.example\nContent-Type: text/plain",
                         b"password=not-a-form-field"))  # a text body, not a form
    out = []
    for i, req in enumerate(reqs):
        out += _exchange(clk, PROXY if b" http://" in req[:16] else SHOP, 3128 if b" http://" in req[:16] else 80,
                         53200 + i, req)
    conv = TcpConversation(POS, SHOP, 53299, 80, clk)  # a server redirect naming a password field
    conv.send(0, _request("GET /old HTTP/1.1\nHost: shop.example"))
    conv.send(1, b"HTTP/1.1 302 Found\r\nLocation: /login?password=server-side\r\nContent-Length: 0\r\n\r\n")
    conv.close()
    return out + conv.packets


SCENARIOS = {"login_url_secrets": login_url_secrets, "login_url_lookalikes": login_url_lookalikes}
