"""Keeping django-q2's list of successful tasks to a bounded length, in one statement.

django-q2 can prune it itself (``save_limit`` > 0), but its monitor then reads every kept
success row, locked, for *each* task it saves: at 40 tasks a second the single monitor fell
behind, the workers' result queues filled, and workers being recycled blocked on them until it
caught up — a stall of 30–50 s for every lead in flight (docs/benchmarks.md, "Speed to lead
and the intake API"). So the cluster saves without pruning (``save_limit`` 0) and this job, one
of the bridge's recurring jobs, deletes what is past the newest ``BRIDGE_TASK_HISTORY``.
Failures are never pruned here: staff retry or delete them in the admin.
"""

from __future__ import annotations

from django_q.models import Success

from bridge.conf import bridge_setting


def prune_task_history(keep: int | None = None) -> int:
    """Delete the successful tasks older than the newest ``keep``; returns how many went."""
    if keep is None:
        keep = bridge_setting("BRIDGE_TASK_HISTORY", 1000, minimum=1)
    newest = Success.objects.order_by("-stopped", "-pk").values_list("stopped", flat=True)
    cutoff = newest[keep - 1 : keep].first()
    if cutoff is None:
        return 0
    deleted, _ = Success.objects.filter(stopped__lt=cutoff).delete()
    return deleted
