# cython: language_level=3
"""The compiled pcap record walk: `netwatch.capture.blocks.walk_records` and `pcap_block` in C loops.

Same results as the Python versions (the pure core). Reads go through bounds-checked memoryviews,
and every record header is read only when it lies whole inside the window."""

import numpy as np


cdef inline unsigned int u32(const unsigned char[:] b, Py_ssize_t i, bint little):
    if little:
        return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (<unsigned int>b[i + 3] << 24)
    return (<unsigned int>b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


def walk_records(buf, Py_ssize_t pos, layout, Py_ssize_t max_record):
    """Offsets of the whole records in `buf` from `pos` on, and where the first incomplete one starts."""
    cdef const unsigned char[:] b = buf
    cdef bint little = layout.order == "<"
    cdef Py_ssize_t rec_len = layout.rec_len, end = b.shape[0] - rec_len, stop, caplen, n = 0
    out = np.empty(max(0, (b.shape[0] - pos) // rec_len + 1), np.int64)
    cdef long long[:] offsets = out
    while pos <= end:
        caplen = u32(b, pos + 8, little)
        stop = pos + rec_len + caplen
        if stop > end + rec_len or caplen > max_record:
            break
        offsets[n] = pos
        n += 1
        pos = stop
    return out[:n], pos


def pcap_block(buf, offsets, layout, tail=None):
    """The records at `offsets` of a pcap window as a block (`netwatch.capture.blocks.FrameBlock` fields)."""
    cdef const unsigned char[:] b = buf
    cdef const long long[:] at = np.asarray(offsets, np.int64)
    cdef bint little = layout.order == "<"
    cdef double unit = layout.unit
    cdef Py_ssize_t n = at.shape[0], i, p
    cdef long long rec_len = layout.rec_len
    start, caplen, wirelen = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    ts = np.empty(n, np.float64)
    cdef long long[:] v_start = start, v_cap = caplen, v_wire = wirelen
    cdef double[:] v_ts = ts
    cdef double sec, frac
    for i in range(n):
        p = at[i]
        sec = u32(b, p, little)
        frac = u32(b, p + 4, little)
        frac = frac * unit
        v_ts[i] = sec + frac
        v_cap[i] = u32(b, p + 8, little)
        v_wire[i] = u32(b, p + 12, little)
        v_start[i] = p + rec_len
    if tail is not None and n:
        v_cap[n - 1] = tail
    return start, caplen, wirelen, ts
