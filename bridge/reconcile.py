"""The old home of the reconcile task, kept for the dotted path Schedule rows hold.

``bridge.reconcile.reconcile_task`` is stored in django-q2 Schedule rows (and in tasks queued
from them); the reconcile now lives in ``bridge.sync.reconcile``.
"""

from bridge.sync.reconcile import reconcile_task

__all__ = ["reconcile_task"]
