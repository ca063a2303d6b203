"""CRM Bridge: the Django project, the mirror models, the admin, the outbox and the syncs."""
