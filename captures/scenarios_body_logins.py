"""Logins in HTTP request bodies other than url-encoded forms: JSON (flat, nested, with `\\u` escapes,
under a text/plain type, gzip-coded, chunked with the value cut over chunks, in HTTP/2 cleartext DATA
frames, a form serialized as name/value objects), multipart/form-data, an XML attribute and SOAP
WS-Security UsernameToken PasswordText; then the look-alikes that must stay silent (flags and
policies named like passwords, empty values, a JSON schema, name/value objects with no value or a
flag's name, a PasswordDigest, empty and non-leaf XML password elements, a file part, a response
echoing a password field, a login past the analyzer's budget).

Every password is listed in PASSWORDS, decoded (tests/test_body_logins.py, tests/test_evidence.py
and the leak tests look for them in every output and evidence capture); WIRE lists the forms sent
that differ from the decoded one (JSON escapes, XML entities). Fixed timestamps: reruns are
byte-identical. The h2 frames are made by the h2 library, gzip by the standard library.
"""

from __future__ import annotations

import gzip
import json

import h2.config
import h2.connection
from scenario_lib import Clock, TcpConversation

POS, BACKOFFICE, PAYUI, SOAP = "10.20.1.15", "10.20.9.6", "198.51.100.91", "198.51.100.92"
PASSWORD = {
    "json-plain": "Json1-plain-pw",
    "json-nested": "Json2-n3sted-pw",
    "json-escaped": "Json3@esc-pw",  # sent as Json3\u0040esc\u002dpw
    "multipart": "Multi4-part-pw",
    "soap-text": "Soap5-text&pw",  # sent as Soap5-text&amp;pw
    "json-gzip": "Gzip6-json-pw",
    "json-chunked": "Chunk7-cut-pw",
    "xml-attribute": "Xml8-attr-pw",
    "json-text-plain": "Json9-plain-type",
    "h2c-json": "H2c10-json-pw",
    "response-echo": "Resp11-echo-pw",  # in a response: not reported, blanked in evidence
    "past-budget": "Late12-budget-pw",  # after 64 KiB of the flow: not reported, blanked in evidence
    "json-name-value": "Field13-pair-pw",  # [{"name": "password", "value": …}] (jQuery serializeArray)
}
PASSWORDS = list(PASSWORD.values())
WIRE = {"json-escaped": "Json3\\u0040esc\\u002dpw", "soap-text": "Soap5-text&amp;pw"}
# what each must be reported as: (method, user, secret kind, decoded length)
EXPECTED = [
    ("JSON body", "bob", "cleartext", len(PASSWORD["json-plain"])),
    ("JSON body", "amy", "cleartext", len(PASSWORD["json-nested"])),
    ("JSON body", "cleo@shop.example", "cleartext", len(PASSWORD["json-escaped"])),
    ("multipart form", "dan", "cleartext", len(PASSWORD["multipart"])),
    ("WS-Security PasswordText", "eve", "cleartext", len(PASSWORD["soap-text"])),
    ("JSON body", "finn", "cleartext", len(PASSWORD["json-gzip"])),
    ("JSON body", "gwen", "cleartext", len(PASSWORD["json-chunked"])),
    ("XML body", "hal", "cleartext", len(PASSWORD["xml-attribute"])),
    ("JSON body", "ida", "cleartext", len(PASSWORD["json-text-plain"])),
    ("JSON body", "jon", "cleartext", len(PASSWORD["h2c-json"])),
    ("JSON body", "kai", "cleartext", len(PASSWORD["json-name-value"])),
]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"


def _request(head: str, body: bytes = b"", extra: str = "") -> bytes:
    lines = head.replace("\n", "\r\n") + "\r\n" + extra
    if body and "Transfer-Encoding" not in extra:
        lines += f"Content-Length: {len(body)}\r\n"
    return lines.encode("latin-1") + b"\r\n" + body


def _post(path: str, ctype: str, body: bytes, extra: str = "") -> bytes:
    return _request(f"POST {path} HTTP/1.1\nHost: backoffice.store.example\nContent-Type: {ctype}", body, extra)


def _exchange(clk: Clock, server: str, port: int, cport: int, *requests: bytes, reply: bytes = OK) -> list:
    conv = TcpConversation(POS, server, cport, port, clk)
    for req in requests:
        conv.send(0, req)
        conv.send(1, reply)
    conv.close()
    return conv.packets


def _soap(token: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
            f'envelope/" xmlns:wsse="{WSSE.replace("-username-token-profile-1.0", "-wssecurity-secext-1.0.xsd")}">'
            f"\n <soap:Header>\n  <wsse:Security>\n   <wsse:UsernameToken>\n{token}   </wsse:UsernameToken>\n"
            "  </wsse:Security>\n </soap:Header>\n <soap:Body><GetBatchTotals/></soap:Body>\n</soap:Envelope>\n"
            ).encode()


def _h2c(clk: Clock) -> list:
    """HTTP/2 with prior knowledge: a JSON login in two DATA frames (cut before the password)."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    client.send_headers(1, [(":method", "POST"), (":path", "/api/v2/session"), (":scheme", "http"),
                            (":authority", "backoffice.store.example"), ("content-type", "application/json")])
    body = json.dumps({"username": "jon", "password": PASSWORD["h2c-json"]}).encode()
    client.send_data(1, body[:10])
    client.send_data(1, body[10:], end_stream=True)
    conv = TcpConversation(POS, BACKOFFICE, 54100, 8080, clk)
    conv.send(0, client.data_to_send(), mss=120)
    conv.close()
    return conv.packets


def login_body_secrets() -> list:
    clk, p = Clock(), PASSWORD
    plain = json.dumps({"username": "bob", "password": p["json-plain"], "remember": True}).encode()
    packed = gzip.compress(json.dumps({"user": "finn", "password": p["json-gzip"]}).encode(), mtime=0)
    out = _exchange(clk, BACKOFFICE, 80, 54000, _post("/api/login", "application/json", plain),
                    _post("/api/login", "application/json; charset=utf-8", packed, "Content-Encoding: gzip\r\n"))
    nested = json.dumps({"client": "pos-7", "auth": {"method": "local", "credentials": {
        "login": "amy", "userPassword": p["json-nested"]}}, "device": {"id": 7}}).encode()
    out += _exchange(clk, BACKOFFICE, 8443, 54001, _post("/rest/v1/auth", "application/vnd.api+json", nested))
    escaped = ('{"email": "cleo\\u0040shop.example", "pass\\u0077ord": "' + WIRE["json-escaped"] + '"}').encode()
    out += _exchange(clk, PAYUI, 80, 54002, _post("/ui/session", "application/json", escaped))
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    parts = [("username", None, "dan"), ("password", None, p["multipart"]),
             ("avatar", "me.png", "\x89PNG not a password")]
    multipart = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"'
                        + (f'; filename="{f}"\r\nContent-Type: image/png' if f else "") + f"\r\n\r\n{v}\r\n"
                        for n, f, v in parts) + f"--{boundary}--\r\n"
    out += _exchange(clk, PAYUI, 80, 54003, _post("/ui/login", f"multipart/form-data; boundary={boundary}",
                                                  multipart.encode("latin-1")))
    token = (f"    <wsse:Username>eve</wsse:Username>\n    <wsse:Password Type=\"{WSSE}#PasswordText\">"
             f"{WIRE['soap-text']}</wsse:Password>\n")
    out += _exchange(clk, SOAP, 8080, 54004, _post("/Settlement.svc", "text/xml; charset=utf-8", _soap(token),
                                                   'SOAPAction: "urn:GetBatchTotals"\r\n'))
    body = json.dumps({"username": "gwen", "password": p["json-chunked"]}).encode()
    cut = body.index(b"cut")
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in (body[:cut], body[cut:])) + b"0\r\n\r\n"
    out += _exchange(clk, PAYUI, 80, 54005, _post("/ui/session", "application/json", chunked,
                                                  "Transfer-Encoding: chunked\r\n"))
    attr = f'<?xml version="1.0"?>\n<Logon Terminal="T-04" UserName="hal" Password="{p["xml-attribute"]}"/>\n'
    out += _exchange(clk, SOAP, 8080, 54006, _post("/pos/logon", "application/xml", attr.encode()))
    text_plain = json.dumps({"login": "ida", "pwd": p["json-text-plain"]}).encode()
    out += _exchange(clk, BACKOFFICE, 80, 54007, _post("/api/login", "text/plain;charset=UTF-8", text_plain))
    fields = json.dumps([{"name": "username", "value": "kai"}, {"name": "password", "value": p["json-name-value"]},
                         {"name": "remember", "value": "on"}]).encode()
    out += _exchange(clk, PAYUI, 80, 54008, _post("/ui/login.json", "application/json", fields))
    return out + _h2c(clk)


def login_body_lookalikes() -> list:
    """Bodies that look like logins and are not (or are out of the analyzer's reach); each must stay
    silent, and evidence still blanks the password-named values among them."""
    clk = Clock()
    flags = json.dumps({"username": "kim", "password_reset": True, "show_password": False, "password": "",
                        "passwordPolicy": {"minLength": 12, "requireDigit": True}, "passwords": 3}).encode()
    schema = json.dumps({"type": "object", "properties": {"username": {"type": "string"}, "password": {
        "type": "string", "format": "password", "minLength": 8}}, "required": ["username", "password"]}).encode()
    labels = json.dumps({"fields": [{"name": "password", "label": "Password", "type": "password"},
                                    {"name": "password_reset", "value": "yes"}, {"name": "password", "value": ""}]}
                        ).encode()
    digest = ("    <wsse:Username>lou</wsse:Username>\n    <wsse:Password Type=\"" + WSSE
              + "#PasswordDigest\">weYI3nXd8LjMNVksCKFV8t3rgHh3Rw==</wsse:Password>\n"
              "    <wsse:Nonce>WScqanjCEAC4mQoBE07sAQ==</wsse:Nonce>\n")
    empty_xml = (b'<Logon Operator="max"><Password/><Password></Password>'
                 b"<Password><Hash>ab12</Hash></Password></Logon>")
    boundary = "b0undary"
    files = (f'--{boundary}\r\nContent-Disposition: form-data; name="password_file"; filename="pw.txt"\r\n\r\n'
             f"a file, not a login\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"password_hint\"\r\n\r\n"
             f"my dog\r\n--{boundary}--\r\n").encode()
    reqs = [_post("/api/account", "application/json", flags), _post("/api/schema", "application/schema+json", schema),
            _post("/api/forms", "application/json", labels), _post("/Settlement.svc", "text/xml", _soap(digest)),
            _post("/pos/logon", "application/xml", empty_xml),
            _post("/upload", f"multipart/form-data; boundary={boundary}", files),
            _post("/notes", "text/plain", b"password: not-json-at-all")]
    out = []
    for i, req in enumerate(reqs):
        out += _exchange(clk, BACKOFFICE, 80, 54200 + i, req)
    echo = json.dumps({"user": "ned", "password": PASSWORD["response-echo"]}).encode()
    out += _exchange(clk, BACKOFFICE, 8082, 54298, _request("GET /api/config HTTP/1.1\nHost: backoffice.store.example"),
                     reply=b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(echo), echo))
    bulk = bytes(range(32, 127)) * 720  # 68 KiB of a price list first: the login comes past the budget
    late = json.dumps({"username": "oli", "password": PASSWORD["past-budget"]}).encode()
    out += _exchange(clk, BACKOFFICE, 8081, 54299, _post("/api/prices", "application/octet-stream", bulk),
                     _post("/api/login", "application/json", late))
    return out  # (the last two on ports of their own: each cleartext finding's evidence names its own flows)


SCENARIOS = {"login_body_secrets": login_body_secrets, "login_body_lookalikes": login_body_lookalikes}
