"""Reports: rich console summary, JSON Lines. Every packet-derived string is escaped on the way out."""
