# cython: language_level=3
"""The compiled core's Flow type, declared for the block loops (netwatch/flows/_core.pyx) that
update its counters in C."""


cdef class Flow:
    cdef public object client, server, src, dst, proto_name, app, encrypted, how, server_name
    cdef public object state, streams, active, names, trace
    cdef public int client_port, server_port, proto, fins
    cdef public double first_ts, last_ts
    cdef public list packets, bytes
    cdef public bint inspect, closed, foreign, turned
    cdef public long long number, last_frame
