"""Deny by default: a permission is granted only through a role listed here.

Roles follow GB/T 39477-2020's separation of administration, audit and operation: no role set combines
`platform-admin` with `security-officer`.
"""

from __future__ import annotations

from enum import StrEnum

from security.principals import Principal, PrincipalKind, Role


class Permission(StrEnum):
    open_data_read = "open-data:read"            # 无条件开放 resources; anonymous within a per-IP limit
    catalogue_read = "catalogue:read"            # entries the principal may see
    catalogue_write = "catalogue:write"          # own department's entries
    basebase_read = "basebase:read"              # base-database records, further limited by grants
    basebase_submit = "basebase:submit"          # a provider's own base database
    exchange_apply = "exchange:apply"
    exchange_review = "exchange:review"
    audit_read = "audit:read"
    indicators_read = "indicators:read"
    admin = "platform:admin"
    api_keys_manage = "api-keys:manage"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.provider: frozenset({Permission.catalogue_read, Permission.catalogue_write, Permission.basebase_read,
                              Permission.basebase_submit, Permission.exchange_review, Permission.open_data_read}),
    Role.consumer: frozenset({Permission.catalogue_read, Permission.basebase_read, Permission.exchange_apply,
                              Permission.open_data_read}),
    Role.open_data_developer: frozenset({Permission.open_data_read, Permission.catalogue_read,
                                         Permission.api_keys_manage}),
    Role.security_officer: frozenset({Permission.audit_read, Permission.catalogue_read}),
    Role.evaluator: frozenset({Permission.indicators_read, Permission.catalogue_read}),
    Role.platform_admin: frozenset({Permission.admin, Permission.catalogue_read}),
}

# What a caller holds with no token at all, or with an open-data API key.
ANONYMOUS_PERMISSIONS = frozenset({Permission.open_data_read})
API_KEY_PERMISSIONS = frozenset({Permission.open_data_read, Permission.catalogue_read})


def permissions_of(principal: Principal) -> frozenset[Permission]:
    if principal.kind is PrincipalKind.anonymous:
        return ANONYMOUS_PERMISSIONS
    if principal.kind is PrincipalKind.api_key:
        return API_KEY_PERMISSIONS
    # What anyone may do without a token, a signed-in person or department may do too: open data is open.
    granted: set[Permission] = set(ANONYMOUS_PERMISSIONS)
    for role in principal.roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


def has_permission(principal: Principal, permission: Permission) -> bool:
    return permission in permissions_of(principal)
