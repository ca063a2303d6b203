"""A rule's conditions checked against a lead, in plain Python on rows loaded once.

The enabled rules are read with their targets, accounts and tags in three queries
(:func:`load_rules`); a batch of leads is read with contacts and tags in two. Each condition
left blank is not checked; the given ones are ANDed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Max, Q

from bridge.models import Lead, RoutingRule, RuleTarget


@dataclass(frozen=True)
class LeadFacts:
    """What the conditions look at, from a lead and its contact."""

    source: str
    product_reference: str
    product_title: str
    tag_ids: frozenset[int]
    country: str
    has_phone: bool
    has_email: bool


def facts_of(lead: Lead) -> LeadFacts:
    """A lead's facts (its contact's tags prefetched: ``load_leads``)."""
    contact = lead.contact
    return LeadFacts(
        source=(lead.source or "").strip().lower(),
        product_reference=(lead.product_reference or "").lower(),
        product_title=(lead.product_title or "").lower(),
        tag_ids=frozenset(tag.pk for tag in contact.tags.all()),
        country=(contact.country or "").upper(),
        has_phone=bool(contact.phone),
        has_email=bool(contact.email),
    )


@dataclass
class LoadedRule:
    """A rule with what matching it needs: its targets (accounts loaded) and tag ids."""

    rule: RoutingRule
    targets: list[RuleTarget]
    tag_ids: frozenset[int] = field(default_factory=frozenset)
    sources: frozenset[str] = field(default_factory=frozenset)
    countries: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, rule: RoutingRule) -> LoadedRule:
        return cls(
            rule=rule,
            targets=list(rule.targets.all()),
            tag_ids=frozenset(tag.pk for tag in rule.tags.all()),
            sources=frozenset(source.lower() for source in rule.source_list),
            countries=frozenset(rule.country_list),
        )

    def failed_conditions(self, facts: LeadFacts) -> list[str]:
        """The conditions this lead does not meet, in words; empty when the rule matches."""
        rule, failed = self.rule, []
        if self.sources and facts.source not in self.sources:
            failed.append("source")
        reference = rule.product_reference_contains.lower()
        if reference and reference not in facts.product_reference:
            failed.append("product reference")
        title = rule.product_title_contains.lower()
        if title and title not in facts.product_title:
            failed.append("product title")
        if self.tag_ids and not (self.tag_ids & facts.tag_ids):
            failed.append("tags")
        if self.countries and facts.country not in self.countries:
            failed.append("country")
        if rule.has_phone is not None and rule.has_phone != facts.has_phone:
            failed.append("phone")
        if rule.has_email is not None and rule.has_email != facts.has_email:
            failed.append("email")
        return failed

    def matches(self, facts: LeadFacts) -> bool:
        return not self.failed_conditions(facts)


def load_rules(queryset=None) -> list[LoadedRule]:
    """The enabled rules in order (or those of ``queryset``), ready to match.

    The enabled rules are kept in this process between calls while :func:`rules_version` is
    unchanged: two small queries per routed batch instead of five (routing runs in the
    request that saved the lead, so its cost is the intake's).
    """
    global _loaded
    if queryset is not None:
        return _read(queryset)
    version = rules_version()
    cached = _loaded
    if cached is not None and cached[0] == version:
        return cached[1]
    rules = _read(RoutingRule.objects.filter(enabled=True))
    _loaded = (version, rules)
    return rules


def _read(queryset) -> list[LoadedRule]:
    rules = queryset.order_by("order", "id").prefetch_related("targets__account", "tags")
    return [LoadedRule.of(rule) for rule in rules]


#: (version, rules) as last read by :func:`load_rules` in this process.
_loaded: tuple[tuple, list[LoadedRule]] | None = None


def rules_version() -> tuple:
    """A fingerprint of everything a loaded rule holds, in two queries.

    Rules (how many, how many enabled, the newest id and change), their targets (how many, and
    their accounts' latest change) and their tag links. Saving or deleting a target and
    changing a rule's tags touch the rule's ``updated_at`` (``RuleTarget.save``,
    ``signals.rule_tags_changed``), so an edited option is seen at once.
    """
    rules = RoutingRule.objects.order_by().aggregate(
        count=Count("id", distinct=True),
        enabled=Count("id", distinct=True, filter=Q(enabled=True)),
        last=Max("id"),
        changed=Max("updated_at"),
        target_count=Count("targets", distinct=True),
        accounts_changed=Max("targets__account__updated_at"),
    )
    tag_links = RoutingRule.tags.through.objects.count()
    return (*rules.values(), tag_links)


def load_leads(queryset) -> list[Lead]:
    """Leads with their contacts and the contacts' tags, for :func:`facts_of`."""
    return list(queryset.select_related("contact").prefetch_related("contact__tags"))
