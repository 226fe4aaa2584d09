"""The analyzers a scan runs, in order. New analyzers are added here."""

from __future__ import annotations

from netwatch.analyzers import Analyzer
from netwatch.analyzers.carddata import CardData
from netwatch.analyzers.classify import Classifier, Upgrade
from netwatch.analyzers.credentials import Credentials
from netwatch.analyzers.ftp_data import FtpData
from netwatch.analyzers.iso8583_stream import Iso8583
from netwatch.analyzers.names import Names
from netwatch.analyzers.remote_access import RemoteAccess
from netwatch.analyzers.tls_inspect import TlsInspector
from netwatch.masking import Fingerprinter


def build_classifier() -> Analyzer:
    return Classifier()


def build_analyzers(fingerprint: Fingerprinter | None = None) -> list[Analyzer]:
    """Fresh instances (analyzers may hold per-run state); `fingerprint` is the session's card key."""
    # Names first: it fills flow.names at flow start. Iso8583 before CardData: it claims payment flows.
    return [
        Names(),
        Upgrade(),  # before the content analyzers: a STARTTLS switch drops them for the TLS bytes
        TlsInspector(),
        Iso8583(fingerprint),
        CardData(fingerprint),
        Credentials(),
        FtpData(),
        RemoteAccess(),
    ]
