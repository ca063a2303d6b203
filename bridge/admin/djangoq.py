"""django-q2's admin, tightened: only superusers resubmit, edit or delete tasks and schedules.

A schedule names any importable function and its arguments, resubmitting a task re-runs it,
and a queued task (the ORM broker's queue) is work about to run: changing, deleting or
re-running any of them is code execution or lost work, so staff without superuser rights may
only look.
"""

from django.contrib import admin
from django_q import admin as q_admin
from django_q.models import Failure, OrmQ, Schedule, Success

from .base import RefusedActionsMixin


@admin.action(description="Resubmit selected tasks to queue", permissions=["superuser"])
def resubmit_task(model_admin, request, queryset):
    """django-q2's own resubmit (a failure is deleted once resubmitted), for superusers only."""
    return q_admin.resubmit_task(model_admin, request, queryset)


class SuperuserWritesMixin(RefusedActionsMixin):
    """Every write (add, change, delete, resubmit) needs a superuser; view needs the usual
    view permission."""

    def has_superuser_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request, *args):
        return self.has_superuser_permission(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return self.has_superuser_permission(request) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request, obj=None):
        return self.has_superuser_permission(request) and super().has_delete_permission(
            request, obj
        )


class ScheduleAdmin(SuperuserWritesMixin, q_admin.ScheduleAdmin):
    pass


class SuccessAdmin(SuperuserWritesMixin, q_admin.TaskAdmin):
    actions = [resubmit_task]


class FailureAdmin(SuperuserWritesMixin, q_admin.FailAdmin):
    actions = [resubmit_task]


class QueuedTaskAdmin(SuperuserWritesMixin, q_admin.QueueAdmin):
    """The ORM broker's queue ("Queued tasks"), registered by django-q2 only with that broker."""


for model, model_admin in (
    (Schedule, ScheduleAdmin),
    (Success, SuccessAdmin),
    (Failure, FailureAdmin),
    (OrmQ, QueuedTaskAdmin),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    elif model is OrmQ:
        continue  # another broker than the ORM: no queue to show
    admin.site.register(model, model_admin)
