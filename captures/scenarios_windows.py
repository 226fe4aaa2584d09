"""Scenarios for Windows on a store network (issue 20): who really speaks SMBv1, SMB 3.x encryption, the
Windows version NTLMSSP shows in SMB2 session setup, LDAP SASL binds and DCE/RPC binds.

Shaped like what Windows sends: a Windows 10/11 or 7 client opens with a multi-protocol SMB1
NEGOTIATE ("NT LM 0.12", "SMB 2.002", "SMB 2.???"); a current server answers in SMB2 with the
wildcard dialect 0x02FF and the client negotiates again in SMB2; NTLM inside SPNEGO in
SESSION_SETUP. Built with scapy's SMB/SMB2/NTLM layers. No card numbers in these captures.
"""

from __future__ import annotations

import struct

from scapy.layers.gssapi import GSSAPI_BLOB
from scapy.layers.netbios import NBTSession
from scapy.layers.smb import SMB_Dialect, SMB_Header, SMBNegotiate_Request, SMBNegotiate_Response_Extended_Security
from scapy.layers.smb2 import (
    SMB2_Create_Request,
    SMB2_Header,
    SMB2_Negotiate_Protocol_Request,
    SMB2_Negotiate_Protocol_Response,
    SMB2_Read_Request,
    SMB2_Read_Response,
    SMB2_Session_Setup_Request,
    SMB2_Session_Setup_Response,
    SMB2_Transform_Header,
    SMB2_Tree_Connect_Request,
    SMB2_Tree_Connect_Response,
)
from scenario_lib import Clock, TcpConversation
from scenarios_outdated import FILETIME, _ntlm_exchange, _spnego_init, _spnego_resp

POS_WIN11 = "10.20.1.40"
POS_WIN7 = "10.20.1.41"
BACKOFFICE_PC = "10.20.1.42"
FILESRV = "10.20.0.10"
OLD_NAS = "10.20.0.11"
CARD_NUMBERS: list[str] = []
MULTI_PROTOCOL = ["NT LM 0.12", "SMB 2.002", "SMB 2.???"]  # what Windows Vista … 11 offer in SMB1
SMB2_STATUS_MORE = 0xC0000016  # STATUS_MORE_PROCESSING_REQUIRED


def _nbt(payload: bytes) -> bytes:
    return bytes(NBTSession() / payload)


def _smb1_offer(c: TcpConversation, dialects: list[str]) -> None:
    c.send(0, _nbt(SMB_Header(Flags=0x18, Flags2=0xC853) / SMBNegotiate_Request(
        Dialects=[SMB_Dialect(DialectString=d) for d in dialects])))


def _smb2(command: int, mid: int, session: int = 0, response: bool = False, status: int = 0, tree: int = 0) -> bytes:
    return bytes(SMB2_Header(Command=command, MID=mid, SessionId=session, Flags=1 if response else 0, Status=status,
                             TID=tree))


def _negotiate_smb2(c: TcpConversation, dialects: list[int], chosen: int) -> None:
    """The SMB2 answer to the SMB1 offer (wildcard 0x02FF), then the SMB2 NEGOTIATE and its answer."""
    c.send(1, _nbt(SMB2_Header(Command=0, Flags=1) / SMB2_Negotiate_Protocol_Response(
        DialectRevision=0x02FF, GUID=b"\x55" * 16, ServerTime=FILETIME, ServerStartTime=FILETIME)))
    c.send(0, _nbt(SMB2_Header(Command=0, MID=1) / SMB2_Negotiate_Protocol_Request(
        Dialects=dialects, ClientGUID=b"\x44" * 16)))
    c.send(1, _nbt(SMB2_Header(Command=0, MID=1, Flags=1) / SMB2_Negotiate_Protocol_Response(
        DialectRevision=chosen, GUID=b"\x55" * 16, ServerTime=FILETIME, ServerStartTime=FILETIME)))


def _session_setup(c: TcpConversation, client: tuple[int, int, int], server: tuple[int, int, int]) -> int:
    """NTLM in SPNEGO over two SESSION_SETUP rounds; returns the session id."""
    sid = 0x0000_4000_0000_0041
    neg, chal, auth = _ntlm_exchange(client, server)
    c.send(0, _nbt(SMB2_Header(Command=1, MID=2) / SMB2_Session_Setup_Request(
        SecurityBlob=GSSAPI_BLOB(_spnego_init(neg)))))
    c.send(1, _nbt(SMB2_Header(Command=1, MID=2, Flags=1, Status=SMB2_STATUS_MORE, SessionId=sid) /
                   SMB2_Session_Setup_Response(Buffer=[("Security", GSSAPI_BLOB(_spnego_resp(chal)))])))
    c.send(0, _nbt(SMB2_Header(Command=1, MID=3, SessionId=sid) / SMB2_Session_Setup_Request(
        SecurityBlob=GSSAPI_BLOB(_spnego_resp(auth, 0)))))
    c.send(1, _nbt(SMB2_Header(Command=1, MID=3, Flags=1, SessionId=sid) / SMB2_Session_Setup_Response()))
    return sid


def _read_prices(c: TcpConversation, sid: int) -> None:
    """TREE_CONNECT to the share, CREATE of a file and its READ, in clear."""
    c.send(0, _nbt(SMB2_Header(Command=3, MID=4, SessionId=sid) / SMB2_Tree_Connect_Request(
        Buffer=[("Path", "\\\\filesrv\\pos")])))
    c.send(1, _nbt(SMB2_Header(Command=3, MID=4, Flags=1, SessionId=sid, TID=5) /
                   SMB2_Tree_Connect_Response(ShareType=1)))
    c.send(0, _nbt(SMB2_Header(Command=5, MID=5, SessionId=sid, TID=5) / SMB2_Create_Request(
        Buffer=[("Name", "prices.csv")])))
    c.send(0, _nbt(SMB2_Header(Command=8, MID=6, SessionId=sid, TID=5) / SMB2_Read_Request(Length=4096)))
    c.send(1, _nbt(SMB2_Header(Command=8, MID=6, Flags=1, SessionId=sid, TID=5) / SMB2_Read_Response(
        Buffer=[("Data", b"sku;price\r\n4006381333931;2.49\r\n5000112637922;1.19\r\n")])))


def _sealed(c: TcpConversation, d: int, sid: int, n: int, seed: int) -> None:
    """One SMB 3.x encrypted message: transform header (0xFD 'SMB') and AES-GCM-looking ciphertext."""
    body = bytes((i * 131 + seed * 17 + (i >> 3)) & 0xFF for i in range(n))
    c.send(d, _nbt(SMB2_Transform_Header(Signature=bytes(range(seed, seed + 16)), Nonce=bytes(16 - seed % 8) + bytes(
        seed % 8), OriginalMessageSize=n, Flags=1, SessionId=sid) / body))


def smb_win11_offer() -> list:
    """A Windows 11 POS PC reads the price list from the store file server: it offers SMB1 alongside SMB2 in
    its first NEGOTIATE, the server answers in SMB2 and settles on 3.1.1; the file moves signed but in clear."""
    c = TcpConversation(POS_WIN11, FILESRV, 49720, 445, Clock())
    _smb1_offer(c, MULTI_PROTOCOL)
    _negotiate_smb2(c, [0x0202, 0x0210, 0x0300, 0x0302, 0x0311], 0x0311)
    sid = _session_setup(c, (10, 0, 22631), (10, 0, 20348))
    _read_prices(c, sid)
    c.close()
    return c.packets


def smb3_encrypted() -> list:
    """The same Windows 11 PC to a share that requires encryption: after SESSION_SETUP every message is
    wrapped in an SMB 3.x transform header."""
    c = TcpConversation(POS_WIN11, FILESRV, 49721, 445, Clock())
    _smb1_offer(c, MULTI_PROTOCOL)
    _negotiate_smb2(c, [0x0202, 0x0210, 0x0300, 0x0302, 0x0311], 0x0311)
    sid = _session_setup(c, (10, 0, 22631), (10, 0, 20348))
    for i, (d, n) in enumerate([(0, 92), (1, 80), (0, 140), (1, 152), (0, 60), (1, 1200)]):
        _sealed(c, d, sid, n, i + 1)
    c.close()
    return c.packets


def smb1_nas() -> list:
    """A back-office PC maps a drive on an old NAS that only speaks SMB1: the NAS answers the same offer in
    SMB1, choosing NT LM 0.12. SMBv1 is really in use."""
    c = TcpConversation(BACKOFFICE_PC, OLD_NAS, 49722, 445, Clock())
    _smb1_offer(c, MULTI_PROTOCOL)
    c.send(1, _nbt(SMB_Header(Flags=0x98, Flags2=0xC853) / SMBNegotiate_Response_Extended_Security(
        DialectIndex=0, GUID=b"\x66" * 16, ServerTime=FILETIME)))
    c.close()
    return c.packets


def smb2_win7_ntlm() -> list:
    """A POSReady 7 PC (NT 6.1.7601, Windows 7 SP1) logs on to the file server over SMB 2.1 with NTLM: its
    version is in the NTLMSSP NEGOTIATE and AUTHENTICATE inside SMB2 SESSION_SETUP."""
    c = TcpConversation(POS_WIN7, FILESRV, 49723, 445, Clock())
    _smb1_offer(c, ["NT LM 0.12", "SMB 2.002", "SMB 2.???"])
    _negotiate_smb2(c, [0x0202, 0x0210], 0x0210)
    sid = _session_setup(c, (6, 1, 7601), (10, 0, 20348))
    _read_prices(c, sid)
    c.close()
    return c.packets


SCENARIOS = {
    "smb_win11_offer": smb_win11_offer,
    "smb3_encrypted": smb3_encrypted,
    "smb1_nas": smb1_nas,
    "smb2_win7_ntlm": smb2_win7_ntlm,
}


# -- NTLMSSP in LDAP and DCE/RPC binds ------------------------------------------------------------
DC = "10.20.0.2"
EPM = bytes.fromhex("0883afe11f5dc91191a408002b14a0fa") + struct.pack("<HH", 3, 0)  # endpoint mapper v3.0
NDR = bytes.fromhex("045d888aeb1cc9119fe808002b104860") + struct.pack("<I", 2)


def _ber(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = bytes([n]) if n < 128 else bytes([0x81, n]) if n < 256 else b"\x82" + n.to_bytes(2, "big")
    return bytes([tag]) + length + body


def _ldap_sasl_bind(msg_id: int, token: bytes) -> bytes:
    sasl = _ber(0xA3, _ber(0x04, b"GSS-SPNEGO") + _ber(0x04, token))
    return _ber(0x30, _ber(0x02, bytes([msg_id])) + _ber(0x60, b"\x02\x01\x03" + _ber(0x04, b"") + sasl))


def _ldap_bind_response(msg_id: int, code: int, token: bytes) -> bytes:
    body = _ber(0x0A, bytes([code])) + _ber(0x04, b"") + _ber(0x04, b"") + _ber(0x87, token)
    return _ber(0x30, _ber(0x02, bytes([msg_id])) + _ber(0x61, body))


def _rpc(ptype: int, call_id: int, body: bytes, auth: bytes) -> bytes:
    """A DCE/RPC connection-oriented PDU with an NTLMSSP auth verifier (auth type 10, level connect)."""
    pad = -len(body) % 4
    trailer = bytes([10, 2, pad, 0]) + struct.pack("<I", 0)
    rest = body + bytes(pad) + trailer + auth
    head = bytes([5, 0, ptype, 3]) + b"\x10\x00\x00\x00"  # version 5.0, first+last fragment, little-endian
    return head + struct.pack("<HHI", 16 + len(rest), len(auth), call_id) + rest


def ldap_dcerpc_ntlm() -> list:
    """A POSReady 7 PC (NT 6.1.7601) binds to the domain controller's LDAP with GSS-SPNEGO/NTLM and to its
    RPC endpoint mapper with NTLM: both binds carry the client's and the DC's (NT 6.3.9600) versions."""
    clock = Clock()
    neg, chal, auth = _ntlm_exchange((6, 1, 7601), (6, 3, 9600))
    ldap = TcpConversation(POS_WIN7, DC, 49740, 389, clock)
    ldap.send(0, _ldap_sasl_bind(1, _spnego_init(neg)))
    ldap.send(1, _ldap_bind_response(1, 14, _spnego_resp(chal)))  # saslBindInProgress
    ldap.send(0, _ldap_sasl_bind(2, _spnego_resp(auth, 0)))
    ldap.send(1, _ldap_bind_response(2, 0, b""))
    ldap.close()
    rpc = TcpConversation(POS_WIN7, DC, 49741, 135, clock)
    bind = struct.pack("<HHI", 5840, 5840, 0) + b"\x01\x00\x00\x00" + struct.pack("<HBB", 0, 1, 0) + EPM + NDR
    rpc.send(0, _rpc(11, 1, bind, neg))
    ack = (struct.pack("<HHI", 5840, 5840, 0x1234) + struct.pack("<H", 4) + b"135\x00" + b"\x00\x00"
           + b"\x01\x00\x00\x00" + struct.pack("<HH", 0, 0) + NDR)
    rpc.send(1, _rpc(12, 1, ack, chal))
    rpc.send(0, _rpc(16, 1, b"\x00\x00\x00\x00", auth))
    rpc.close()
    return ldap.packets + rpc.packets


SCENARIOS["windows_ldap_dcerpc_ntlm"] = ldap_dcerpc_ntlm
