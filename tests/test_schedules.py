"""The bridge's recurring jobs exist after migrate and setup_schedules is idempotent."""

from django.core.management import call_command
from django_q.models import Schedule

from bridge.schedules import bridge_jobs


def test_schedules_exist_after_migrate(db):
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {job.name for job in bridge_jobs()} <= names
    dispatch = Schedule.objects.get(func="bridge.outbox.dispatch_due")
    assert dispatch.schedule_type == Schedule.MINUTES and dispatch.minutes == 1


def test_setup_schedules_is_idempotent_and_keeps_staff_timing(db, capsys):
    schedule = Schedule.objects.get(func="bridge.outbox.dispatch_due")
    schedule.minutes = 5
    schedule.save()
    call_command("setup_schedules")
    call_command("setup_schedules")
    assert Schedule.objects.filter(func="bridge.outbox.dispatch_due").count() == 1
    assert Schedule.objects.get(pk=schedule.pk).minutes == 5
    assert "0 created" in capsys.readouterr().out
