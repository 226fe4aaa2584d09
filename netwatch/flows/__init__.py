"""Flows: the flow table, TCP reassembly and the packet loop (fast path)."""
