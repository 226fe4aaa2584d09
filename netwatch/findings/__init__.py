"""Findings: rule matches aggregated, the systems inventory and the destinations inventory."""
