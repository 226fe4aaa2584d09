"""Passwords passed as inline GraphQL arguments: `mutation { login(username: "till7", password: "…")
{ token } }`. POS back offices and e-commerce admin APIs speak GraphQL; a client that writes the
password into the document instead of `variables` sends it as a string literal (also a block string
`\"\"\"…\"\"\"`, or a field of an input object: `login(input: {user: "u", password: "…"})`). The document
comes as the `query` of a JSON body (`protocols.body_auth` reads it there, decoded) or as a whole
`application/graphql` body.

Names follow url_auth's rules (`field_role`: `password`, `newPassword`, `pin` not). The user is a
user-named argument of the same argument list or input object, else of the nearest enclosing one.
Not reported: a variable (`password: $pw`: the value is in `variables`, plain JSON body_auth
reads), a type (`password: String!` in a schema or a variable definition), a default value (`= "…"`,
a schema's), an empty string, an argument without a password name (`resetPassword(email: "…")`).

One pass over the tokens (possessive patterns: no string read twice), a token budget and a depth
cap; offsets are into the text given, at the literal's encoded contents (evidence overwrites them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from netwatch.protocols.escaped_text import json_unescaped
from netwatch.protocols.url_auth import MAX_SECRETS, MAX_VALUE, UrlSecret, field_role

MAX_TOKENS = 50_000  # tokens looked at per document (as body_auth's JSON scanner)
MAX_DEPTH = 128  # nesting of ( { [ followed; deeper, the scan stops
MAX_USER = 256

TOKEN = re.compile(  # block string, string (group 2/4 None: unterminated), comment, name, punctuation
    rb'"""((?:[^"\\]++|\\"""|\\|"(?!""))*+)(""")?'
    rb'|"((?:[^"\\\r\n]++|\\[^\r\n]?)*+)(")?'
    rb"|#[^\r\n]*+|[_A-Za-z][_0-9A-Za-z]*+|[(){}\[\]:$=]")
# where a document starts: an operation, a fragment, or the query shorthand `{ name`
START = re.compile(rb"\s*(?:#[^\r\n]*\s*)*(?:(?:query|mutation|subscription|fragment)\b|\{\s*[_A-Za-z])")


def looks_like_graphql(text: bytes) -> bool:
    """Whether `text` starts as a GraphQL executable document."""
    return START.match(text) is not None


@dataclass
class UserScope:
    """A nesting level being read (a GraphQL argument list or input object, a JSON object): the user
    named in it, which the secrets in it or below take."""

    parent: UserScope | None = field(default=None, repr=False)
    user: bytes | None = None

    def find_user(self) -> bytes | None:
        scope: UserScope | None = self
        for _ in range(MAX_DEPTH + 1):
            if scope is None:
                return None
            if scope.user is not None:
                return scope.user
            scope = scope.parent
        return None


def graphql_secrets(text: bytes) -> list[UrlSecret]:
    """Password-named arguments (and input-object fields) whose value is a string literal."""
    root = UserScope()
    stack: list[UserScope] = []
    found: list[tuple[UserScope, str, bytes, int, int]] = []  # (frame, kind, decoded, offset, length)
    name: bytes | None = None  # the name just read (an argument's if ':' follows)
    arg: bytes | None = None  # the argument whose value comes next
    variable = False  # the name just read follows '$'
    for n, m in enumerate(TOKEN.finditer(text)):
        if n >= MAX_TOKENS:
            break
        tok = m.group()
        c = tok[:1]
        if c == b'"':
            block = m.group(1) is not None
            if m.group(2 if block else 4) is None:
                break  # unterminated: the document was cut
            if arg is not None:
                role = field_role(arg.lower())
                if role:
                    raw, at = (m.group(1), m.start(1)) if block else (m.group(3), m.start(3))
                    _value(stack[-1] if stack else root, role, raw, at, block, found)
            name = arg = None
        elif c == b"#":
            continue
        elif c == b":":
            arg, name = name, None
        elif c == b"$":
            variable, name, arg = True, None, None
        elif c in b"({[":
            if len(stack) >= MAX_DEPTH:
                break
            stack.append(UserScope(parent=stack[-1] if stack else root))
            name = arg = None
        elif c in b")}]":
            if stack:
                stack.pop()
            name = arg = None
        elif c == b"=":
            name = arg = None
        elif variable:  # `$pw`: a variable's name, never an argument's
            variable, name, arg = False, None, None
        else:  # a name: an argument's if ':' follows; after ':', a value (a type, an enum, true…)
            name, arg = (tok if arg is None else None), None
    return [UrlSecret("graphql", frame.find_user(), secret, kind, off, size)
            for frame, kind, secret, off, size in found]


def _value(frame: UserScope, role: str, raw: bytes, offset: int, block: bool,
           found: list[tuple[UserScope, str, bytes, int, int]]) -> None:
    """One `name: "value"` pair whose name has a role: a secret (kept to measure) or a user."""
    if len(raw) > MAX_VALUE:
        return
    decoded = _block_value(raw) if block else json_unescaped(raw).text  # GraphQL escapes are JSON's
    if role != "user":
        if decoded.strip() and len(found) < MAX_SECRETS:
            found.append((frame, role, decoded, offset, len(raw)))
    elif frame.user is None:
        frame.user = decoded.strip()[:MAX_USER] or None


def _block_value(raw: bytes) -> bytes:
    """A block string's value (GraphQL spec, BlockStringValue): `\\\"\"\"` unescaped, the common
    indentation of the lines after the first removed, leading and trailing blank lines dropped."""
    lines = raw.replace(b'\\"""', b'"""').replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    indents = [len(line) - len(line.lstrip(b" \t")) for line in lines[1:] if line.strip(b" \t")]
    cut = min(indents, default=0)
    lines = lines[:1] + [line[cut:] for line in lines[1:]]
    while lines and not lines[0].strip(b" \t"):
        lines.pop(0)
    while lines and not lines[-1].strip(b" \t"):
        lines.pop()
    return b"\n".join(lines)
