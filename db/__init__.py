"""Everything PostgreSQL: the embedded server, the pool, migrations, identifiers,
bulk reads and writes, the audit table and transactional apply / revert.

Functions here take a psycopg connection and never commit on their own: each opens
`conn.transaction()`, which becomes a savepoint inside a caller's transaction, so
only the outermost unit of work commits.
"""
