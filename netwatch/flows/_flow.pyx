# cython: language_level=3
"""`netwatch.flows.table.Flow` as an extension type (declared in _flow.pxd): the compiled core's
block loops update its counters in C fields, and the sweep walks them (`idle_flows`)."""

from netwatch.flows.table import (CLOSED_LINGER, IDLE_DNS, IDLE_ONE_SIDED, IDLE_OTHER, IDLE_TCP, addr_str,
                                  idle_flows as idle_any)
from netwatch.packets.decode import PROTO_NAMES, TCP

cdef int C_TCP = TCP


cdef class Flow:
    """`netwatch.flows.table.Flow` as an extension type: the same attributes, constructor and
    methods (so everything above the flow table reads it unchanged), with the counters the block
    loops update per packet in C fields. `FastPath` makes its table create these when this core runs."""

    def __init__(self, client, int client_port, server, int server_port, int proto, double ts):
        self.client, self.client_port, self.server, self.server_port = client, client_port, server, server_port
        self.proto = proto
        self.src = addr_str(client)
        self.dst = addr_str(server)
        self.proto_name = PROTO_NAMES.get(proto, str(proto))
        self.first_ts = self.last_ts = ts
        self.packets = [0, 0]
        self.bytes = [0, 0]
        self.app = self.encrypted = self.how = self.server_name = None
        self.inspect = True
        self.state = {}
        self.streams = [None, None]
        self.closed = False
        self.fins = 0
        self.active = []
        self.names = []
        self.foreign = False
        self.turned = False
        self.number = 0
        self.last_frame = 0
        self.trace = None

    def __repr__(self):
        return f"Flow({self.proto_name} {self.src}:{self.client_port} -> {self.dst}:{self.server_port})"

    def turn(self):
        """As `netwatch.flows.table.Flow.turn`."""
        self.client, self.server = self.server, self.client
        self.client_port, self.server_port = self.server_port, self.client_port
        self.src, self.dst = self.dst, self.src
        self.packets.reverse()
        self.bytes.reverse()
        self.streams.reverse()
        self.names = []
        self.turned = True
        if self.trace is not None:
            self.trace.turn()


def idle_flows(dict live, double now):
    """`netwatch.flows.table.idle_flows` on the C fields: the sweep's walk over every live flow."""
    cdef double closed_before = now - CLOSED_LINGER, tcp_before = now - IDLE_TCP
    cdef double one_sided_before = now - IDLE_ONE_SIDED, other_before = now - IDLE_OTHER
    cdef double dns_before = now - IDLE_DNS, before
    cdef Flow f
    cdef list done = []
    for obj in live:
        if type(obj) is not Flow:  # a pure `Flow` (a table filled before this core was chosen)
            if idle_any({obj: None}, now):
                done.append(obj)
            continue
        f = <Flow>obj
        if f.closed:
            before = closed_before
        elif f.proto != C_TCP:
            before = dns_before if f.server_port == 53 else other_before
        elif not (f.packets[0] and f.packets[1]):
            before = one_sided_before
        else:
            before = tcp_before
        if f.last_ts < before:
            done.append(f)
    return done
