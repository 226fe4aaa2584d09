"""Redaction: masking card data and secrets in text values and in evidence packets."""
