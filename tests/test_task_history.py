"""The cluster's list of successful tasks stays bounded without django-q2's costly pruning."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_q.models import Failure, Success, Task

from bridge.schedules import bridge_jobs
from bridge.task_history import prune_task_history


def make_task(n: int, success: bool = True) -> Task:
    stopped = timezone.now() - timedelta(minutes=100 - n)
    return Task.objects.create(
        id=f"task-{n}-{success}",
        name=f"task-{n}",
        func="math.floor",
        started=stopped - timedelta(seconds=1),
        stopped=stopped,
        success=success,
    )


def test_only_the_newest_successes_are_kept_and_failures_stay(db):
    for n in range(5):
        make_task(n)
    make_task(0, success=False)
    assert prune_task_history(keep=3) == 2
    assert sorted(Success.objects.values_list("name", flat=True)) == ["task-2", "task-3", "task-4"]
    assert Failure.objects.count() == 1
    assert prune_task_history(keep=3) == 0
    assert prune_task_history(keep=10) == 0


def test_the_cluster_saves_without_pruning_and_the_bridge_prunes_on_a_schedule(db):
    assert settings.Q_CLUSTER["save_limit"] == 0
    jobs = {job.func: job for job in bridge_jobs()}
    assert jobs["bridge.task_history.prune_task_history"].minutes == 5
