"""Where the `limits` counters live: process memory by default, Redis when `CPIP_REDIS_URL` is set.

The open-data rate limiter (gateway) and the grant quotas (exchange) both count through this, so one
setting moves every counter to the store that the gateway pods share.
"""

from __future__ import annotations

from limits.aio.storage import MemoryStorage, Storage
from limits.storage import storage_from_string

from cpip.settings import ConfigurationError


def counter_storage(redis_url: str | None) -> Storage:
    if not redis_url:
        return MemoryStorage()
    # limits names its asyncio back ends async+redis://…; redis-py is the client we ship.
    url = redis_url if redis_url.startswith("async+") else "async+" + redis_url
    storage = storage_from_string(url, implementation="redispy")
    if not isinstance(storage, Storage):
        raise ConfigurationError(f"CPIP_REDIS_URL={redis_url!r} does not name an asyncio Redis storage")
    return storage
