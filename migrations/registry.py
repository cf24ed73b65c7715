"""Imports every package's ORM models so `Base.metadata` is complete (autogenerate, test checks)."""

from basebases import models as _basebases  # noqa: F401
from catalogue import models as _catalogue  # noqa: F401
from cpip import jobs as _jobs  # noqa: F401
from cpip.db import Base
from exchange import models as _exchange  # noqa: F401
from exchange.indicators import models as _indicators  # noqa: F401
from quality import models as _quality  # noqa: F401
from security import apikeys as _apikeys  # noqa: F401
from security.audit import models as _audit  # noqa: F401

metadata = Base.metadata
