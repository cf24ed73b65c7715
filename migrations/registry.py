"""Imports every package's ORM models so `Base.metadata` is complete (autogenerate, test checks)."""

from cpip import jobs as _jobs  # noqa: F401
from cpip.db import Base

metadata = Base.metadata
