"""Passwords in HTTP request bodies that are not url-encoded forms: JSON (any depth), multipart/form-data
parts and XML/SOAP (elements and attributes; WS-Security UsernameToken `#PasswordText`). A POS back
office or payment web UI logging in with `{"username":"bob","password":"…"}` over plain HTTP sends
the password as clearly as a form post does (`protocols.url_auth` reads those).

Names: url_auth's rules (`PASSWORD_NAME`, `TOKEN_NAME`, `USER_NAME`, compared in lower case, the
innermost of `a.b` / `a[b]`). Not reported, as there: flags and settings named like a password
(`"password_reset": true`, `"passwordPolicy": {…}`, `"show_password": false`), empty values, a JSON
schema describing a password field (its value is an object), a WS-Security `#PasswordDigest` (a
hash with a nonce, not the password), a password element holding child elements or nothing, a
multipart part that is a file upload. Only string values count: a number or boolean under a password
name is a setting far more often than a login (evidence blanks numbers all the same). Requests
only (the analyzer's choice): a response naming a password (a config, an echo of a form) is no
client logging in over the wire, which is what NW-CRED-001 reports; evidence blanks it all the same.

Why a scanner and not `json.loads`: the finding is located (evidence overwrites exactly the encoded
value), which needs the value's offset in the body; `json` gives none, and it refuses a body cut at
the cap. The scanner never re-reads a string (possessive patterns, a token budget, a depth cap), so
hostile bodies cost one pass. JSON escapes and XML entities are decoded only to match names and to
measure values; callers never store a value. Pure functions, offsets into the body given.

One level down: a JSON string with escaped quotes may hold a document, JSON serialized into it
(`"payload": "{\\"password\\": …}"`) or a GraphQL query with inline arguments (`protocols.graphql_auth`);
it is decoded with a map back to its bytes (`protocols.escaped_text`) and read as a document, two
levels at most and MAX_NESTED_BYTES decoded per body, so a hostile body costs its one pass plus at
most that many bytes read again. An `application/graphql` body (or a sniffed one) is read as GraphQL whole.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

from netwatch.protocols.escaped_text import json_unescaped
from netwatch.protocols.graphql_auth import UserScope, graphql_secrets, looks_like_graphql
from netwatch.protocols.url_auth import (
    HINT,
    MAX_NAME,
    MAX_SECRETS,
    MAX_VALUE,
    PASSWORD_NAME,
    USER_NAME,
    UrlSecret,
    field_role,
    is_form,
)

MAX_TOKENS = 50_000  # JSON structural tokens / XML tags looked at per body
MAX_DEPTH = 128  # JSON nesting followed; deeper, the scan stops
MAX_PARTS = 256  # multipart parts looked at
MAX_KEYS = 4096  # distinct JSON keys whose role is remembered
PAIR_KEYS = (b"name", b"key", b"value")  # a form field as an object: {"name": "password", "value": "…"}
MAX_USER = 256

# a string (group 2 None: unterminated, the body was cut; it runs to the end, so no string is read
# twice) or a structural character
JSON_TOKEN = re.compile(rb'"((?:[^"\\]++|\\.?)*+)(")?|[{}\[\]:,]', re.S)
WORD = re.compile(rb"p(?:ass|wd|w|swd)|access_token|\\u|&#")  # url_auth's HINT, escapes; on lower case
# a key that may be a password name with a string value, or a "name" member naming one: without
# either, no JSON scan
JSON_CANDIDATE = re.compile(rb'"[^"]{0,64}?(?:p(?:ass|wd|w|swd)|access_token|\\u)[^"]{0,64}"\s*:\s*"'
                            rb'|"(?:name|key)"\s*:\s*"[^"]{0,64}?(?:p(?:ass|wd|w|swd)|access_token|\\u)')
PASSWORD_WORDS = (b"pass", b"pw", b"pswd", b"access_token")  # HINT's words, as literals (pwd: pw)
# one level down, after a password word: an escaped key's end (JSON in a JSON string) or a GraphQL
# argument's escaped string value
NESTED_AFTER = re.compile(rb'[^"\s:]{0,64}?\\{1,8}"\s*:|\w{0,64}\s*:\s*\\{1,8}"')
MAX_WORD_HITS = 4096  # password words looked at for a nested document; more: read the body
BOUNDARY = re.compile(rb'boundary[ \t]*=[ \t]*(?:"([^"\r\n]{1,200})"|([^;\s]{1,200}))', re.I)
DISPOSITION = re.compile(rb"^content-disposition:[ \t]*form-data([^\r\n]*)", re.I | re.M)
PARAM_NAME = re.compile(rb';[ \t]*name[ \t]*=[ \t]*(?:"([^"\r\n]*)"|([^;\s]*))', re.I)
PARAM_FILENAME = re.compile(rb";[ \t]*filename\*?[ \t]*=", re.I)
HEAD_END = re.compile(rb"\n\r?\n")
XML_OPEN = re.compile(rb"<(?:([A-Za-z_][\w.-]{0,63}):)?([A-Za-z_][\w.-]{0,63})((?:\s[^<>]{0,4096})?)(/?)>")
XML_ATTR = re.compile(rb"""(?:^|\s)(?:[\w.-]{1,64}:)?([\w.-]{1,64})\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")
CDATA = re.compile(rb"<!\[CDATA\[(.*?)\]\]>", re.S)
SNIFF_TYPES = (b"", b"text/plain", b"application/octet-stream")  # a type that says nothing: look at the body
MAX_NESTING = 2  # strings holding a document read inside a body: a JSON in a JSON string in a JSON
MAX_NESTED_BYTES = 256 * 1024  # encoded bytes of such strings decoded per body


def body_kind(content_type: bytes | None, body: bytes) -> str | None:
    """json, multipart, xml or graphql: what a request body is by its Content-Type; a missing,
    text/plain or octet-stream type is read by the body's start (`{`/`[`: JSON, `<`: XML, an
    operation keyword: GraphQL). Forms: None (url_auth; `form_secrets`)."""
    ctype = (content_type or b"").split(b";", 1)[0].strip().lower()
    if is_form(content_type):
        return None
    if ctype == b"multipart/form-data":
        return "multipart"
    if ctype.endswith(b"json"):  # application/json, text/json, application/vnd.api+json
        return "json"
    if ctype.endswith(b"xml"):  # text/xml, application/xml, application/soap+xml
        return "xml"
    if ctype == b"application/graphql":  # the document as the whole body (GraphQL over HTTP, legacy)
        return "graphql"
    if ctype in SNIFF_TYPES:
        first = body[:64].lstrip()[:1]
        if first == b"<":
            return "xml"
        if looks_like_graphql(body[:256]):
            return "graphql"  # an operation keyword, or the query shorthand `{ login(…) }`: no JSON object
        return "json" if first in (b"{", b"[") else None
    return None


def body_secrets(content_type: bytes | None, body: bytes) -> list[UrlSecret]:
    """The password fields of a request body of any kind `body_kind` names (offsets into `body`)."""
    kind = body_kind(content_type, body)
    if kind is None:
        return []
    lower = body.lower()  # (a case-sensitive search of the lowered body is ~3x faster than re.I)
    if not WORD.search(lower):
        return []  # no password word (not even an escaped one): the common case, decided in one scan
    if kind == "json":
        candidate = JSON_CANDIDATE.search(lower) or nested_candidate(lower, PASSWORD_WORDS)
        return json_secrets(body) if candidate else []
    if kind == "graphql":
        return graphql_secrets(body)
    if kind == "multipart":
        return multipart_secrets(content_type or b"", body)
    return xml_secrets(body)


def nested_candidate(lower: bytes, words: tuple[bytes, ...]) -> bool:
    """Whether a lower-cased body may hold a password one level down: escaped quotes, and one of
    `words` ending an escaped key or naming a GraphQL argument with an escaped string. The words are
    found by `bytes.find` (a body names a password a few times at most): a regex starting with a word
    would be tried at every `p` and `a` of a megabyte."""
    if b'\\"' not in lower:
        return False
    hits = 0
    for word in words:
        at = lower.find(word)
        while at >= 0:
            hits += 1
            if hits > MAX_WORD_HITS or NESTED_AFTER.match(lower, at + len(word)):
                return True
            at = lower.find(word, at + 1)
    return False


def _name(raw: str) -> bytes:
    """A field name as compared: lower case, the innermost of `a[b]` or `a.b` (url_auth's rule)."""
    name = raw[:64].strip().lower().encode("utf-8", "replace")
    parts = [p for p in re.split(rb"[\[\].]", name) if p]
    return parts[-1] if parts else b""


def _json_text(raw: bytes) -> str:
    """A JSON string's contents decoded (escapes undone); undecodable: as Latin-1."""
    if b"\\" not in raw:
        return raw.decode("utf-8", "replace")
    try:
        out = json.loads(b'"' + raw + b'"')
        return out if isinstance(out, str) else ""
    except ValueError:
        return raw.decode("latin-1")


@dataclass
class _Object(UserScope):
    """One JSON object being read (the secrets in it or below take its user)."""

    parent: _Object | None = field(default=None, repr=False)
    pair: str = ""  # the role a "name" key gives it: {"name":"password","value":"…"} (jQuery serializeArray)
    value: tuple[bytes, int] | None = None  # its "value": raw and offset


def json_secrets(body: bytes, depth: int = 0, budget: list[int] | None = None) -> list[UrlSecret]:
    """String values of password-named keys at any depth, and the value of a `{"name": "password",
    "value": …}` object (a form serialized field by field); the user is the user-named key of the same
    object (else of the nearest enclosing one, where a `{"name": "username", …}` object puts it),
    before or after the password. A string holding a JSON or GraphQL document (escaped quotes in it)
    is read too (`nested_secrets`), `depth` levels down already, within `budget` bytes."""
    budget = budget if budget is not None else [MAX_NESTED_BYTES]
    inner: list[tuple[_Object | None, UrlSecret]] = []  # secrets of documents in strings
    root = _Object()  # the body: where a top-level array's name/value user goes
    stack: list[_Object | None] = []  # None: an array
    found: list[tuple[_Object | None, str, bytes, int, int]] = []  # (object, kind, decoded, offset, length)
    last: bytes | None = None  # the last string read: a key if ':' follows
    last_at = 0
    key: bytes | None = None  # the key whose value comes next
    roles: dict[bytes, str] = {}  # raw key → its role: JSON arrays repeat their objects' keys
    for n, m in enumerate(JSON_TOKEN.finditer(body)):
        if n >= MAX_TOKENS:
            break
        c = m.group()[:1]
        if c == b'"':
            if m.group(2) is None:
                break  # unterminated: the body was cut
            if key is None:
                last, last_at = m.group(1), m.start(1)
                continue
            obj = stack[-1] if stack else None
            if obj is not None and key in PAIR_KEYS:
                _pair(obj, key, m.group(1), m.start(1))
            role = roles.get(key)
            if role is None:
                role = field_role(_name(_json_text(key)))
                if len(roles) < MAX_KEYS:
                    roles[key] = role
            if role:
                _json_value(obj, role, m.group(1), m.start(1), found)
            elif depth < MAX_NESTING and b'\\"' in m.group(1):
                _enclosed(m.group(1), m.start(1), _holder(stack, root), depth, budget, inner)
            key = last = None
        elif c == b":":
            key, last = last, None
        elif c in b"{[":
            if len(stack) >= MAX_DEPTH:
                break
            parent = next((o for o in reversed(stack) if o is not None), root)
            stack.append(_Object(parent=parent) if c == b"{" else None)
            key = last = None
        else:  # '}', ']', ','
            if last is not None and depth < MAX_NESTING and b'\\"' in last:  # an array's string
                _enclosed(last, last_at, _holder(stack, root), depth, budget, inner)
            if c != b"," and stack:
                done = stack.pop()
                if done is not None and done.pair and done.value is not None:
                    _json_value(done.parent if done.pair == "user" else done, done.pair, *done.value, found)
            key = last = None
    out = [UrlSecret("json", obj.find_user() if obj else None, secret, kind, off, size)
           for obj, kind, secret, off, size in found]
    out += [sec._replace(user=sec.user or holder.find_user()) if holder else sec for holder, sec in inner]
    return out[:MAX_SECRETS]


def _holder(stack: list[_Object | None], root: _Object) -> _Object:
    """The innermost object being read (a string in an array belongs to the object around it)."""
    return next((o for o in reversed(stack) if o is not None), root)


def _enclosed(raw: bytes, offset: int, holder: _Object, depth: int, budget: list[int],
              inner: list[tuple[_Object | None, UrlSecret]]) -> None:
    """A JSON string's contents that may be a document (`{\\"password\\": …}`, `mutation { login(…) }`):
    its secrets, located at their encoded bytes in the body; the user, if the document names none,
    is the enclosing object's."""
    if len(raw) > budget[0] or not HINT.search(raw):
        return
    budget[0] -= len(raw)
    text = json_unescaped(raw)
    for sec in nested_secrets(text.text, depth + 1, budget):
        start, end = text.raw_span(sec.offset, sec.offset + sec.length)
        if len(inner) < MAX_SECRETS:
            inner.append((holder, sec._replace(where="json+" + sec.where, offset=offset + start, length=end - start)))


def nested_secrets(text: bytes, depth: int, budget: list[int]) -> list[UrlSecret]:
    """A decoded string that is itself a JSON document (an object or array) or a GraphQL document."""
    head = text[:64].lstrip()
    if head[:1] == b"[" or (head[:1] == b"{" and head[1:].lstrip()[:1] in (b'"', b"}")):
        return json_secrets(text, depth, budget)
    return graphql_secrets(text) if looks_like_graphql(text[:256]) else []


def _pair(obj: _Object, key: bytes, raw: bytes, offset: int) -> None:
    """A "name" (or "key") or "value" member of an object that may be one form field."""
    if key == b"value":
        obj.value = (raw, offset)
    elif len(raw) <= MAX_NAME:
        obj.pair = field_role(_name(_json_text(raw)))


def _json_value(obj: _Object | None, role: str, raw: bytes, offset: int,
                found: list[tuple[_Object | None, str, bytes, int, int]]) -> None:
    """One `"key": "value"` pair whose key has a role: a secret (kept to measure) or a user."""
    if len(raw) > MAX_VALUE:
        return
    if role != "user":
        decoded = _json_text(raw).encode("utf-8", "surrogatepass")
        if decoded.strip() and len(found) < MAX_SECRETS:
            found.append((obj, role, decoded, offset, len(raw)))
    elif obj is not None and obj.user is None:
        obj.user = _json_text(raw).encode("utf-8", "surrogatepass")[:MAX_USER] or None


def multipart_secrets(content_type: bytes, body: bytes) -> list[UrlSecret]:
    """Password-named parts of a multipart/form-data body (file parts left out); the user is the
    first user-named part. The boundary is the Content-Type's, else the body's first `--` line. A
    part holding a JSON or GraphQL document (GraphQL multipart requests' `operations`) is read too."""
    m = BOUNDARY.search(content_type)
    if m is not None:
        delim = b"--" + (m.group(1) if m.group(1) is not None else m.group(2))
    elif body.startswith(b"--"):
        delim = body.split(b"\n", 1)[0].rstrip(b"\r \t")
    else:
        return []
    user: bytes | None = None
    found: list[tuple[bytes, int, int]] = []
    documents: list[UrlSecret] = []
    budget = [MAX_NESTED_BYTES]
    pos = body.find(delim)
    for _ in range(MAX_PARTS):
        if pos < 0 or body[pos + len(delim) : pos + len(delim) + 2] == b"--":
            break
        eol = body.find(b"\n", pos + len(delim))
        end_head = HEAD_END.search(body, eol) if eol >= 0 else None
        if end_head is None:
            break
        nxt = body.find(b"\n" + delim, end_head.end())
        value_end = len(body) if nxt < 0 else nxt - (body[nxt - 1 : nxt] == b"\r")
        pos = nxt + 1 if nxt >= 0 else -1
        disp = DISPOSITION.search(body, eol + 1, end_head.start() + 1)
        if disp is None or PARAM_FILENAME.search(disp.group(1)):
            continue
        pm = PARAM_NAME.search(disp.group(1))
        if pm is None:
            continue
        name = _name((pm.group(1) if pm.group(1) is not None else pm.group(2)).decode("utf-8", "replace"))
        value = body[end_head.end() : value_end]
        role = field_role(name)
        if not role and len(value) <= budget[0] and HINT.search(value):
            budget[0] -= len(value)
            documents += [sec._replace(where="multipart+" + sec.where, offset=end_head.end() + sec.offset)
                          for sec in nested_secrets(value, 1, budget)]
        if len(value) > MAX_VALUE:
            continue
        if role in ("cleartext", "token"):
            if value.strip() and len(found) < MAX_SECRETS:
                found.append((value, end_head.end(), len(value)))
        elif user is None and role == "user":
            user = value[:MAX_USER] or None
    out = [UrlSecret("multipart", user, v, "cleartext", off, n) for v, off, n in found]
    return (out + [sec._replace(user=sec.user or user) for sec in documents])[:MAX_SECRETS]


def xml_secrets(body: bytes) -> list[UrlSecret]:
    """Text of password-named leaf elements (CDATA too) and values of password-named attributes;
    WS-Security `wsse:Password` counts unless its Type is `#PasswordDigest`. The user is the first
    user-named leaf element or attribute (`wsse:Username`)."""
    user: bytes | None = None
    found: list[tuple[str, bytes, int, int]] = []  # (where, decoded, offset, length)
    for n, m in enumerate(XML_OPEN.finditer(body)):
        if n >= MAX_TOKENS or len(found) >= MAX_SECRETS:
            break
        prefix, local, attrs, empty = m.groups()
        if attrs and (HINT.search(attrs) or user is None):
            for a in XML_ATTR.finditer(attrs):
                raw = a.group(2) if a.group(2) is not None else a.group(3)
                user = _xml_field(_name(a.group(1).decode("ascii", "replace")), raw,
                                  m.start(3) + a.start(2 if a.group(2) is not None else 3), "xml", user, found)
        if empty:
            continue
        name = _name(local.decode("ascii", "replace"))
        if not (PASSWORD_NAME.fullmatch(name) or (user is None and USER_NAME.fullmatch(name))):
            continue
        text_at, text_end = m.end(), body.find(b"<", m.end(), m.end() + MAX_VALUE + 64)
        cdata = CDATA.match(body, m.end())
        if cdata is not None:
            text_at, text_end = cdata.start(1), cdata.end(1)
            close = cdata.end()
        else:
            close = text_end
        qname = (prefix + b":" if prefix else b"") + local
        if text_end < 0 or not body.startswith(b"</" + qname, close):
            continue  # child elements, or the body was cut: no leaf value
        raw = body[text_at:text_end]
        lead = len(raw) - len(raw.lstrip())
        raw = raw.strip()
        if b"passworddigest" in attrs.lower():
            continue  # WS-Security digest: SHA-1 of nonce, time and password, not the password
        where = "ws-security" if name == b"password" and (b"passwordtext" in attrs.lower() or
                                                        body.rfind(b"UsernameToken", 0, m.start()) >= 0) else "xml"
        user = _xml_field(name, raw, text_at + lead, where, user, found, cdata is None)
    return [UrlSecret(where, user, secret, "cleartext", off, n) for where, secret, off, n in found]


def _xml_field(name: bytes, raw: bytes, offset: int, where: str, user: bytes | None,
               found: list[tuple[str, bytes, int, int]], entities: bool = True) -> bytes | None:
    """One named XML value: a secret is added to `found`; returns the user (the first one named)."""
    if len(raw) > MAX_VALUE:
        return user
    text = raw.decode("utf-8", "replace")
    decoded = (html.unescape(text) if entities and b"&" in raw else text).encode("utf-8")
    if PASSWORD_NAME.fullmatch(name):
        if decoded.strip() and len(found) < MAX_SECRETS:
            found.append((where, decoded, offset, len(raw)))
    elif user is None and USER_NAME.fullmatch(name):
        return decoded.strip()[:MAX_USER] or None
    return user
