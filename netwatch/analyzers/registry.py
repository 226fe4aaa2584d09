"""The analyzers a scan runs, in order. New analyzers are added here."""

from __future__ import annotations

from typing import Any

from netwatch.analyzers import Analyzer
from netwatch.analyzers.app_logins import AppLogins
from netwatch.analyzers.classify import Classifier, Upgrade
from netwatch.analyzers.cleartext_cards import CardData
from netwatch.analyzers.credentials import Credentials
from netwatch.analyzers.dns_names import Names
from netwatch.analyzers.ftp_data import FtpData
from netwatch.analyzers.iso8583_messages import Iso8583
from netwatch.analyzers.logins import Logins
from netwatch.analyzers.proxy import Proxy
from netwatch.analyzers.quic_inspect import QuicInspector
from netwatch.analyzers.rdp import RdpSecurity
from netwatch.analyzers.remote_access import RemoteAccess
from netwatch.analyzers.smb import SmbSessions
from netwatch.analyzers.software import SoftwareVersions
from netwatch.analyzers.terminal import Terminal
from netwatch.analyzers.tftp import TftpTransfers
from netwatch.analyzers.tls_handshakes import TlsInspector
from netwatch.packets.addresses import DEFAULT_SITE, Site
from netwatch.redaction.masking import Fingerprinter


def build_classifier() -> Analyzer[Any]:
    return Classifier()


def build_analyzers(fingerprint: Fingerprinter | None = None, site: Site = DEFAULT_SITE,
                    http_requests: bool = False) -> list[Analyzer[Any]]:
    """Fresh instances (analyzers may hold per-run state); `fingerprint` is the session's card key, `site`
    the site's internal networks (the policy's); `http_requests` adds the one analyzer only metadata
    records (`--log http`) and rules on `http_request` read (left out, it costs nothing)."""
    # Names first: it fills flow.names at flow start. Iso8583 before CardData: it claims payment flows.
    optional: list[Analyzer[Any]] = []
    if http_requests:
        from netwatch.analyzers.http_requests import HttpRequests  # loaded only when asked for

        optional.append(HttpRequests())
    return [
        Names(),
        TftpTransfers(),  # before the content analyzers: it names a transfer's client at flow start
        *optional,  # before Proxy: a CONNECT's answer reaches it before the tunnel starts the flow afresh
        Proxy(),  # before the rest: once a tunnel opens it hands them the flow again
        Upgrade(),  # before the content analyzers: a STARTTLS switch drops them for the TLS bytes
        TlsInspector(),
        QuicInspector(),
        Iso8583(fingerprint),
        Terminal(fingerprint),  # before CardData: it claims ZVT flows
        CardData(fingerprint),
        Credentials(),
        Logins(),
        AppLogins(),
        FtpData(),
        RemoteAccess(site),
        SoftwareVersions(),
        RdpSecurity(),
        SmbSessions(),
    ]
