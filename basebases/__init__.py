"""The five base databases (城市公共基础数据库): population, legal entities, spatial, buildings, macro economy.

Public surface: `catalogue_resources()` (the catalogue registers these), the models in `basebases.models`,
national codes in `basebases.codes`, `basebases.ingest.load_file` / `upsert_records`, and the read services
in `basebases.service`. Imports here are lazy: many packages read `basebases.codes` and should not pay for
shapely and pyproj to do so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from basebases.resources import BaseResource


def catalogue_resources() -> list[BaseResource]:
    """One entry per base resource: provider department, names, class, update cycle, formats, 信息项."""
    from basebases.resources import catalogue_resources as build

    return build()


__all__ = ["catalogue_resources"]
