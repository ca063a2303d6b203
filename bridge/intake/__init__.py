"""The lead intake API: web forms, landing pages and lead vendors post leads to the bridge.

``views`` (``POST /api/v1/leads``: checks, CORS, one log line a request) → ``auth`` (which
source a token belongs to) and ``parse`` (Aéllo's JSON shape or a form's flat fields, into one
``LeadInput``) → ``store`` (the models' validation, the matching rule, one transaction,
idempotency keys). ``snippets`` writes the curl and HTML examples the admin shows;
``defaults`` answers a source's default routing (``default_targets(lead)``) for routing's
fallback.
The sources themselves are ``bridge.models.IntakeSource``.
"""
