"""Leeloo.ai (messaging CRM): API v2, ``X-Leeloo-AuthToken`` header, ``{"status": 1}`` envelope.

One package, one role a module:

- :mod:`.client` -- :class:`LeelooProvider`: auth, errors, the envelope, paging, one small
  method per endpoint of the v2 reference, named after what it does;
- :mod:`.operations` -- the ``op_*`` write operations the outbox asks for by name;
- :mod:`.options` -- the push options, account options and operations staff see;
- :mod:`.payloads` -- request bodies and forms built from the bridge's plain records;
- :mod:`.parsing` -- Leeloo's items as plain dicts for the bridge's mirror models and the sync;
- :mod:`.syncs` -- the seven resources the bridge syncs, and how each is read (``SYNCS``);
- :mod:`.wire` -- the envelope, a page, dates, prices, ids and error reasons.

Everything other code imports is re-exported here, so ``integrations.leeloo.LeelooProvider``
(the registry's path) and ``from integrations.leeloo import parse_person`` keep working.

Quirks of the document, recorded where they matter: several writes are form-data, not JSON;
``POST /people`` answers with a communication channel whose ``person_id`` is the person; the
reference's list examples disagree on what ``filteredCount`` means; all dates are UTC.
"""

from .client import (
    LeelooProvider,
)
from .operations import (
    LeelooOperations,
)
from .options import (
    ACCOUNT_OPTIONS,
    CHANNEL,
    OPERATIONS,
    PEOPLE,
    PUSH_OPTIONS,
    TAG_ID,
    TAG_NAME,
)
from .parsing import (
    GENDERS,
    SYNC_PERSON_FIELDS,
    parse_channel,
    parse_comment,
    parse_connection,
    parse_custom_field_types,
    parse_custom_fields,
    parse_leadgen_tool,
    parse_message,
    parse_order,
    parse_person,
    parse_person_keyed,
    parse_stats,
    parse_tag,
    parse_template,
    parse_template_category,
    parse_traffic_source,
    parse_tunnel,
    parse_user,
    split_name,
)
from .payloads import (
    CALL_FIELDS,
    CALL_STATUSES,
    CALL_TYPES,
    CUSTOM_FIELD_TYPES,
    NO_RECORDING,
    ORDER_UPDATE_STATUSES,
    build_call_form,
    build_custom_fields,
    build_order_update_form,
    convert_custom_value,
    parse_variables,
    person_fields,
    record_kind,
)
from .syncs import SYNCS
from .wire import (
    API,
    EVERYONE_SINCE,
    Envelope,
    Page,
    format_datetime,
    format_payment_date,
    format_price,
    format_window_bound,
    leeloo_message,
    parse_datetime,
    parse_decimal,
)

__all__ = [
    "ACCOUNT_OPTIONS",
    "API",
    "CALL_FIELDS",
    "CALL_STATUSES",
    "CALL_TYPES",
    "CHANNEL",
    "CUSTOM_FIELD_TYPES",
    "EVERYONE_SINCE",
    "Envelope",
    "GENDERS",
    "LeelooOperations",
    "LeelooProvider",
    "NO_RECORDING",
    "OPERATIONS",
    "ORDER_UPDATE_STATUSES",
    "PEOPLE",
    "PUSH_OPTIONS",
    "Page",
    "SYNCS",
    "SYNC_PERSON_FIELDS",
    "TAG_ID",
    "TAG_NAME",
    "build_call_form",
    "build_custom_fields",
    "build_order_update_form",
    "convert_custom_value",
    "format_datetime",
    "format_payment_date",
    "format_price",
    "format_window_bound",
    "leeloo_message",
    "parse_channel",
    "parse_comment",
    "parse_connection",
    "parse_custom_field_types",
    "parse_custom_fields",
    "parse_datetime",
    "parse_decimal",
    "parse_leadgen_tool",
    "parse_message",
    "parse_order",
    "parse_person",
    "parse_person_keyed",
    "parse_stats",
    "parse_tag",
    "parse_template",
    "parse_template_category",
    "parse_traffic_source",
    "parse_tunnel",
    "parse_user",
    "parse_variables",
    "person_fields",
    "record_kind",
    "split_name",
]
