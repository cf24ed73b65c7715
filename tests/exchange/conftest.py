"""Exchange fixtures live in tests/support/exchange_world.py, so gateway tests can use them too."""

from tests.support.exchange_world import db, pin_clock, world

__all__ = ["db", "pin_clock", "world"]
