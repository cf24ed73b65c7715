"""Who may read a base database through its own API.

The department that provides a base database (resources.PROVIDERS: population psb, legal entities samr,
spatial nrb, buildings hurd, economy stats) reads it in full here. Population records are personal data:
any other department reads them only through a grant of the exchange (fields, rows, masking, quota), never
here — a consumer must not see fields or rows outside a grant. The other bases hold registry and spatial data
and are served to every holder of basebase:read.
"""

from __future__ import annotations

from basebases.resources import PROVIDERS
from cpip.errors import Forbidden
from security.principals import Principal

PERSONAL_BASES = frozenset({"population"})


class GrantRequired(Forbidden):
    """Personal base-database records are read by other departments through an exchange grant only."""

    slug, title = "grant-required", "A grant is needed to read these records"


def reads_in_full(principal: Principal, base: str) -> bool:
    provider = PROVIDERS.get(base)
    return provider is not None and principal.department == provider


def check_direct_read(principal: Principal, base: str) -> bool:
    """Whether `principal` reads `base` in full; raises GrantRequired where only a grant may open it."""
    if reads_in_full(principal, base):
        return True
    if base in PERSONAL_BASES:
        raise GrantRequired(
            f"{base} records are provided by department {PROVIDERS[base]!r}; other departments apply for a "
            "grant (POST /api/v1/exchange/applications) and read them through the exchange",
            base=base, provider=PROVIDERS[base])
    return False
