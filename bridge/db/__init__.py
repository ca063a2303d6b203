"""The one seam for vendor-specific database work: every such operation by name.

Domain code (the outbox, the sync) never branches on ``connection.vendor`` nor builds SQL by
hand: it calls a named operation from one of this package's modules (``claim_rows``,
``insert_copies``, ``upsert_links``, ``tuned_session``…), which has its PostgreSQL form and
its SQLite twin side by side. Every statement goes through Django's cursor wrapper, so errors
are Django's (``IntegrityError``…) and queries are logged like the ORM's.
"""
