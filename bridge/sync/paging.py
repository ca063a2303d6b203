"""A run's walk through one list: from its saved offset to the end, a batch at a time.

:func:`read_resource` reads the run's resource as the provider declares it (a paged list with
its window's params, or one unpaged call); :func:`read_pages` walks a paged one. The stop
rules are ``integrations.paging``'s, the ones the provider client's own iteration follows;
this module adds what a run needs on top: starting at the run's ``next_offset``, suspending
between pages when a task's time is up, and writing consecutive pages together
(``bridge.sync.pipeline``).
"""

from __future__ import annotations

from integrations import paging as rules

from . import tunables
from .context import Context, Suspended
from .pipeline import Handle, Steps, open_pipeline


def read_resource(ctx: Context, handle: Handle | None = None, steps: Steps | None = None):
    """Read the run's resource as its declaration says, handing the records to ``handle``
    (or ``steps``).

    A paged list (``path``) is read by :func:`read_pages`, with the window's params when the
    resource is windowed and the declaration's parser. An unpaged one (``list_all``) is one
    call: its records are handled at once and counted as one page.
    """
    resource = ctx.resource
    if resource.path is None:
        items = ctx.read_all()
        ctx.run.remote_total = len(items)
        (steps.in_turn if steps is not None else handle)(ctx, items)
        ctx.page_done()
        return
    read_pages(ctx, resource.path, ctx.window_params(), ctx.parser(), handle, steps)


def read_pages(
    ctx: Context, path: str, params, parse, handle: Handle | None = None, steps: Steps | None = None
):
    """Read a list page by page from the run's offset, handing the items to ``handle``.

    Stops on an empty or short page or when the provider's count is reached, and refuses a page
    that repeats the previous one (a server ignoring the offset): ``integrations.paging``.
    Between pages, when the task's time is up, it raises Suspended with the offset saved.

    The provider is asked for small pages (Leeloo's document advises it), but the database is
    written in batches of ``BRIDGE_SYNC_WRITE_BATCH`` records: consecutive pages are handled
    together, in one transaction with the run's offset past them, so a run that dies resumes
    exactly after what it wrote. A page that fails to arrive still leaves the pages before it
    written. Pages are read ahead while a batch is written when the run holds a spare slot of
    the account's budget. Items are handled strictly in order.

    ``steps``, given in place of ``handle``, splits the handling in three, so that on
    PostgreSQL batches are written on other connections while the next one is prepared
    (``bridge.sync.pipeline.WritePipeline``).
    """
    size, batch_size = tunables.page_size(), tunables.write_batch()
    offset, previous = ctx.run.next_offset, None
    ahead = 2 * (batch_size // size) + 1
    with open_pipeline(ctx, path, params, parse, handle, steps, size=size, ahead=ahead) as pipe:
        while True:
            try:
                page = pipe.page(offset)
                ids = [item.get("remote_id") for item in page.items]  # before handle() adds
                rules.refuse_repeat(ctx.client.name, path, offset, ids, previous)
            except Exception:
                pipe.flush()  # what arrived before the failing page is kept
                raise
            total = page.listed_total
            if total is not None:
                ctx.run.remote_total = int(total)
            previous = ids
            offset, last = rules.next_offset(page, offset, size)
            if page.items:
                pipe.add(page.items, offset)
            if last or pipe.waiting >= batch_size or ctx.out_of_time():
                pipe.flush()
            if last:
                return
            if ctx.out_of_time():
                raise Suspended
