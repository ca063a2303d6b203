"""An import's confirmation reads back only a file this user's own preview saved.

django-import-export saves the uploaded file in the temporary folder at the preview and puts its
name in a hidden field of the confirm form; the confirmation then reads the file of that name
and deletes it. The name came back from the browser unchecked, so a user allowed to import
could have any file of the temporary folder imported and deleted, and a stale or mistyped name
was a 500. Here the preview remembers the names it saved in the user's session, and a
confirmation naming any other file (or one already imported, or cleaned away since) is sent
back to the import page with a message saying so.
"""

import os

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

SESSION_KEY = "bridge_import_files"
#: Previews remembered per session (a user may open several in tabs).
REMEMBERED = 10

GONE = (
    "Nothing was imported: the file to confirm (import_file_name) is not one you uploaded for "
    "a preview in this session, or it was imported or cleaned away since. Upload it again."
)


class OwnUploadsOnlyMixin:
    """ImportMixin mixin: the confirm step accepts only files this session's previews saved."""

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if initial.get("import_file_name"):
            # The form keeps only the base name of what it is given (the storage's full path).
            saved = os.path.basename(initial["import_file_name"])
            names = request.session.get(SESSION_KEY, [])
            request.session[SESSION_KEY] = [*names, saved][-REMEMBERED:]
        return initial

    @method_decorator(require_POST)
    def process_import(self, request, **kwargs):
        if not self.has_import_permission(request):
            raise PermissionDenied
        name = os.path.basename(request.POST.get("import_file_name", ""))
        names = request.session.get(SESSION_KEY, [])
        if name not in names:
            return self._upload_again(request)
        request.session[SESSION_KEY] = [other for other in names if other != name]
        try:
            return super().process_import(request, **kwargs)
        except FileNotFoundError:
            return self._upload_again(request)

    def _upload_again(self, request):
        messages.error(request, GONE)
        app_label, model_name = self.opts.app_label, self.opts.model_name
        url = reverse(f"admin:{app_label}_{model_name}_import", current_app=self.admin_site.name)
        return HttpResponseRedirect(url)
