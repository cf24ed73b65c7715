"""Who is calling: a person, a department's service account, an open-data key holder, or nobody."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PrincipalKind(StrEnum):
    person = "person"
    service_account = "service_account"
    api_key = "api_key"
    anonymous = "anonymous"


class Role(StrEnum):
    provider = "provider"
    consumer = "consumer"
    open_data_developer = "open-data-developer"
    security_officer = "security-officer"
    evaluator = "evaluator"
    platform_admin = "platform-admin"


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    subject: str
    username: str | None = None
    client_id: str | None = None
    department: str | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)
    api_key_id: str | None = None
    ip: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.kind is not PrincipalKind.anonymous

    def has_role(self, role: Role) -> bool:
        return role in self.roles


def anonymous(ip: str | None = None) -> Principal:
    return Principal(kind=PrincipalKind.anonymous, subject="anonymous", ip=ip)
