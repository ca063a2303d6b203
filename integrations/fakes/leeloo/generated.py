"""A population of people made on the fly: a million people paged without holding a million.

:class:`GeneratedPeople` says who person n is (:func:`seeded_person`, the same person
``LeelooState.seed_people`` stores) from n alone, and where each sits in last-message order
(one every ``step`` from ``start``), so a window is two bisections over a virtual sequence and
a page is built from its indexes. Nothing is kept per person: a benchmark's million people
cost the fake no memory.

:class:`Merged` lists the people held in memory (the reference's examples, people created
through the API) and the generated ones in one last-message order, as ``GET /people`` pages
them: offsets count across both.

Changes: :meth:`GeneratedPeople.change` gives one person in ``every`` a new name and the
next tag set, and a later ``updated_at``, without moving its last message — what a nightly
reconcile must find (an incremental run reads by last message, so it never sees them).
Generated people are read-only otherwise: their cards can be read, and the API's writes and
filters (tags, phone, email) act on the people held in memory.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .common import SEED_TAGS, seed_phone, to_text

#: Tag sets by ``n``: one of the four tags, and every tenth non-vip person also ``vip``.
TAG_SETS = [(tag,) for tag in SEED_TAGS] + [(tag, "vip") for tag in SEED_TAGS]
ID_PATTERN = re.compile(r"5eed([0-9a-f]{20})")


def person_id(n: int) -> str:
    """Seeded or generated person n's id (shaped like Leeloo's 24-hex ids)."""
    return f"5eed{n:020x}"


def tags_of(n: int, shift: int = 0) -> tuple:
    """Person n's tags; ``shift`` moves it to another set (a changed person)."""
    return TAG_SETS[(n + shift) % 4 + (4 if n % 10 == 0 and (n + shift) % 4 else 0)]


def seeded_person(n: int, moment: str, generation: int = 0, updated: str = "") -> dict:
    """Person n as the fake stores it; ``generation`` > 0 is the person after that many
    changes (another name, the next tags; ``updated`` is when)."""
    name, tags = f"Person {n}", tags_of(n)
    if generation:
        name, tags = f"Person {n} v{generation}", tags_of(n, generation)
    return {
        "id": person_id(n),
        "name": name,
        "email": f"person{n}@example.com",
        "phone": seed_phone(n),
        "tags": tags,
        "profileImage": "NOT_DEFINED",
        "gender": "NO_DATA",
        "locale": "",
        "accounts": (),
        "subscribeHistory": (),
        "custom_fields": (),
        "contactedUsers": (),
        "orders": (),
        "created_at": moment,
        "updated_at": updated or moment,
        "lastMessageTime": moment,
    }


@dataclass
class GeneratedPeople:
    """People ``first`` … ``first + count - 1``, one last message every ``step`` from
    ``start``; one in ``every`` changed ``generation`` times (none when ``every`` is 0)."""

    first: int
    count: int
    start: datetime
    step: timedelta
    every: int = 0
    generation: int = 0

    def moment(self, n: int) -> str:
        """Person n's last-message time, as Leeloo writes it (and as the index keys sort)."""
        at = self.start + self.step * (n - self.first)
        # to_text's format, without strftime (most of a generated page's time).
        return (
            f"{at.year:04d}-{at.month:02d}-{at.day:02d}T{at.hour:02d}:{at.minute:02d}:"
            f"{at.second:02d}.{at.microsecond // 1000:03d}Z"
        )

    def listed(self, entry: tuple[str, str]) -> dict:
        """The person of a :class:`TimeIndex` entry (its time already made)."""
        return self.person(int(entry[1][4:], 16), entry[0])

    def person(self, n: int, moment: str = "") -> dict:
        if not (self.every and self.generation and n % self.every == 0):
            return seeded_person(n, moment or self.moment(n))
        moved = self.start + self.step * (n - self.first) + timedelta(days=self.generation)
        return seeded_person(n, self.moment(n), self.generation, to_text(moved))

    def number(self, remote_id: str) -> int | None:
        """The n of a generated person's id, or None when the id is not one of them."""
        match = ID_PATTERN.fullmatch(remote_id)
        if match is None:
            return None
        n = int(match.group(1), 16)
        return n if self.first <= n < self.first + self.count else None

    def by_id(self, remote_id: str) -> dict | None:
        n = self.number(remote_id)
        return None if n is None else self.person(n)

    def change(self, every: int) -> int:
        """One more change to one person in ``every`` (counting from person 0); how many."""
        self.every, self.generation = every, self.generation + 1
        return len(range(-(-self.first // every) * every, self.first + self.count, every))

    def entries(self) -> TimeIndex:
        return TimeIndex(self)


class TimeIndex:
    """The generated people as ``(lastMessageTime, id)`` entries in order, made on demand
    (a sequence ``bisect`` can search)."""

    def __init__(self, people: GeneratedPeople, low: int = 0, high: int | None = None):
        self.people, self.low = people, low
        self.high = people.count if high is None else high

    def __len__(self) -> int:
        return max(0, self.high - self.low)

    def __getitem__(self, index):
        if isinstance(index, slice):
            begin, end, _ = index.indices(len(self))
            return [self[i] for i in range(begin, end)]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        n = self.people.first + self.low + index
        return (self.people.moment(n), person_id(n))

    def window(self, first: str, last: str) -> TimeIndex:
        """The entries whose time key is in ``[first, last]``."""
        low = bisect.bisect_left(self, (first, ""))
        high = bisect.bisect_right(self, (last, "\uffff"))
        return TimeIndex(self.people, self.low + low, self.low + high)


class Merged:
    """Two sorted sequences of ``(time, id)`` entries as one, sliced without copying either:
    ``few`` is short (people held in memory), ``many`` may be a million made on demand.

    ``positions`` (where each of ``few`` stands in the merged order) may be given: a list
    route asked page after page for one window works them out once (``LeelooState``).
    """

    def __init__(self, few, many, positions: list[int] | None = None):
        self.few, self.many = list(few), many
        if positions is None:
            positions = [i + bisect.bisect_left(many, entry) for i, entry in enumerate(self.few)]
        self.positions = positions

    def __len__(self) -> int:
        return len(self.few) + len(self.many)

    def __getitem__(self, part: slice) -> list:
        begin, end, _ = part.indices(len(self))
        in_few = bisect.bisect_left(self.positions, begin)
        in_many = begin - in_few
        chosen = []
        for at in range(begin, end):
            if in_few < len(self.few) and self.positions[in_few] == at:
                chosen.append(self.few[in_few])
                in_few += 1
            else:
                chosen.append(self.many[in_many])
                in_many += 1
        return chosen
