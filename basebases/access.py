"""Who reads a base database in full — the interim rule until grants arrive with the exchange.

The department that provides a base database (resources.PROVIDERS: population psb, legal entities samr,
spatial nrb, buildings hurd, economy stats) reads it in full. Every other caller holding basebase:read gets
personal fields (sensitivity 3 and 4) masked by their 信息项 rule. Grants will replace this decision; the
read services only take its answer.
"""

from __future__ import annotations

from basebases.resources import PROVIDERS
from security.principals import Principal


def reads_in_full(principal: Principal, base: str) -> bool:
    provider = PROVIDERS.get(base)
    return provider is not None and principal.department == provider
