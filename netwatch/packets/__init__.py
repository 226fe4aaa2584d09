"""Packets: frame bytes to decoded headers, and what an address is (scope, endpoint text)."""
