"""Who may see which catalogue entry. One definition, applied by every list, search back end and export.

* A principal with `catalogue:read` (a person or a department's service account) sees published entries
  except 不予共享 ones, plus every entry of its own department whatever its state (drafts, under review,
  withdrawn, 不予共享).
* An open-data key holder or an anonymous caller (`open-data:read` only) sees published 无条件开放 entries.
* Anyone else sees nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_

from catalogue.domains import EntryStatus, OpenType, ShareType
from security.permissions import Permission, permissions_of
from security.principals import Principal, PrincipalKind


class Scope(StrEnum):
    catalogue = "catalogue"  # government readers
    open = "open"            # the public: open data only
    none = "none"


@dataclass(frozen=True)
class Viewer:
    scope: Scope
    department: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        granted = permissions_of(principal)
        reader = principal.kind in (PrincipalKind.person, PrincipalKind.service_account)
        if reader and Permission.catalogue_read in granted:
            return cls(Scope.catalogue, principal.department)
        if Permission.open_data_read in granted or Permission.catalogue_read in granted:
            return cls(Scope.open)
        return cls(Scope.none)

    def sees(self, *, status: str, share_type: str, open_type: str, department: str) -> bool:
        if self.scope is Scope.catalogue:
            if self.department is not None and department == self.department:
                return True
            return status == EntryStatus.published and share_type != ShareType.none
        if self.scope is Scope.open:
            return status == EntryStatus.published and open_type == OpenType.unconditional
        return False

    def clause(self, status: Any, share_type: Any, open_type: Any, department: Any, *,
               own_department: Any = None) -> ColumnElement[bool]:
        """The same rule as a SQL condition over the given columns (entries or search documents).

        `own_department` may stand in for the viewer's department (a bind parameter, so one statement serves
        every department)."""
        if self.scope is Scope.catalogue:
            shared = and_(status == EntryStatus.published.value, share_type != ShareType.none.value)
            if self.department is None:
                return shared
            return or_(shared, department == (self.department if own_department is None else own_department))
        if self.scope is Scope.open:
            return and_(status == EntryStatus.published.value, open_type == OpenType.unconditional.value)
        return false()

    def es_filter(self) -> dict[str, Any]:
        """The same rule as an Elasticsearch filter clause."""
        published = {"term": {"status": EntryStatus.published.value}}
        if self.scope is Scope.catalogue:
            shared: dict[str, Any] = {"bool": {"filter": [published], "must_not": [
                {"term": {"share_type": ShareType.none.value}}]}}
            if self.department is None:
                return shared
            return {"bool": {"should": [shared, {"term": {"department_code": self.department}}],
                             "minimum_should_match": 1}}
        if self.scope is Scope.open:
            return {"bool": {"filter": [published, {"term": {"open_type": OpenType.unconditional.value}}]}}
        return {"bool": {"must_not": [{"match_all": {}}]}}
