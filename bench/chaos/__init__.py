"""The chaos soak's parts (``bench/soak.py`` is the entry point).

``services`` runs a private PostgreSQL and Redis (so restarting them touches nobody else's),
``processes`` the bridge's own processes under a small supervisor, ``world`` the accounts,
rules and webhooks, ``load`` the intake traffic, ``schedule`` the seeded chaos, ``checker`` the
invariants (pure functions, unit-tested) and ``report`` the figures.
"""
