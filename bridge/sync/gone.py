"""People gone from Leeloo: the links every people run stamps, and those a full run marks gone.

Every people run stamps the links of every person it listed (:func:`stamp_listed_people`), and
a person listed again is no longer marked gone. At the end of a complete full people run (one
that read the list to its end; a failed or interrupted run never gets there) the account's
person links that no run stamped since it started are marked gone
(``RemoteLink.remote_gone_at``, :func:`mark_gone_people`): the contact or lead stays.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.utils import timezone

from bridge.models import Contact, Lead, ProviderAccount, RemoteLink, SyncRun

#: The local models whose links are Leeloo people.
PEOPLE_MODELS = (Contact, Lead)


def _people_types() -> list[int]:
    return [ct.pk for ct in ContentType.objects.get_for_models(*PEOPLE_MODELS).values()]


def stamp_listed_people(account: ProviderAccount, remote_ids: list[str], now: datetime) -> int:
    """The links of people a run listed (mirrored or not): pulled now, and not gone.

    One statement per batch, in place of stamping the mirrored ones alone: a person linked to
    a lead, or one that could not be mirrored, was listed all the same.
    """
    if not remote_ids:
        return 0
    return RemoteLink.objects.filter(
        account=account, remote_id__any=remote_ids, content_type_id__any=_people_types()
    ).update(last_pulled_at=now, remote_gone_at=None)


def may_mark_gone(run: SyncRun) -> bool:
    """Only a full people run that read the whole list knows who is no longer in it (this is
    asked when the run succeeds), and a list that came back empty is more likely a wrong
    account than everyone gone."""
    return run.resource == "people" and run.full and bool(run.remote_total)


def mark_gone_people(run: SyncRun) -> int:
    """Mark the account's person links this run did not list; returns how many.

    Links made or pushed since the run started are left alone: their person may have been
    created after the run read that part of the list.
    """
    started = run.started_at
    not_since = Q(last_pulled_at__isnull=True) | Q(last_pulled_at__lt=started)
    not_pushed = Q(last_pushed_at__isnull=True) | Q(last_pushed_at__lt=started)
    return RemoteLink.objects.filter(
        not_since,
        not_pushed,
        account_id=run.account_id,
        content_type_id__any=_people_types(),
        remote_gone_at__isnull=True,
        created_at__lt=started,
    ).update(remote_gone_at=timezone.now())
