"""Scenarios for outdated systems and software seen on the wire (issue 14).

The store: POS hosts 10.20.1.0/24, back office 10.20.0.0/24, acquirer on the internet. SMB and
NTLMSSP messages are built with scapy's own SMB/SPNEGO/NTLM layers, TLS hellos with the helpers
of scenarios_protect. Each scenario is small and deterministic (fixed timestamps).
"""

from __future__ import annotations

import struct

from scapy.layers.gssapi import GSSAPI_BLOB
from scapy.layers.netbios import NBTSession
from scapy.layers.ntlm import AV_PAIR, NTLM_AUTHENTICATE_V2, NTLM_CHALLENGE, NTLM_NEGOTIATE, NTLMv2_RESPONSE
from scapy.layers.smb import (
    SMB_Dialect,
    SMB_Header,
    SMBNegotiate_Request,
    SMBNegotiate_Response_Extended_Security,
    SMBSession_Setup_AndX_Request_Extended_Security,
    SMBSession_Setup_AndX_Response_Extended_Security,
)
from scapy.layers.smb2 import (
    SMB2_Header,
    SMB2_Negotiate_Protocol_Request,
    SMB2_Negotiate_Protocol_Response,
    SMB2_Session_Setup_Request,
    SMB2_Session_Setup_Response,
)
from scapy.layers.spnego import (
    SPNEGO_MechType,
    SPNEGO_negToken,
    SPNEGO_negTokenInit,
    SPNEGO_negTokenResp,
    SPNEGO_Token,
)
from scenario_lib import Clock, TcpConversation, udp
from scenarios_protect import CCS, app_data, client_hello, record, server_hello

POS_XP = "10.20.1.21"
POS_WIN7 = "10.20.1.22"
KIOSK = "10.20.1.23"
POS_NEW = "10.20.1.30"
FILESRV = "10.20.0.10"
BACKOFFICE = "10.20.0.12"
ADMIN = "10.20.0.5"
FTPSRV = "10.20.9.31"
ACQUIRER = "203.0.113.10"
SSDP_GROUP = "239.255.255.250"
TEST_PAN = "4111111111111111"  # the Visa test number; scans must only ever show it masked
CARD_NUMBERS = [TEST_PAN]
NTLM_OID = "1.3.6.1.4.1.311.2.2.10"
FILETIME = 133_444_736_000_000_000  # 2023-11-14 22:13:20 UTC (the captures' T0) in 100 ns since 1601
FLAGS = "NEGOTIATE_VERSION+NEGOTIATE_UNICODE+NEGOTIATE_NTLM+REQUEST_TARGET+NEGOTIATE_EXTENDED_SESSIONSECURITY"


def _ntlm_versions(major: int, minor: int, build: int) -> dict[str, int]:
    return {"ProductMajorVersion": major, "ProductMinorVersion": minor, "ProductBuild": build}


def _spnego_init(token: bytes) -> bytes:
    return bytes(GSSAPI_BLOB(innerToken=SPNEGO_negToken(token=SPNEGO_negTokenInit(
        mechTypes=[SPNEGO_MechType(oid=NTLM_OID)], mechToken=SPNEGO_Token(value=token)))))


def _spnego_resp(token: bytes, state: int = 1) -> bytes:
    return bytes(SPNEGO_negToken(token=SPNEGO_negTokenResp(
        negState=state, supportedMech=SPNEGO_MechType(oid=NTLM_OID), responseToken=SPNEGO_Token(value=token))))


def _ntlm_exchange(client: tuple[int, int, int], server: tuple[int, int, int]) -> tuple[bytes, bytes, bytes]:
    """NEGOTIATE, CHALLENGE and AUTHENTICATE messages carrying the two hosts' Windows versions."""
    neg = bytes(NTLM_NEGOTIATE(NegotiateFlags=FLAGS, **_ntlm_versions(*client)))
    chal = bytes(NTLM_CHALLENGE(NegotiateFlags=FLAGS + "+TARGET_TYPE_DOMAIN", ServerChallenge=b"\x5a" * 8,
                                TargetName="STORE42", **_ntlm_versions(*server)))
    auth = bytes(NTLM_AUTHENTICATE_V2(NegotiateFlags=FLAGS, DomainName="STORE42", UserName="posuser",
                                      Workstation="POS21", LmChallengeResponse=b"\0" * 24,
                                      NtChallengeResponse=NTLMv2_RESPONSE(
                                          NTProofStr=b"\x42" * 16, TimeStamp=FILETIME,
                                          ChallengeFromClient=b"\x43" * 8,
                                          AvPairs=[AV_PAIR(AvId="MsvAvEOL")]),
                                      EncryptedRandomSessionKey=b"\x24" * 16,
                                      **_ntlm_versions(*client)))
    return neg, chal, auth


def _card_post(c: TcpConversation) -> list:
    body = f"pan={TEST_PAN}&exp=2812&amount=12.50".encode()
    c.send(0, b"POST /auth HTTP/1.1\r\nHost: pay.acquirer.example\r\nContent-Type: application/x-www-form-urlencoded"
              b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\napproved=yes")
    c.close()
    return c.packets


def posready_smb() -> list:
    """A Windows Embedded POSReady 2009 PC (NT 5.1.2600) logs on to the store file server over SMB1 with
    NTLM, and posts a card number over plain HTTP: the end-of-life OS sits on a card-handling host. The file
    server answers as NT 6.3.9600 (Server 2012 R2, out of support since 2023-10-10, before this capture)."""
    clk = Clock()
    c = TcpConversation(POS_XP, FILESRV, 1042, 445, clk)
    dialects = ["PC NETWORK PROGRAM 1.0", "LANMAN1.0", "Windows for Workgroups 3.1a", "LM1.2X002", "LANMAN2.1",
                "NT LM 0.12"]
    c.send(0, bytes(NBTSession() / SMB_Header(Flags=0x18, Flags2=0xC853) / SMBNegotiate_Request(
        Dialects=[SMB_Dialect(DialectString=d) for d in dialects])))
    c.send(1, bytes(NBTSession() / SMB_Header(Flags=0x98, Flags2=0xC853) / SMBNegotiate_Response_Extended_Security(
        DialectIndex=5, GUID=b"\x33" * 16, ServerTime=FILETIME)))
    neg, chal, auth = _ntlm_exchange((5, 1, 2600), (6, 3, 9600))
    setup = SMBSession_Setup_AndX_Request_Extended_Security
    c.send(0, bytes(NBTSession() / SMB_Header(Flags=0x18, Flags2=0xC807) / setup(
        SecurityBlob=_spnego_init(neg), NativeOS="Windows 2002 Service Pack 3 2600", NativeLanMan="Windows 2002 5.1")))
    c.send(1, bytes(NBTSession() / SMB_Header(Flags=0x98, Flags2=0xC807, UID=2048) /
                    SMBSession_Setup_AndX_Response_Extended_Security(SecurityBlob=_spnego_resp(chal))))
    c.send(0, bytes(NBTSession() / SMB_Header(Flags=0x18, Flags2=0xC807, UID=2048) / setup(
        SecurityBlob=_spnego_resp(auth, 0), NativeOS="Windows 2002 Service Pack 3 2600",
        NativeLanMan="Windows 2002 5.1")))
    c.close()
    return c.packets + _card_post(TcpConversation(POS_XP, ACQUIRER, 1043, 80, clk))


def win7_useragent() -> list:
    """A POS PC fetches its price list from the back office; its browser says Windows NT 6.1 (Windows 7)."""
    c = TcpConversation(POS_WIN7, BACKOFFICE, 49210, 80, Clock())
    c.send(0, b"GET /prices.xml HTTP/1.1\r\nHost: backoffice.store42.example\r\n"
              b"User-Agent: Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko\r\n"
              b"Accept: */*\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 OK\r\nServer: nginx/1.26.2\r\nContent-Type: text/xml\r\nContent-Length: 9\r\n\r\n"
              b"<prices/>")
    c.close()
    return c.packets


def openssh53() -> list:
    """An admin logs in to the back-office server, which still runs OpenSSH 5.3 (RHEL/CentOS 6 era)."""
    c = TcpConversation(ADMIN, BACKOFFICE, 50122, 22, Clock())
    c.send(1, b"SSH-2.0-OpenSSH_5.3\r\n")
    c.send(0, b"SSH-2.0-OpenSSH_9.9\r\n")
    c.send(0, struct.pack("!IB", 300, 20) + bytes(299))  # KEXINIT-sized binary packet
    c.close()
    return c.packets


def vsftpd234() -> list:
    """The POS uploads its batch to a store FTP server whose banner is vsftpd 2.3.4, the backdoored build."""
    c = TcpConversation(POS_NEW, FTPSRV, 49310, 21, Clock())
    c.send(1, b"220 (vsFTPd 2.3.4)\r\n")
    c.send(0, b"USER batch\r\n")
    c.send(1, b"331 Please specify the password.\r\n")
    c.send(0, b"QUIT\r\n")
    c.send(1, b"221 Goodbye.\r\n")
    c.close()
    return c.packets


def ssdp_win61() -> list:
    """A kiosk PC announces itself with SSDP: `SERVER: Windows/6.1 UPnP/1.0` (Windows 7 family)."""
    clk = Clock()
    notify = (b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=900\r\n"
              b"LOCATION: http://10.20.1.23:2869/upnphost/udhisapi.dll?content=uuid:5e1a0b3c-0000-4000-8000-000000000023"
              b"\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\nSERVER: Windows/6.1 UPnP/1.0\r\n"
              b"USN: uuid:5e1a0b3c-0000-4000-8000-000000000023::upnp:rootdevice\r\n\r\n")
    return [udp(KIOSK, SSDP_GROUP, 1900, 1900, notify, clk), udp(KIOSK, SSDP_GROUP, 1900, 1900, notify, clk)]


def tls10_client() -> list:
    """A card terminal whose TLS stack offers nothing above TLS 1.0 connects to the acquirer."""
    c = TcpConversation(POS_NEW, ACQUIRER, 49320, 443, Clock())
    c.send(0, client_hello("pay.acquirer.example", [0x002F, 0x0035, 0x000A], legacy=0x0301))
    c.send(1, record(22, server_hello(0x002F, legacy=0x0301), 0x0301))
    c.send(0, CCS + app_data("t10-fin", 48, 0x0301) + app_data("t10-auth", 160, 0x0301))
    c.send(1, CCS + app_data("t10-sfin", 48, 0x0301))
    c.close()
    return c.packets


def current_store() -> list:
    """Everything current: Windows 11 over SMB 3.1.1 with NTLM, Windows NT 10.0 browser, OpenSSH 9.9,
    vsftpd 3.0.5, nginx 1.26, SSDP from Windows 10, a TLS 1.3 client. No outdated finding."""
    clk = Clock()
    smb = TcpConversation(POS_NEW, FILESRV, 49330, 445, clk)
    smb.send(0, bytes(NBTSession() / SMB2_Header(Command=0) / SMB2_Negotiate_Protocol_Request(
        Dialects=[0x0202, 0x0210, 0x0300, 0x0302, 0x0311], ClientGUID=b"\x44" * 16)))
    smb.send(1, bytes(NBTSession() / SMB2_Header(Command=0, Flags=1) / SMB2_Negotiate_Protocol_Response(
        DialectRevision=0x0311, GUID=b"\x55" * 16, ServerTime=FILETIME, ServerStartTime=FILETIME)))
    neg, chal, auth = _ntlm_exchange((10, 0, 26100), (10, 0, 20348))
    smb.send(0, bytes(NBTSession() / SMB2_Header(Command=1, MID=1) / SMB2_Session_Setup_Request(
        SecurityBlob=GSSAPI_BLOB(_spnego_init(neg)))))
    smb.send(1, bytes(NBTSession() / SMB2_Header(Command=1, MID=1, Flags=1, Status=0xC0000016, SessionId=7) /
                      SMB2_Session_Setup_Response(Buffer=[("Security", GSSAPI_BLOB(_spnego_resp(chal)))])))
    smb.send(0, bytes(NBTSession() / SMB2_Header(Command=1, MID=2, SessionId=7) / SMB2_Session_Setup_Request(
        SecurityBlob=GSSAPI_BLOB(_spnego_resp(auth, 0)))))
    smb.close()
    web = TcpConversation(POS_NEW, BACKOFFICE, 49331, 80, clk)
    web.send(0, b"GET /prices.xml HTTP/1.1\r\nHost: backoffice.store42.example\r\n"
                b"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
                b"\r\n\r\n")
    web.send(1, b"HTTP/1.1 200 OK\r\nServer: nginx/1.26.2\r\nContent-Length: 9\r\n\r\n<prices/>")
    web.close()
    ssh = TcpConversation(ADMIN, BACKOFFICE, 50123, 22, clk)
    ssh.send(1, b"SSH-2.0-OpenSSH_9.9\r\n")
    ssh.send(0, b"SSH-2.0-OpenSSH_9.9\r\n")
    ssh.close()
    ftp = TcpConversation(POS_NEW, FTPSRV, 49332, 21, clk)
    ftp.send(1, b"220 (vsFTPd 3.0.5)\r\n")
    ftp.send(0, b"QUIT\r\n")
    ftp.close()
    tls = TcpConversation(POS_NEW, ACQUIRER, 49333, 443, clk)
    tls.send(0, client_hello("pay.acquirer.example", [0x1301, 0x1302], versions=[0x0304, 0x0303]))
    tls.send(1, record(22, server_hello(0x1301, selected=0x0304)) + CCS + app_data("t13", 80))
    tls.close()
    ssdp = (b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n"
            b"SERVER: Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0\r\nUSN: uuid:0000::upnp:rootdevice\r\n\r\n")
    pkts = smb.packets + web.packets + ssh.packets + ftp.packets + tls.packets
    pkts.append(udp(POS_NEW, SSDP_GROUP, 1900, 1900, ssdp, clk))
    return sorted(pkts, key=lambda p: p.time)


SCENARIOS = {
    "outdated_posready_smb": posready_smb,
    "outdated_win7_useragent": win7_useragent,
    "outdated_openssh53": openssh53,
    "outdated_vsftpd234": vsftpd234,
    "outdated_ssdp_win61": ssdp_win61,
    "outdated_tls10_client": tls10_client,
    "outdated_current_store": current_store,
}
