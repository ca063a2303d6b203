"""django-q2's admin, tightened: only superusers resubmit tasks or edit schedules.

A schedule names any importable function and its arguments, and resubmitting a task re-runs
it: both are code execution, so staff without superuser rights may only look.
"""

from django.contrib import admin
from django_q import admin as q_admin
from django_q.models import Failure, Schedule, Success


class SuperuserWritesMixin:
    def has_add_permission(self, request, *args):
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            actions.pop("resubmit_task", None)
        return actions


class ScheduleAdmin(SuperuserWritesMixin, q_admin.ScheduleAdmin):
    pass


class SuccessAdmin(SuperuserWritesMixin, q_admin.TaskAdmin):
    pass


class FailureAdmin(SuperuserWritesMixin, q_admin.FailAdmin):
    pass


for model, model_admin in (
    (Schedule, ScheduleAdmin),
    (Success, SuccessAdmin),
    (Failure, FailureAdmin),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
