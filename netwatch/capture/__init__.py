"""Capture layer: frames in from files or interfaces, frames out to files. Knows no protocols."""

from __future__ import annotations

from typing import NamedTuple


class Frame(NamedTuple):
    """One captured frame as the capture source saw it."""

    ts: float  # seconds since the epoch
    linktype: int  # LINKTYPE_* value (pcap numbering)
    data: bytes  # captured bytes (may be shorter than wirelen)
    wirelen: int  # length on the wire


class CaptureError(Exception):
    """An input that cannot be read as a capture at all (message is user-facing)."""
