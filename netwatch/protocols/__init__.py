"""Protocols: pure sans-IO parsers, bytes in and values out, with no flows, no state across calls
and no I/O. The analyzers (`netwatch.analyzers`) feed them flow bytes and turn what they return
into events. This package sits at the base layer: it imports nothing of netwatch above it.
"""
