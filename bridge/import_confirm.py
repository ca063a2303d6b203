"""The import's confirm step, on a file the server chose: its name never comes from the page.

django-import-export writes the previewed upload to a temporary file and puts the file's name in
the confirm form; the confirm step then reads (and deletes) whichever file of the temporary
folder the posted name says, and reads it without the size check. Here the preview keeps the
name, format and resource in the session under a random token, and the page carries only the
token: a token this session was not given is refused, so no other file is read or deleted. The
confirm step checks the file's size again and reads it through the same guarded formats, so every
limit holds at confirm as at preview.
"""

from __future__ import annotations

import contextlib
import os
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST
from import_export.forms import ConfirmImportForm
from import_export.tmp_storages import TempFolderStorage

from bridge.uploads import UploadRefused, size

#: The session key holding the imports waiting for confirmation, by token.
SESSION_KEY = "bridge_pending_imports"
#: Imports a session may have waiting at once; the oldest are dropped (and their files removed).
MAX_PENDING = 10


class KeptImportConfirmForm(ConfirmImportForm):
    """The confirm form; ``import_file_name`` holds a token this session was given, which
    ``clean`` replaces by what the preview kept (the values posted beside it are ignored)."""

    def __init__(self, *args, pending=None, model_label="", **kwargs):
        super().__init__(*args, **kwargs)
        self.pending = pending or {}
        self.model_label = model_label
        self.kept = None

    def clean_import_file_name(self):
        token = self.cleaned_data["import_file_name"]
        kept = self.pending.get(token)
        if kept is None or kept.get("model") != self.model_label:
            raise ValidationError(
                "This import is not waiting for confirmation in your session (it was confirmed "
                "already, or the page was changed). Upload the file again."
            )
        self.kept = kept
        return token

    def clean(self):
        cleaned = super().clean()
        if self.kept is not None:
            cleaned["format"] = str(self.kept["format"])
            cleaned["resource"] = self.kept["resource"]
            cleaned["original_file_name"] = self.kept["original"]
        return cleaned


class KeptImportMixin:
    """For an ``ImportMixin`` admin: the temporary file's name stays in the session."""

    confirm_form_class = KeptImportConfirmForm

    def model_label(self) -> str:
        return self.model._meta.label_lower

    def get_confirm_form_initial(self, request, import_form):
        """Keep the previewed file under a new token; the page gets only the token."""
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is None:
            return initial
        token = secrets.token_urlsafe(24)
        keep_pending_import(
            request,
            token,
            {
                "name": initial["import_file_name"],
                "format": int(initial["format"]),
                "resource": initial.get("resource") or "",
                "original": initial["original_file_name"],
                "model": self.model_label(),
            },
            self,
        )
        initial["import_file_name"] = token
        return initial

    def import_action(self, request, **kwargs):
        """The upload and preview; a refused file's temporary copy is removed at once (the
        library leaves it in the temporary folder, waiting for a confirm that cannot come)."""
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        form = context.get("form")
        if request.method == "POST" and form is not None and not context.get("confirm_form"):
            # The uploaded file object itself carries the name (an error on the field takes it
            # out of the form's cleaned_data).
            name = getattr(request.FILES.get("import_file"), "tmp_storage_name", None)
            if name:
                remove_quietly(
                    self.get_tmp_storage_class()(name=name, **self.get_tmp_storage_class_kwargs())
                )
        return response

    def get_confirm_form_kwargs(self, request, import_form=None):
        kwargs = super().get_confirm_form_kwargs(request, import_form)
        kwargs["pending"] = dict(request.session.get(SESSION_KEY, {}))
        kwargs["model_label"] = self.model_label()
        return kwargs

    @method_decorator(require_POST)
    def process_import(self, request, **kwargs):
        """Import the file the session's token names, with every limit checked again."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm_form = self.create_confirm_form(request)
        if not confirm_form.is_valid():
            return self.render_refused_confirm(request, confirm_form)
        kept = pop_pending_import(request, confirm_form.cleaned_data["import_file_name"])
        input_format = self.get_import_formats()[kept["format"]](encoding=self.from_encoding)
        storage = self.kept_storage(kept["name"], input_format)
        try:
            dataset = input_format.create_dataset(read_within_size_limit(storage))
        except Exception as exc:  # the message names the problem; the file is not kept
            confirm_form.add_error(None, self.unreadable_message(exc))
            remove_quietly(storage)
            return self.render_refused_confirm(request, confirm_form)
        try:
            result = self.process_dataset(dataset, confirm_form, request, **kwargs)
        finally:
            remove_quietly(storage)
        return self.process_result(result, request)

    def kept_storage(self, name: str, input_format):
        encoding = None if input_format.is_binary() else self.from_encoding
        return self.get_tmp_storage_class()(
            name=name,
            encoding=encoding,
            read_mode=input_format.get_read_mode(),
            **self.get_tmp_storage_class_kwargs(),
        )

    def unreadable_message(self, exc: Exception) -> str:
        """What staff read when the kept file cannot be read (the admin may say it better)."""
        return str(exc) if isinstance(exc, UploadRefused) else f"The file could not be read: {exc}"

    def render_refused_confirm(self, request, confirm_form):
        """The import page with the confirm step's errors (nothing imported)."""
        context = self.admin_site.each_context(request)
        context.update(
            {
                "title": "Import",
                "confirm_form": confirm_form,
                "opts": self.model._meta,
                "errors": confirm_form.errors,
            }
        )
        return TemplateResponse(request, [self.import_template_name], context)


def keep_pending_import(request, token: str, kept: dict, admin) -> None:
    """Remember ``kept`` under ``token`` in the session, dropping the oldest beyond MAX_PENDING."""
    pending = dict(request.session.get(SESSION_KEY, {}))
    pending[token] = kept
    while len(pending) > MAX_PENDING:
        oldest = next(iter(pending))
        dropped = pending.pop(oldest)
        with contextlib.suppress(Exception):
            admin.get_tmp_storage_class()(
                name=dropped["name"], **admin.get_tmp_storage_class_kwargs()
            ).remove()
    request.session[SESSION_KEY] = pending


def pop_pending_import(request, token: str) -> dict:
    """Take ``token``'s import out of the session: a token confirms one import, once."""
    pending = dict(request.session.get(SESSION_KEY, {}))
    kept = pending.pop(token)
    request.session[SESSION_KEY] = pending
    return kept


def read_within_size_limit(storage) -> bytes | str:
    """The kept file's content, refused when it is larger than BRIDGE_IMPORT_MAX_BYTES (checked
    before reading when the file is on disk)."""
    limit = settings.BRIDGE_IMPORT_MAX_BYTES
    on_disk = None
    if isinstance(storage, TempFolderStorage):
        try:
            on_disk = os.path.getsize(storage.get_full_path())
        except OSError:
            raise UploadRefused(
                "The previewed file is gone from the server. Upload it again."
            ) from None
    if on_disk is not None and on_disk > limit:
        raise too_large(on_disk, limit)
    data = storage.read()
    if data is None:
        raise UploadRefused("The previewed file is gone from the server. Upload it again.")
    if len(data) > limit:
        raise too_large(len(data), limit)
    return data


def too_large(length: int, limit: int) -> UploadRefused:
    return UploadRefused(
        f"The file is {size(length)}; the limit is {size(limit)} (BRIDGE_IMPORT_MAX_BYTES). "
        "Split it into smaller files."
    )


def remove_quietly(storage) -> None:
    """Remove the kept file; one already gone is not an error."""
    with contextlib.suppress(OSError):
        storage.remove()
