"""Logins a store network carries (issue 20): Redis AUTH, MQTT CONNECT, IRC PASS / NickServ IDENTIFY,
SIP Digest and HTTP NTLM (challenge-response: NW-CRED-002), each with the user and the password's
length only; DNP3 and Modbus/TCP recognised as cleartext. Each verdict is compared with tshark's
dissection of the same bundled capture (its user names, password lengths and protocols).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import replay

from netwatch.analyzers.dispatch import Dispatcher
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.events import Credentials, Event, FlowEnd
from netwatch.protocols.app_auth import mqtt_connect, redis_login, resp_commands

ROOT = Path(__file__).resolve().parents[1]
TSHARK = shutil.which("tshark")
SECRETS = [b"Kasse-2024!", b"foobared", b"coldchain1", b"open-sesame", b"letmein42", b"hunter22"]


def _events(name: str) -> list[Event]:
    out: list[Event] = []
    replay(ROOT / "captures" / f"{name}.pcap", Dispatcher(build_classifier(), build_analyzers(), out.append))
    assert not any(s.decode() in repr(e) for e in out for s in SECRETS), "a password reached an event"
    return out


def _logins(name: str) -> set[tuple[str, str | None, str, str, int | None]]:
    return {(e.protocol, e.user, e.method, e.secret, e.password_length) for e in _events(name)
            if isinstance(e, Credentials)}


def _tshark(name: str, *args: str) -> str:
    assert TSHARK is not None
    return subprocess.run([TSHARK, "-r", str(ROOT / "captures" / f"{name}.pcap"), "-n", *args],
                          capture_output=True, text=True, timeout=120, check=True).stdout


def _fields(name: str, display: str, fields: list[str]) -> list[list[str]]:
    out = _tshark(name, "-Y", display, "-T", "fields", "-E", "separator=\t", *sum((["-e", f] for f in fields), []))
    return [line.split("\t") for line in out.splitlines()]


def test_each_login_with_its_user_and_length_only():
    assert _logins("login_redis") == {("redis", "posapp", "AUTH", "cleartext", 11),
                                      ("redis", "default", "AUTH", "cleartext", 8)}
    assert _logins("login_mqtt") == {("mqtt", "sensor", "CONNECT", "cleartext", 10),
                                     ("mqtt", "doors", "CONNECT", "cleartext", 11)}
    assert _logins("login_irc") == {("irc", "posbot", "PASS", "cleartext", 9),
                                    ("irc", "posbot", "NickServ IDENTIFY", "cleartext", 8)}
    assert _logins("login_sip_digest") == {("sip", "1001", "Digest", "digest", None)}
    assert _logins("login_http_ntlm") == {("http", "manager@STORE42", "NTLM", "digest", None)}


def test_industrial_protocols_are_cleartext():
    apps = {(e.app, e.encrypted) for e in _events("ics_dnp3_modbus") if isinstance(e, FlowEnd)}
    assert apps == {("dnp3", False), ("modbus", False)}


def test_grammars_on_their_edges():
    assert redis_login([b"HELLO", b"3", b"AUTH", b"u", b"p", b"SETNAME", b"x"]) == (b"u", b"p")
    assert redis_login([b"GET", b"AUTH"]) is None
    cmds, used = resp_commands(b"*2\r\n$4\r\nAUTH\r\n$3\r\nabc\r\n*2\r\n$4\r\nAUTH\r\n$9\r\nab")
    assert cmds == [[b"AUTH", b"abc"]] and used == 23  # the cut command waits for its next segment
    assert resp_commands(b"AUTH s3cret\r\n")[0] == [[b"AUTH", b"s3cret"]]
    anonymous = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04abcd"
    assert mqtt_connect(anonymous) == (4, None, None)
    assert mqtt_connect(anonymous[:-1]) is None


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
def test_redis_agrees_with_tshark():
    theirs = set()
    for frame in re.split(r"^Frame ", _tshark("login_redis", "-Y", "resp", "-V", "-O", "resp"), flags=re.M)[1:]:
        words = re.findall(r"Bulk String: (.*)", frame)
        if words and words[0].upper() == "AUTH":
            user, pw = (("default", words[1]) if len(words) == 2 else (words[1], words[2]))
            theirs.add(("redis", user, "AUTH", "cleartext", len(pw)))
    assert theirs == _logins("login_redis")


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
def test_mqtt_agrees_with_tshark():
    rows = _fields("login_mqtt", "mqtt.msgtype == 1", ["mqtt.username", "mqtt.passwd_len"])
    assert {("mqtt", u, "CONNECT", "cleartext", int(n)) for u, n in rows} == _logins("login_mqtt")


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
def test_irc_agrees_with_tshark():
    rows = _fields("login_irc", "irc.request", ["irc.request.command", "irc.request.command_parameter",
                                                "irc.request.trailer"])
    theirs, nick = set(), None
    for commands, params, trailer in rows:
        cmds, args = commands.split(","), params.split(",")
        if "NICK" in cmds:  # one parameter each for PASS and NICK, in the order sent
            nick = args[cmds.index("NICK")]
        if "PASS" in cmds:
            theirs.add(("irc", nick, "PASS", "cleartext", len(args[0])))
        if cmds == ["PRIVMSG"] and args == ["NickServ"] and trailer.startswith("IDENTIFY "):
            account, pw = trailer.split()[1:3]
            theirs.add(("irc", account, "NickServ IDENTIFY", "cleartext", len(pw)))
    assert theirs == _logins("login_irc")


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
def test_sip_and_ntlm_agree_with_tshark():
    sip = {("sip", u.strip('"'), "Digest", "digest", None) for (u,) in _fields("login_sip_digest", "sip.auth.username",
                                                                                 ["sip.auth.username"])}
    assert sip == _logins("login_sip_digest")
    ntlm = {("http", f"{u}@{d}", "NTLM", "digest", None)
            for u, d in _fields("login_http_ntlm", "ntlmssp.auth.username", ["ntlmssp.auth.username",
                                                                            "ntlmssp.auth.domain"])}
    assert ntlm == _logins("login_http_ntlm")


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
def test_industrial_protocols_agree_with_tshark():
    stacks = {stack.split(":")[4] for _port, stack in _fields("ics_dnp3_modbus", "dnp3 or mbtcp",
                                                               ["tcp.dstport", "frame.protocols"])}
    mine = {e.app for e in _events("ics_dnp3_modbus") if isinstance(e, FlowEnd)}
    assert {{"dnp3": "dnp3", "mbtcp": "modbus"}[s] for s in stacks} == mine == {"dnp3", "modbus"}


@pytest.mark.parametrize(("data", "port", "app"), [
    (b"OPTIONS sip:pbx.store42.example SIP/2.0\r\nVia: SIP/2.0/TCP 10.20.1.90\r\n\r\n", 5060, "sip"),
    (b"OPTIONS * HTTP/1.1\r\nHost: intranet\r\n\r\n", 80, "http"),
    (b"PASS secret\r\nNICK posbot\r\nUSER posbot 0 * :POS\r\n", 6667, "irc"),
    (b"USER anonymous\r\n", 21, "ftp"),
    (b"*1\r\n$4\r\nPING\r\n", 6379, "redis"),
    (b"\x00\x01\x00\x00\x00\x06\x01\x03\x00\x10\x00\x04", 502, "modbus"),
    (b"\x05\x64\x05\xc4\x0a\x00\x01\x00\x00\x00", 20000, None),  # a DNP3 header with a wrong CRC
])
def test_recognisers_tell_the_new_protocols_from_their_neighbours(data, port, app):
    from netwatch.analyzers.recognise import TCP_RECOGNISERS
    from netwatch.flows.table import Flow

    flow = Flow(b"\x0a\x00\x00\x01", 50000, b"\x0a\x00\x00\x02", port, 6, 0.0)
    verdicts = [v for r in TCP_RECOGNISERS if (v := r(data, flow, 0)) is not None]
    assert (verdicts[0][0] if verdicts else None) == app or (app is None and verdicts[0][0] != "dnp3")
