"""The site history: every recorded run (a visit) of a site, in SQLite or PostgreSQL.

`store` opens the database (one code path for both, SQLAlchemy Core), `schema` declares and checks
its tables, `identity` says which findings of two visits are the same, `record` writes a run in one
transaction, `query` answers "what changed since the last visit, and what is still open?".
Only masked values and keyed fingerprints are stored, never the fingerprint key.
"""
