"""Logins one level down in HTTP request bodies: GraphQL with the password as an inline argument (in
the JSON body's `query` string, quotes JSON-escaped; as a block string; as an input object's field;
gzip-coded; chunked with the value cut over the chunks; a whole `application/graphql` body; a GET
request's query), GraphQL
`variables` (plain JSON, found before this module), JSON serialized into a JSON string (two levels
too, and with a `\\u` escape inside), and JSON in a url-encoded form field. Then the look-alikes
that must stay silent: a password-reset mutation naming only an e-mail, a variable reference with no
variables sent, a schema and an introspection query mentioning `password: String!`, an empty
password argument, a JSON string holding a password flag, prose quoting the word, a form field's
JSON holding a password policy.

Every password is listed in PASSWORDS, decoded (tests/test_nested_logins.py and the evidence tests
look for them in every output and evidence capture); WIRE lists the forms sent that differ from the
decoded one (escapes one or two levels deep). Fixed timestamps: reruns are byte-identical.
"""

from __future__ import annotations

import gzip
import json
from urllib.parse import urlencode

from scenario_lib import Clock
from scenarios_body_logins import _exchange, _post, _request

POS, BACKOFFICE, SHOPADMIN = "10.20.1.15", "10.20.9.7", "198.51.100.93"
PASSWORD = {
    "graphql-inline": "Gql1-inline-pw",
    "graphql-variables": "Gql2-variables-pw",
    "graphql-block": "Gql3-block-pw",
    "graphql-input": "Gql4-input-pw",
    "graphql-body": 'Gql5-raw"body-pw',  # sent as Gql5-raw\"body-pw (a GraphQL escape)
    "graphql-gzip": "Gql6-gzip-pw",
    "graphql-chunked": "Gql7-chunk-cut-pw",
    "json-in-json": "Nest8-string-pw",
    "json-in-json-in-json": "Nest9-twice-pw",
    "json-in-json-escaped": "Nest10-caf\u00e9-pw",  # sent as Nest10-caf\\u00e9-pw inside the string
    "json-in-form": "Form11-json+pw",  # sent percent-encoded: Form11-json%2Bpw
    "graphql-get": "Get12-query-pw",  # GraphQL over GET: in the request target's query
}
PASSWORDS = list(PASSWORD.values())
CARD_NUMBERS: list[str] = []
WIRE = {"graphql-body": 'Gql5-raw\\"body-pw', "json-in-json-escaped": "Nest10-caf\\\\u00e9-pw",
        "json-in-form": "Form11-json%2Bpw"}
# what each must be reported as: (method, user, secret kind, decoded length in UTF-8 bytes)
EXPECTED = [
    ("GraphQL argument", "till7", "cleartext", len(PASSWORD["graphql-inline"])),
    ("JSON body", "till8", "cleartext", len(PASSWORD["graphql-variables"])),
    ("GraphQL argument", "till9", "cleartext", len(PASSWORD["graphql-block"])),
    ("GraphQL argument", "mgr1", "cleartext", len(PASSWORD["graphql-input"])),
    ("GraphQL argument", "mgr2", "cleartext", len(PASSWORD["graphql-body"])),
    ("GraphQL argument", "mgr3", "cleartext", len(PASSWORD["graphql-gzip"])),
    ("GraphQL argument", "mgr4", "cleartext", len(PASSWORD["graphql-chunked"])),
    ("nested JSON body", "pos-u1", "cleartext", len(PASSWORD["json-in-json"])),
    ("nested JSON body", "pos-u2", "cleartext", len(PASSWORD["json-in-json-in-json"])),
    ("nested JSON body", "pos-u3", "cleartext", len(PASSWORD["json-in-json-escaped"].encode())),
    ("nested JSON body", "pos-u4@store.example", "cleartext", len(PASSWORD["json-in-form"])),
    ("GraphQL argument", "till10", "cleartext", len(PASSWORD["graphql-get"])),
]
GRAPHQL = "/graphql"


def _query(document: str, **extra: object) -> bytes:
    """A GraphQL-over-HTTP POST body (what Apollo and urql clients send)."""
    return json.dumps({"operationName": "Login", "query": document, **extra}).encode()


def _with(document: str, password: str) -> str:
    """A GraphQL document with the password written in as a literal (GraphQL braces make %/{} templates awkward)."""
    return document.replace("@PW@", password)


def login_nested_secrets() -> list:
    clk, p = Clock(), PASSWORD
    inline = _query(_with('mutation Login { login(username: "till7", password: "@PW@") { token expires } }',
                          p["graphql-inline"]))
    variables = _query("mutation Login($username: String!, $password: String!) {\n  login(username: $username, "
                       "password: $password) { token }\n}", variables={"username": "till8",
                                                                      "password": p["graphql-variables"]})
    block = _query(_with('mutation Login {\n  login(username: "till9", password: """@PW@""") { token }\n}',
                         p["graphql-block"]))
    out = _exchange(clk, BACKOFFICE, 4000, 55000, *(_post(GRAPHQL, "application/json", b)
                                                    for b in (inline, variables, block)))
    input_object = _query(_with('mutation Login { staffLogin(input: {clerkId: "mgr1", credentials: {newPassword: '
                                '"@PW@"}, store: 42}) { session { id } } }', p["graphql-input"]))
    out += _exchange(clk, SHOPADMIN, 80, 55001, _post("/admin/api/graphql.json", "application/json", input_object))
    raw = _with('mutation {\n  login(operator: "mgr2", password: "@PW@") {\n    token\n  }\n}\n',
                WIRE["graphql-body"]).encode()
    out += _exchange(clk, SHOPADMIN, 80, 55002, _post("/admin/api/graphql", "application/graphql", raw))
    packed = gzip.compress(_query(_with('mutation { login(username: "mgr3", password: "@PW@") { token } }',
                                        p["graphql-gzip"])), mtime=0)
    out += _exchange(clk, BACKOFFICE, 4000, 55003, _post(GRAPHQL, "application/json", packed,
                                                         "Content-Encoding: gzip\r\n"))
    body = _query(_with('mutation { login(username: "mgr4", password: "@PW@") { token } }', p["graphql-chunked"]))
    cut = body.index(b"cut")
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in (body[:cut], body[cut:])) + b"0\r\n\r\n"
    out += _exchange(clk, BACKOFFICE, 4000, 55004, _post(GRAPHQL, "application/json", chunked,
                                                         "Transfer-Encoding: chunked\r\n"))
    once = json.dumps({"type": "login", "payload": json.dumps({"user": "pos-u1", "password": p["json-in-json"]})})
    twice = json.dumps({"envelope": json.dumps({"app": "till", "data": json.dumps(
        {"operator": "pos-u2", "pwd": p["json-in-json-in-json"]})})})
    escaped = json.dumps({"user": "pos-u3", "payload": json.dumps({"passwd": p["json-in-json-escaped"]})})
    out += _exchange(clk, BACKOFFICE, 8080, 55005, *(_post("/api/v1/events", "application/json", b.encode())
                                                     for b in (once, twice, escaped)))
    form = urlencode({"client": "pos-7", "data": json.dumps({"email": "pos-u4@store.example",
                                                            "password": p["json-in-form"]})}).encode()
    out += _exchange(clk, BACKOFFICE, 8080, 55006, _post("/legacy/login.do", "application/x-www-form-urlencoded",
                                                         form))
    get = urlencode({"operationName": "Login", "query": _with('query Login { login(username: "till10", password: '
                                                               '"@PW@") { token } }', p["graphql-get"])})
    out += _exchange(clk, BACKOFFICE, 4000, 55007, _request(f"GET {GRAPHQL}?{get} HTTP/1.1\n"
                                                           "Host: backoffice.store.example"))
    return out


def login_nested_lookalikes() -> list:
    """Documents one level down that name a password and hold none (each must stay silent)."""
    clk = Clock()
    reset = _query('mutation { resetPassword(email: "kim@store.example") { ok } }')
    reference = _query("mutation Login($u: String!, $secret: String!) { login(username: $u, password: $secret) "
                       "{ token } }")  # a persisted-query registration: the document alone, no variables
    introspection = _query('query { __type(name: "LoginInput") { inputFields { name type { name } } } }')
    empty = _query('mutation { login(username: "lou", password: "") { token } }')
    sdl = (b'"""Sign-on of a till operator"""\ntype Mutation {\n  login(username: String!, password: String!,'
           b' pin: String = "0000"): Session\n  changePassword(old: String!, new: String!): Boolean\n}\n'
           b'input LoginInput {\n  "the operator\'s password"\n  password: String!\n}\n')
    flag = json.dumps({"payload": json.dumps({"user": "max", "password_reset": True, "passwordPolicy": {"min": 12}})})
    prose = json.dumps({"note": 'the operator typed "password: \\"123\\"" into the name field',
                        "text": "say \"password\" to reset"})
    policy = urlencode({"data": json.dumps({"passwordPolicy": {"minLength": 12}, "user": "ned"})}).encode()
    reqs = [_post(GRAPHQL, "application/json", b) for b in (reset, reference, introspection, empty)]
    reqs += [_post("/schema", "application/graphql", sdl), _post("/api/v1/events", "application/json", flag.encode()),
             _post("/api/v1/notes", "application/json", prose.encode()),
             _post("/legacy/policy.do", "application/x-www-form-urlencoded", policy)]
    out = []
    for i, req in enumerate(reqs):
        out += _exchange(clk, BACKOFFICE, 4000, 55200 + i, req)
    return out


SCENARIOS = {"login_nested_secrets": login_nested_secrets, "login_nested_lookalikes": login_nested_lookalikes}
