"""The department register (部门): providers and consumers of resources. The catalogue owns it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError

from basebases.demo_city import CITY
from catalogue.models import CatalogueEntry, Department
from catalogue.schemas import DepartmentIn, DepartmentOut
from catalogue.search.indexer import after_change
from cpip.clock import utcnow
from cpip.errors import NotFound, ValidationFailed

# The demo city's departments (the codes the demo realm's users and service accounts carry).
DEMO_REGION = CITY[0]
DEMO_DEPARTMENTS: tuple[DepartmentIn, ...] = tuple(
    DepartmentIn(code=code, name=name, region=DEMO_REGION) for code, name in (
        ("psb", "市公安局"), ("samr", "市市场监督管理局"), ("nrb", "市自然资源和规划局"),
        ("hurd", "市住房和城乡建设局"), ("stats", "市统计局"), ("civil", "市民政局"),
    )
)


class DepartmentNotFound(NotFound):
    slug, title = "department-not-found", "No such department"


def _invalid(field: str, message: str, rule: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": f"body.{field}", "message": message, "rule": rule}])


def department_out(department: Department) -> DepartmentOut:
    return DepartmentOut(code=department.code, name=department.name, parent=department.parent_code,
                         region=department.region_code, credit_code=department.credit_code)


def list_departments(session: Session) -> list[Department]:
    return list(session.scalars(select(Department).order_by(Department.code)))


def get_department(session: Session, code: str) -> Department:
    department = session.get(Department, code)
    if department is None:
        raise DepartmentNotFound(f"no department {code!r}")
    return department


def _ancestors(session: Session, code: str | None) -> list[str]:
    seen: list[str] = []
    while code is not None and code not in seen:
        seen.append(code)
        parent = session.get(Department, code)
        code = parent.parent_code if parent else None
    return seen


def upsert_department(session: Session, data: DepartmentIn) -> tuple[Department, bool]:
    """Register a department or update it; returns (department, created)."""
    if data.credit_code is not None:
        try:
            uscc.validate(data.credit_code)
        except StdnumError as exc:
            raise _invalid("credit_code", f"not a valid 统一社会信用代码: {exc}", "uscc") from exc
    if data.parent is not None:
        if session.get(Department, data.parent) is None:
            raise _invalid("parent", f"parent department {data.parent!r} is not registered", "unknown_department")
        if data.code in _ancestors(session, data.parent):
            raise _invalid("parent", "a department cannot be its own ancestor", "cycle")
    now = utcnow()
    department = session.get(Department, data.code)
    created = department is None
    if department is None:
        department = Department(code=data.code, created_at=now)
        session.add(department)
    renamed = not created and department.name != data.name
    department.name, department.parent_code = data.name, data.parent
    department.region_code, department.credit_code = data.region, data.credit_code
    department.updated_at = now
    session.flush()
    if renamed:
        # The department's name is searchable text of its entries.
        ids = list(session.scalars(select(CatalogueEntry.id).where(CatalogueEntry.department_code == data.code)))
        after_change(session, ids)
    return department, created


def seed_demo_departments(session: Session) -> int:
    """Register the demo city's departments (idempotent); returns how many were new. For `cpip demo`."""
    created = 0
    for department in DEMO_DEPARTMENTS:
        if session.get(Department, department.code) is None:
            upsert_department(session, department)
            created += 1
    return created
