"""People gone from Leeloo: the people a full run lists, and those it marks gone at its end.

Every people run stamps the links of the people it read and compared
(:func:`stamp_listed_people`), and a person listed again is no longer marked gone; a person
unchanged since its last pull is left as it is (``bridge.sync.fingerprints``: a link marked
gone is never settled so). A full run records those it listed without stamping them
(:func:`record_listed`, ``ListedPerson``). At the end of a complete full people run (one that
read the list to its end; a failed or interrupted run never gets there) the account's person
links it neither listed nor stamped are marked gone (``RemoteLink.remote_gone_at``,
:func:`mark_gone_people`): the contact or lead stays. The run's listed rows go with its end
(:func:`forget_listed`).
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from bridge.db import copies, tuning
from bridge.models import Contact, Lead, ListedPerson, ProviderAccount, RemoteLink, SyncRun

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


def record_listed(run: SyncRun, remote_ids: list[str]) -> None:
    """Remember people a full run listed without stamping their links, for
    :func:`mark_gone_people` (in the batch's transaction: rolled back with it, and read again
    by the run's next try)."""
    if run.full:
        copies.insert_column(ListedPerson, "remote_id", remote_ids, run_id=run.pk)


def forget_listed(run: SyncRun) -> int:
    """Drop a finished people run's listed people, and those of runs no longer running (a
    worker that died mid-run leaves its rows behind: the run is failed by its takeover).
    Other resources' runs list no people, and leave the table to the people runs."""
    if run.resource != "people":
        return 0
    running = SyncRun.objects.filter(pk=OuterRef("run_id"), status=SyncRun.Status.RUNNING)
    stale = ListedPerson.objects.filter(Q(run_id=run.pk) | ~Exists(running))
    deleted, _ = stale.delete()
    return deleted


def may_mark_gone(run: SyncRun) -> bool:
    """Only a full people run that read the whole list knows who is no longer in it (this is
    asked when the run succeeds), and a list that came back empty is more likely a wrong
    account than everyone gone."""
    return run.resource == "people" and run.full and bool(run.remote_total)


def mark_gone_people(run: SyncRun) -> int:
    """Mark the account's person links this run did not list; returns how many.

    Links made, pushed or stamped since the run started are left alone: their person may have
    been created after the run read that part of the list. One anti-join with the run's
    listed people (``NOT EXISTS``: a hash anti-join, however many were listed).
    """
    started = run.started_at
    not_since = Q(last_pulled_at__isnull=True) | Q(last_pulled_at__lt=started)
    not_pushed = Q(last_pushed_at__isnull=True) | Q(last_pushed_at__lt=started)
    # Fresh statistics, or a run's million new rows look like none and the anti-join is
    # planned as a scan of them for each link.
    tuning.analyze([ListedPerson])
    listed = ListedPerson.objects.filter(run_id=run.pk, remote_id=OuterRef("remote_id"))
    return RemoteLink.objects.filter(
        not_since,
        not_pushed,
        ~Exists(listed),
        account_id=run.account_id,
        content_type_id__any=_people_types(),
        remote_gone_at__isnull=True,
        created_at__lt=started,
    ).update(remote_gone_at=timezone.now())
