"""JSON and GraphQL documents carried in url-encoded fields: a legacy form posting its login as
`data=%7B%22user%22%3A…%22password%22%3A…%7D` (a JSON document serialized into one field), a
GraphQL query sent as a form field or over GET (`/graphql?query=%7B%20login(…)`). The field is
percent-decoded with a map back to its bytes (`escaped_text`), read as a document by
`body_auth.nested_secrets`, and each secret is located at its percent-encoded bytes. A password-named
field is url_auth's, whatever it holds. Bounded as body_auth: MAX_FIELDS fields, MAX_NESTED_BYTES
decoded.
"""

from __future__ import annotations

import re

from netwatch.protocols.body_auth import MAX_NESTED_BYTES, nested_secrets
from netwatch.protocols.escaped_text import percent_unescaped
from netwatch.protocols.url_auth import HINT, MAX_FIELDS, MAX_SECRETS, UrlSecret, field_name, field_role, field_secrets

FORM_DOCUMENT = re.compile(rb"(?:%7b|%5b|\{|\[|query|mutation)", re.I)  # a value that may hold a document


def form_secrets(body: bytes) -> list[UrlSecret]:
    """An url-encoded form's password fields (url_auth), and those of a JSON or GraphQL document in
    a field (`data=%7B%22password%22%3A…`), located at their percent-encoded bytes."""
    return (field_secrets(body, 0, "form") + field_documents(body, "form"))[:MAX_SECRETS]


def target_documents(target: bytes) -> list[UrlSecret]:
    """A document in a request target's query (`GET /graphql?query=%7B%20login(…)`: GraphQL over
    GET), offsets into the target."""
    q = target.find(b"?")
    if q < 0:
        return []
    return [sec._replace(offset=sec.offset + q + 1)
            for sec in field_documents(target[q + 1 :].split(b"#", 1)[0], "query")]


def field_documents(items: bytes, where: str) -> list[UrlSecret]:
    """The secrets of JSON or GraphQL documents in the fields of `name=value&…` (a password-named
    field is url_auth's, whatever it holds), located at their percent-encoded bytes."""
    if not FORM_DOCUMENT.search(items) or not HINT.search(items):
        return []
    out: list[UrlSecret] = []
    budget, pos = [MAX_NESTED_BYTES], 0
    for n, item in enumerate(re.split(rb"[&;]", items)):
        start, pos = pos, pos + len(item) + 1
        name, sep, value = item.partition(b"=")
        if n >= MAX_FIELDS or len(out) >= MAX_SECRETS:
            break
        if (not sep or len(value) > budget[0] or not FORM_DOCUMENT.match(value) or not HINT.search(value)
                or field_role(field_name(name))):
            continue
        budget[0] -= len(value)
        text = percent_unescaped(value)
        for sec in nested_secrets(text.text, 1, budget):
            s, e = text.raw_span(sec.offset, sec.offset + sec.length)
            base = start + len(name) + 1
            out.append(sec._replace(where=where + "+" + sec.where, offset=base + s, length=e - s))
    return out[:MAX_SECRETS]
