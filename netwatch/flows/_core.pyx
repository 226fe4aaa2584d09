# cython: language_level=3
"""The compiled transport core: one block of frames through header decode, flow lookup, bulk
counting of settled flows and the per-frame path, in C loops instead of numpy calls and bytecode.

It is `netwatch.flows.fastpath.FastPath._vector` step for step (same phases, same calls into the
flow table, same frame numbers), so both cores give identical results; the pure-Python one stays
the reference. Every read of packet bytes goes through a bounds-checked memoryview (Cython's
default `boundscheck(True)`), and each read is guarded by the frame's captured length first, so a
hostile capture can at worst make a frame take the full decoder's path.
"""

from libc.string cimport memcmp, memcpy

import numpy as np

from netwatch.flows._flow cimport Flow
from netwatch.flows._flow import idle_flows  # re-exported with Flow: FastPath hands them to its table
from netwatch.flows.table import close_on, count
from netwatch.packets.decode import ESP, TCP, UDP, VXLAN_PORT, Packet

cdef int C_TCP = TCP
cdef int C_UDP = UDP
cdef int C_ESP = ESP
cdef int C_VXLAN = VXLAN_PORT
cdef int SYN = 0x02
cdef int FIN = 0x01
cdef int RST = 0x04
cdef bytes NO_PORTS = bytes(4)
globals()["Flow"] = Flow  # the cimported type, as a module attribute for Python callers


cdef inline void count_in(Flow flow, int d, long long packets, long long nbytes, double last_ts,
                          long long last_frame) except *:
    """`netwatch.flows.table.count` on the C fields (the lists of packets and bytes stay Python ints)."""
    if last_frame >= flow.last_frame:
        flow.last_frame = last_frame
        flow.last_ts = last_ts
    flow.packets[d] += packets
    flow.bytes[d] += nbytes


cdef inline void count_any(flow, int d, long long packets, long long nbytes, double last_ts,
                           long long last_frame) except *:
    """Counts a flow of either class (a table may hold pure `Flow`s made before the core was chosen)."""
    if type(flow) is Flow:
        count_in(<Flow>flow, d, packets, nbytes, last_ts, last_frame)
    else:
        count(flow, d, packets, nbytes, last_ts, last_frame)


cdef inline Py_ssize_t _fnv(const unsigned char* key):
    """FNV-1a of a 13-byte flow key (protocol, addresses, ports)."""
    cdef unsigned long long h = 14695981039346656037ULL
    cdef int j
    for j in range(13):
        h = (h ^ key[j]) * 1099511628211ULL
    return <Py_ssize_t>(h >> 1)


cdef inline int u16(const unsigned char[:] b, Py_ssize_t i):
    return (b[i] << 8) | b[i + 1]


cdef inline long long u32_clip(const unsigned char[:] b, Py_ssize_t i):
    """Four bytes big-endian, each index clipped to the buffer as numpy's `take(mode="clip")` does
    (the pure core reads a UDP/ESP frame's "sequence" field that way, even past a short frame)."""
    cdef Py_ssize_t last = b.shape[0] - 1, j
    cdef long long v = 0
    for j in range(4):
        v = (v << 8) | b[min(i + j, last)]
    return v


cdef inline Py_ssize_t link_offset(const unsigned char[:] b, Py_ssize_t s, Py_ssize_t cap, long long lt):
    """Where the IPv4 header starts, or -1 when the frame does not carry IPv4 there (as fastpath._ip_offset)."""
    cdef int et
    if lt == 1:
        if cap < 34:
            return -1
        et = u16(b, s + 12)
        if et == 0x8100:
            if cap < 38 or u16(b, s + 16) != 0x0800:
                return -1
            return 18
        return 14 if et == 0x0800 else -1
    if lt == 113:
        return 16 if cap >= 36 and u16(b, s + 14) == 0x0800 else -1
    if lt == 276:
        return 20 if cap >= 40 and u16(b, s) == 0x0800 else -1
    if lt == 12 or lt == 14 or lt == 101 or lt == 228:
        return 0
    return -1


def vector(fast, block, Py_ssize_t base):
    """One block through the flows (the compiled `FastPath._vector`)."""
    cdef const unsigned char[:] b = block.buf
    cdef const long long[:] start = block.start
    cdef const long long[:] caplen = block.caplen
    cdef const long long[:] linktype = block.linktype
    cdef const double[:] ts = block.ts
    cdef Py_ssize_t n = start.shape[0], i, s, cap, l3, end, total, hl, u, nkeys
    cdef int proto, flags, doff, frag
    # per frame: offsets, header fields and which path it takes (0: full decoder, 1: countable, 2: SYN)
    l3s = np.zeros(n, np.int64)
    ats = np.zeros(n, np.int64)
    plens = np.zeros(n, np.int64)
    seqs = np.zeros(n, np.int64)
    acks = np.zeros(n, np.int64)
    wins = np.full(n, -1, np.int64)
    fl = np.zeros(n, np.int64)
    prs = np.zeros(n, np.int64)
    kinds = np.zeros(n, np.int8)
    invs = np.zeros(n, np.int64)
    tots = np.zeros(n, np.int64)
    cdef long long[:] v_l3 = l3s, v_at = ats, v_plen = plens, v_seq = seqs, v_fl = fl, v_pr = prs, v_inv = invs
    cdef long long[:] v_ack = acks, v_win = wins, v_tot = tots
    cdef signed char[:] v_kind = kinds
    cdef list hits = []
    cdef Py_ssize_t mask = 1, j
    while mask < 2 * n:
        mask <<= 1
    cdef long long[:] v_slots = np.full(mask, -1, np.int64)
    cdef unsigned char[:] v_keys = np.zeros(13 * max(n, 1), np.uint8)
    mask -= 1
    cdef dict tables = fast.flows.tables
    cdef unsigned char[13] kb
    for i in range(n):
        s = start[i]
        cap = caplen[i]
        if s < 0 or cap < 0 or s + cap > b.shape[0]:
            continue
        l3 = link_offset(b, s, cap, linktype[i])
        if l3 < 0 or cap < l3 + 20:
            continue
        if b[s + l3] != 0x45:
            continue
        total = u16(b, s + l3 + 2)
        frag = u16(b, s + l3 + 6)
        if frag & 0x3FFF or total < 20:
            continue
        proto = b[s + l3 + 9]
        end = min(l3 + total, cap)
        flags = 0
        if proto == C_TCP:
            if end < l3 + 40:
                continue
            doff = b[s + l3 + 32]
            if doff < 0x50:
                continue
            flags = b[s + l3 + 33]
            hl = 20 + (doff >> 4) * 4
            v_ack[i] = (<long long>b[s + l3 + 28] << 24) | (b[s + l3 + 29] << 16) | (b[s + l3 + 30] << 8) | b[s + l3 + 31]
            v_win[i] = u16(b, s + l3 + 34)
        elif proto == C_UDP:
            if end < l3 + 28 or u16(b, s + l3 + 22) == C_VXLAN:
                continue
            hl = 28
        elif proto == C_ESP:
            hl = 20
        else:
            continue
        v_seq[i] = u32_clip(b, s + l3 + 24)  # TCP's sequence number; for UDP/ESP what numpy reads there
        v_l3[i] = l3
        v_tot[i] = total
        v_pr[i] = proto
        v_fl[i] = flags
        v_at[i] = l3 + hl
        v_plen[i] = max(end - l3 - hl, 0)
        v_kind[i] = 2 if flags & SYN else 1
        kb[0] = proto
        kb[9] = kb[10] = kb[11] = kb[12] = 0  # ESP: keyed by the address pair, ports 0, as the decoder does
        for u in range(8 if proto == C_ESP else 12):  # ESP's header may end right after the addresses
            kb[1 + u] = b[s + l3 + 12 + u]
        j = _fnv(kb) & mask  # the block's own key index: open addressing, at most n keys in 2n+ slots
        while True:
            u = v_slots[j]
            if u < 0:  # a key new to this block: look its flow up once
                u = len(hits)
                v_slots[j] = u
                memcpy(&v_keys[u * 13], kb, 13)
                hits.append(tables[proto].get((<char*>kb)[1:13]))
                break
            if memcmp(&v_keys[u * 13], kb, 13) == 0:
                break
            j = (j + 1) & mask
        v_inv[i] = u
    nkeys = len(hits)
    settled = _settled(hits, kinds, fl, invs, n)
    cdef const unsigned char[:] v_settled = settled
    ft = fast.flows
    ft.deferred = True
    cdef Py_ssize_t nbulk = 0, nsettled = 0
    try:
        nbulk = _count(hits, v_kind, v_inv, v_settled, v_plen, v_fl, ts, n, nkeys, base, kinds, invs, settled, seqs,
                       plens)
        nsettled = _rest(fast, block, base, v_kind, v_inv, v_settled, v_l3, v_pr, v_at, v_plen, v_fl, v_seq, v_ack,
                         v_win, v_tot, n)
    finally:
        ft.deferred = False
    now = float(block.ts.max())
    if now > ft.now:
        ft.now = now
    ft.counted(nbulk + nsettled)


cdef object _settled(list hits, kinds, fl, invs, Py_ssize_t n):
    """Per key: its flow is no longer inspected and no SYN in the block may restart it (fastpath.plan)."""
    cdef signed char[:] kind = kinds
    cdef long long[:] flags = fl, inv = invs
    cdef Py_ssize_t i
    restart = set()
    syns = [inv[i] for i in range(n) if kind[i] == 2]
    if syns:
        closes = {id(hits[inv[i]][0]) for i in range(n)
                  if kind[i] != 0 and flags[i] & (FIN | RST) and hits[inv[i]] is not None}
        for u in syns:
            hit = hits[u]
            if hit is not None and (hit[0].closed or id(hit[0]) in closes):
                restart.add(id(hit[0]))
    out = np.zeros(max(len(hits), 1), np.uint8)
    cdef unsigned char[:] v = out
    for i, hit in enumerate(hits):
        v[i] = 1 if (hit is not None and not hit[0].inspect and id(hit[0]) not in restart) else 0
    return out


cdef Py_ssize_t _count(list hits, signed char[:] kind, long long[:] inv, const unsigned char[:] settled,
                       long long[:] plen, long long[:] flags, const double[:] ts, Py_ssize_t n, Py_ssize_t nkeys,
                       Py_ssize_t base, kinds, invs, settled_keys, seqs, plens):
    """Count-only frames, per flow direction at once: packets, bytes, last time and frame, FIN/RST,
    (fastpath._count)."""
    if nkeys == 0:
        return 0
    cdef long long[:] packets = np.zeros(nkeys, np.int64), nbytes = np.zeros(nkeys, np.int64)
    cdef long long[:] last = np.zeros(nkeys, np.int64)
    cdef unsigned char[:] fins = np.zeros(nkeys, np.uint8), rsts = np.zeros(nkeys, np.uint8)
    cdef Py_ssize_t i, u, total = 0
    for i in range(n):
        if kind[i] == 1 and settled[inv[i]]:
            u = inv[i]
            packets[u] += 1
            nbytes[u] += plen[i]
            last[u] = i
            if flags[i] & FIN:
                fins[u] = 1
            if flags[i] & RST:
                rsts[u] = 1
            total += 1
    for u in range(nkeys):
        if packets[u]:
            flow, d = hits[u]
            count_any(flow, d, packets[u], nbytes[u], ts[last[u]], base + last[u] + 1)
            if fins[u] or rsts[u]:
                close_on(flow, d, fins[u] != 0, rsts[u] != 0)
    return total


cdef object _window_scale(const unsigned char[:] b, Py_ssize_t i, Py_ssize_t end):
    """A SYN's window scale option, or -1 (netwatch.packets.decode._window_scale, on the block buffer)."""
    cdef int kind, size
    while i < end:
        kind = b[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= end or b[i + 1] < 2:
            break
        size = b[i + 1]
        if kind == 3 and size == 3 and i + 2 < end:
            return min(b[i + 2], 14)
        i += size
    return -1


cdef object _packet(const unsigned char[:] b, buf, Py_ssize_t s, Py_ssize_t cap, double t, Py_ssize_t l3, int proto,
                    Py_ssize_t at, Py_ssize_t plen, int fl, long long seq, long long ack, long long win,
                    Py_ssize_t total):
    """The `Packet` the decoder makes of a frame the header pass read whole (IPv4 without options or
    fragments, a TCP/UDP header or ESP): the same fields, without decoding the frame again."""
    cdef Py_ssize_t ip = s + l3, end
    src = buf[ip + 12 : ip + 16]
    dst = buf[ip + 16 : ip + 20]
    payload = buf[s + at : s + at + plen]
    if proto == C_TCP:
        end = min(l3 + total, cap)
        wscale = _window_scale(b, ip + 40, s + min(at, end)) if fl & SYN and at > l3 + 40 else -1
        return Packet(t, src, dst, proto, u16(b, ip + 20), u16(b, ip + 22), fl, seq, payload, total, ack, win, wscale)
    if proto == C_UDP:
        return Packet(t, src, dst, proto, u16(b, ip + 20), u16(b, ip + 22), 0, 0, payload, total)
    return Packet(t, src, dst, proto, 0, 0, 0, 0, payload, total)


cdef Py_ssize_t _rest(fast, block, Py_ssize_t base, signed char[:] kind, long long[:] inv,
                      const unsigned char[:] settled, long long[:] l3s, long long[:] protos, long long[:] ats,
                      long long[:] plens, long long[:] flags, long long[:] seqs, long long[:] acks,
                      long long[:] wins, long long[:] totals, Py_ssize_t n):
    """Frames that need Python, in capture order (fastpath._rest). A known flow's TCP segment or
    datagram goes through `FlowTable.tcp_segment` / `datagram`'s steps written out here (no sweep
    can be due: the table is deferred for the block); a frame the header pass read whole reaches
    `FlowTable.process` as the `Packet` the decoder would make of it, and anything else is decoded."""
    flows = fast.flows
    sink, tcp, process, tables = flows.sink, flows.tcp, flows.process, flows.tables
    segment, decode = tcp.segment, fast.decoder.decode
    buf = block.buf
    cdef const unsigned char[:] b = buf
    cdef const long long[:] start = block.start
    cdef const long long[:] caplen = block.caplen
    cdef const long long[:] linktype = block.linktype
    cdef const double[:] tss = block.ts
    cdef Py_ssize_t i, s, k, at, plen, done = 0, frame, paced = 0
    cdef int proto, fl, d
    cdef double t
    for i in range(n):
        if kind[i] == 1 and settled[inv[i]]:
            continue  # counted in bulk
        frame = base + i + 1
        flows.frame_no = frame
        s = start[i]
        t = tss[i]
        if kind[i] == 0:
            p = decode(linktype[i], buf[s : s + caplen[i]], t)
            if p is not None:
                process(p)
            continue
        proto = <int>protos[i]
        fl = <int>flags[i]
        plen = plens[i]
        at = s + ats[i]
        hit = None
        if kind[i] == 1:
            k = s + l3s[i] + 12
            hit = tables[proto].get(buf[k : k + 12] if proto != C_ESP else buf[k : k + 8] + NO_PORTS)
        if hit is None:  # a SYN, or a flow not in the table: the full path, from the fields read
            process(_packet(b, buf, s, caplen[i], t, l3s[i], proto, ats[i], plen, fl, seqs[i], acks[i], wins[i],
                            totals[i]))
            continue
        flow = hit[0]
        d = hit[1]
        if not flow.inspect and not fl & 7:  # settled, no SYN/FIN/RST: count only
            count_any(flow, d, 1, plen, t, frame)
            done += 1
            continue
        if t > flows.now:
            flows.now = t
        paced += 1
        if proto == C_TCP:  # FlowTable.tcp_segment
            count_any(flow, d, 1, plen, t, frame)
            if flow.inspect or fl & 7:
                segment(flow, d, fl, seqs[i], buf[at : at + plen], t, acks[i], wins[i])
            continue
        if flow.turned:  # FlowTable.datagram
            d ^= 1
            flows._rekey(flow)
        count_any(flow, d, 1, plen, t, frame)
        if plen and flow.inspect:
            sink.datagram(flow, d, buf[at : at + plen], t)
            if flow.turned:
                flows._rekey(flow)
    flows._since_sweep += paced
    return done
