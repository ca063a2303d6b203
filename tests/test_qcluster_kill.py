"""A django-q2 cluster keeps working when its idle processes are SIGKILLed (bridge/qcluster.py).

The standard queue's waiting reader holds the queue's shared lock; killed while waiting, it takes
the lock with it and every later reader waits forever. These tests kill readers while they wait
and prove the queue — and a real ``manage.py qcluster`` — still hands out work.
"""

import multiprocessing
import os
import signal
import time
from pathlib import Path
from queue import Empty

import pytest
from django_q.queues import Queue
from django_q.tasks import async_task

from bridge.qcluster import KillSafeQueue


def wait_for_an_item(queue, started):
    """A reader as a django-q2 worker is: tell the test it started, then block on the queue."""
    started.set()
    queue.get()


def killed_while_waiting(queue_class):
    """A queue whose only reader was SIGKILLed while it waited for an item, and that item."""
    queue = queue_class()
    started = multiprocessing.Event()
    reader = multiprocessing.Process(target=wait_for_an_item, args=(queue, started))
    reader.start()
    assert started.wait(10)
    time.sleep(0.5)  # the reader is inside get(), waiting
    os.kill(reader.pid, signal.SIGKILL)
    reader.join(10)
    queue.put({"task": 1})
    return queue


def test_a_reader_killed_while_waiting_leaves_the_queue_usable():
    queue = killed_while_waiting(KillSafeQueue)

    assert queue.get(timeout=5) == {"task": 1}
    assert queue.qsize() == 0


def test_the_standard_queue_is_what_the_kill_safe_one_mends():
    """Why the class exists: the same kill leaves django-q2's own queue locked for good."""
    queue = killed_while_waiting(Queue)

    with pytest.raises(Empty):
        queue.get(timeout=2)


def test_get_honours_its_timeout_and_non_blocking_mode():
    queue = KillSafeQueue()
    started = time.monotonic()
    with pytest.raises(Empty):
        queue.get(timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 3
    with pytest.raises(Empty):
        queue.get(block=False)
    queue.put("STOP")
    time.sleep(0.1)  # put() hands the item to a feeder thread
    assert queue.get(block=False) == "STOP"


def test_a_bounded_queue_frees_its_room_on_each_get():
    queue = KillSafeQueue(maxsize=2)
    for item in range(6):
        queue.put(item, timeout=2)  # would time out (Full) if get() did not free the room
        assert queue.get(timeout=2) == item


def cluster_children(cluster_pid: int) -> list[int]:
    """The processes a cluster's sentinel runs (workers, monitor, pusher): its grandchildren."""
    def children(pid):
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except FileNotFoundError:
            return []
        return [int(child) for child in text.split()]

    return [grandchild for child in children(cluster_pid) for grandchild in children(child)]


def wait_until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"waited {seconds} s for {what}")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for the processes")
def test_a_cluster_whose_idle_processes_are_all_killed_still_runs_tasks(qcluster):
    from django_q.models import Success

    cluster = qcluster(workers=2)
    # Workers, monitor and pusher up: 2 + 2 processes under the sentinel.
    wait_until(lambda: len(cluster_children(cluster.process.pid)) >= 4, 60, "the cluster")
    async_task("math.sqrt", 4.0)  # one task first: the cluster is up and idle after it
    wait_until(lambda: Success.objects.count() == 1, 60, "the first task")
    time.sleep(1)

    killed = cluster_children(cluster.process.pid)
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: not set(killed) & set(cluster_children(cluster.process.pid))
        and len(cluster_children(cluster.process.pid)) >= 4,
        30,
        "the sentinel to replace the killed processes",
    )
    for number in range(5):
        async_task("math.sqrt", float(number))

    wait_until(lambda: Success.objects.count() == 6, 60, "the five tasks after the kill")
    assert cluster.process.poll() is None
