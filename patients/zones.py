"""Which time zones a person may live in. Pure: no Django here.

A positive rule: an IANA zone named Region/City in one of the regions below, or UTC. The tz
database also holds names that are not places: `localtime` (the server's own clock),
`Factory`, `posixrules`, fixed offsets such as `Etc/GMT+5` and `EST5EDT`, and old aliases
such as `US/Eastern` or `Japan`; none of them is offered or accepted for a new choice.
"""

from __future__ import annotations

import zoneinfo
from functools import cache

REGIONS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


@cache
def livable_zones() -> frozenset[str]:
    names = {
        name for name in zoneinfo.available_timezones() if name.partition("/")[0] in REGIONS and name.partition("/")[2]
    }
    return frozenset(names | {"UTC"})


def is_livable(name) -> bool:
    return isinstance(name, str) and name in livable_zones()
