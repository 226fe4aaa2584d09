"""Passwords carried in URLs and HTML form posts: the userinfo of an absolute request target
(`GET http://user:pw@host/` through a proxy, also `ftp://…`), a password-named query parameter
(`?user=alice&password=…`) and a password field of an `application/x-www-form-urlencoded` body.

Why these count as logins in clear: CWE-598 (Use of GET Request Method With Sensitive Query Strings)
and OWASP's "Information exposure through query strings in URL" — a password in a URL is read by
anyone on the path and kept in proxy, server and browser logs; RFC 3986 §3.2.1 deprecates
`user:password` in userinfo for the same reason; a form post over plain HTTP is the password in clear.

Which names: the password fields real login forms and APIs use — `password`, `passwd`, `pass`,
`pwd`, `pw`, `pswd`, `passphrase`, Java EE form login's `j_password`, prefixed forms (`new_password`,
`userPassword`, `login_pwd`) and nested ones (`user[password]`, `user.password`). `access_token` is
RFC 6750 §2.3's bearer token in a query (a token, usable as is). Not reported: `token`, `code`,
`state` (CSRF tokens, OAuth redirects: no password), flags such as `password_reset=1` or
`show_password=1`, empty values, `pw=` in a path segment or a fragment (only the query counts).
The user is the first user-named field: `user`, `username`, `login`, `email`, … and the sign-on
fields of POS back offices (`operator`, `cashier_id`, `clerk_no`, `staff`, `employee_number`).

Pure functions: bytes in, values out; offsets are into the bytes given, pointing at the still
encoded value (evidence overwrites exactly those bytes). Values are decoded (percent-encoding; `+` is
a space in queries and forms, not in userinfo) only to be measured; callers never store them.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

MAX_FIELDS = 256  # query or form items looked at
MAX_SECRETS = 8  # secrets reported per URL or body
MAX_VALUE = 1024  # encoded bytes of a value: longer is no password (a blob, a document)
MAX_NAME = 64

ABSOLUTE = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]{0,15}://")
AUTHORITY_END = re.compile(rb"[/?#\\]")  # and '\\', which WHATWG URL parsers treat as '/'
PASSWORD_NAME = re.compile(
    rb"(?:j_|user_?|login_?|new_?|old_?|current_?|admin_?|account_?)?"
    rb"(?:password|passwd|passwort|pass|pwd|pw|pswd|passphrase)")
TOKEN_NAME = re.compile(rb"access_token")
USER_NAME = re.compile(rb"(?:j_)?(?:user(?:_?name|_?id)?|login(?:_?name|_?id)?|email|e-mail|uid|usr|account"
                       rb"|(?:operator|cashier|clerk|staff|employee)(?:_?(?:id|no|number|name))?)")  # POS sign-ons
HINT = re.compile(rb"p(?:ass|wd|w|swd)|access_token", re.I)  # in any name PASSWORD_NAME or TOKEN_NAME takes
FORM_TYPE = b"application/x-www-form-urlencoded"


class UrlSecret(NamedTuple):
    """One secret found: where (userinfo, query, form), the user named beside it, the decoded secret
    (to measure, never to keep), cleartext or token, and the encoded value's offset and length."""

    where: str
    user: bytes | None
    secret: bytes
    kind: str
    offset: int
    length: int
    scheme: str | None = None  # userinfo: the URL's scheme (http, ftp, …)


def _decode(raw: bytes, plus: bool) -> bytes:
    return unquote_to_bytes(raw.replace(b"+", b" ") if plus else raw)


def field_name(raw: bytes) -> bytes:
    """A form or query name as compared: decoded, lower case, the innermost of `a[b]` or `a.b`."""
    name = _decode(raw[:MAX_NAME], plus=True).strip().lower()
    parts = [p for p in re.split(rb"[\[\].]", name) if p]
    return parts[-1] if parts else b""


def field_role(name: bytes) -> str:
    """What a field name (as compared: lower case) stands for: cleartext (a password), token, user,
    or '' (nothing of ours). JSON keys, XML names and GraphQL arguments follow the same rules."""
    if TOKEN_NAME.fullmatch(name):
        return "token"
    if PASSWORD_NAME.fullmatch(name):
        return "cleartext"
    return "user" if USER_NAME.fullmatch(name) else ""


def field_secrets(items: bytes, base: int, where: str) -> list[UrlSecret]:
    """Password fields of `name=value&…` (a query or a form body; `;` also separates), offsets
    from `base`. The user is the first user-named field of the same items."""
    if not HINT.search(items) and b"%" not in items:
        return []  # no password word, nothing percent-encoded: the common case, decided in one scan
    user: bytes | None = None
    found: list[tuple[str, bytes, int, int]] = []  # (kind, decoded, offset, length)
    pos = 0
    for n, item in enumerate(re.split(rb"[&;]", items)):
        start, pos = pos, pos + len(item) + 1
        if n >= MAX_FIELDS:
            break
        raw_name, sep, value = item.partition(b"=")
        if not sep or not value or len(value) > MAX_VALUE:
            continue
        name = field_name(raw_name)
        if PASSWORD_NAME.fullmatch(name) or TOKEN_NAME.fullmatch(name):
            decoded = _decode(value, plus=True)
            if decoded.strip() and len(found) < MAX_SECRETS:
                kind = "token" if TOKEN_NAME.fullmatch(name) else "cleartext"
                found.append((kind, decoded, base + start + len(raw_name) + 1, len(value)))
        elif user is None and USER_NAME.fullmatch(name):
            user = _decode(value, plus=True)[:256] or None
    return [UrlSecret(where, user, secret, kind, off, length) for kind, secret, off, length in found]


def target_secrets(target: bytes, base: int = 0) -> list[UrlSecret]:
    """Secrets in a request target: the userinfo of an absolute URL, then the query's password fields."""
    if b"?" not in target and b"@" not in target:
        return []  # neither a query nor userinfo
    out: list[UrlSecret] = []
    target = target.split(b"#", 1)[0]  # a fragment is never the server's (and not a query)
    query_from = 0
    m = None if target[:1] == b"/" else ABSOLUTE.match(target)  # origin form: no userinfo
    if m is not None:
        end = AUTHORITY_END.search(target, m.end())
        authority = target[m.end() : end.start() if end else len(target)]  # RFC 3986 §3.2: up to / ? #
        at = authority.rfind(b"@")  # the userinfo ends at the authority's last '@'
        query_from = m.end() + at + 1
        user, colon, password = authority[: max(at, 0)].partition(b":")
        if at > 0 and colon and password and len(password) <= MAX_VALUE:
            decoded = _decode(password, plus=False)
            if decoded:
                scheme = m.group()[:-3].decode("ascii").lower()
                out.append(UrlSecret("userinfo", _decode(user, plus=False) or None, decoded, "cleartext",
                                     base + m.end() + len(user) + 1, len(password), scheme))
    q = target.find(b"?", query_from)
    if q >= 0:
        out += field_secrets(target[q + 1 :], base + q + 1, "query")
    return out[:MAX_SECRETS]


def request_target(start_line: bytes) -> tuple[bytes, int]:
    """The target of a request line and its offset in the line (b'', 0 if there is none)."""
    sp = start_line.find(b" ")
    if sp < 0:
        return b"", 0
    end = start_line.find(b" ", sp + 1)
    return start_line[sp + 1 : end if end >= 0 else len(start_line)], sp + 1


def is_form(content_type: bytes | None) -> bool:
    """An HTML form post (`application/x-www-form-urlencoded`, parameters after `;` allowed)."""
    return content_type is not None and content_type.split(b";", 1)[0].strip().lower() == FORM_TYPE
