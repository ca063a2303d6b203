"""``field__any=[…]``: the ``__in`` lookup, sent to PostgreSQL as one array parameter.

A sync page looks up its 500 phones, emails and remote ids at once. As ``IN (%s, %s, …)``
psycopg binds and quotes every value in Python and PostgreSQL plans a list of 500 constants;
as ``= ANY(%s)`` it is one array parameter, written as one array literal (docs/benchmarks.md,
"Sync"). Other databases get the plain ``IN``. Registered on every field
by ``BridgeConfig.ready``.
"""

from django.core.exceptions import EmptyResultSet, FieldError
from django.db import models
from django.db.models import Field, ForeignObject
from django.db.models.expressions import ColPairs
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In

#: Field classes (exactly these, not subclasses, which may transform values) whose database
#: value for a plain ``str`` or ``int`` is that value itself.
PLAIN_FIELDS = {
    str: (models.CharField, models.TextField, models.EmailField, models.URLField),
    int: (
        models.AutoField,
        models.BigAutoField,
        models.IntegerField,
        models.BigIntegerField,
        models.PositiveIntegerField,
        models.PositiveBigIntegerField,
    ),
}


@Field.register_lookup
class AnyOf(In):
    """``IN`` everywhere; ``= ANY(array)`` on PostgreSQL for a list of values."""

    lookup_name = "any"

    def get_prep_lookup(self):
        """The values as given when they are plain for the field (see ``PLAIN_FIELDS``).

        Django prepares an ``__in`` list value by value through the field; for a sync's 500
        phones, emails or remote ids against a text column that was a large share of each
        look-up's Python time, and gave back the very same strings. A lookup built on an
        expression not resolved yet (``AnyOf(Lower("email"), …)``) has no field to prepare
        through: Django leaves its values as they are, after asking for the field once a value,
        and ``Lower(F(…))`` answers each time with an exception (most of the email look-up's
        Python time). Here it is asked once (docs/benchmarks.md, "Sync").
        """
        if plain_values(self.rhs, resolved_output_field(self.lhs)):
            return list(self.rhs)
        return super().get_prep_lookup()

    def as_postgresql(self, compiler, connection):
        if not self.rhs_is_direct_value():  # a subquery stays a subquery
            return super().as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = list(dict.fromkeys(v for v in self.rhs if v is not None))
        if not values:
            raise EmptyResultSet
        if not plain_values(self.rhs, field):
            values = [field.get_db_prep_value(v, connection, prepared=True) for v in values]
        return f"{lhs} = ANY(%s::{field.cast_db_type(connection)}[])", [
            *lhs_params,
            array_literal(values),
        ]


def plain_values(values, field=None) -> bool:
    """True when ``values`` are all str, or all int, and ``field`` keeps such values as they
    are (None: no field yet, so nothing would prepare them)."""
    if not isinstance(values, list | tuple | set | frozenset) or not values:
        return False
    kinds = {type(value) for value in values}
    if len(kinds) != 1:
        return False
    kind = kinds.pop()
    if field is None:
        return kind in PLAIN_FIELDS
    return type(field) in PLAIN_FIELDS.get(kind, ())


def resolved_output_field(expression) -> Field | None:
    """The expression's field, or None while it cannot tell (an ``F`` not resolved yet)."""
    try:
        return expression.output_field
    except (AttributeError, FieldError):
        return None


def array_literal(values: list) -> str | list:
    """Strings or integers as one PostgreSQL array literal (``{"a","b"}``), else the list.

    One text parameter is quoted once; a list is quoted element by element in Python by the
    driver's client-side binding, which was most of a 500-key lookup's time.
    """
    if all(type(v) is int for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    if all(type(v) is str for v in values):
        quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
        return "{" + ",".join(f'"{v}"' for v in quoted) + "}"
    return values


@ForeignObject.register_lookup
class RelatedAnyOf(RelatedIn):
    """``__any`` on a foreign key (``contact_id__any``/``contact__any``): ids or instances."""

    lookup_name = "any"

    def as_postgresql(self, compiler, connection):
        if not self.rhs_is_direct_value() or isinstance(
            self.lhs, ColPairs
        ):  # ColPairs: a multi-column key
            return super().as_sql(compiler, connection)
        return AnyOf.as_postgresql(self, compiler, connection)
