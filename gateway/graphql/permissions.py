"""Deny by default in GraphQL: every root field names the permission it needs, or is listed as public.

    @strawberry.field(permission_classes=[needs(Permission.basebase_read)])

The principal comes from the context, resolved by the same code as REST (gateway/auth.py).
"""

from __future__ import annotations

from typing import Any

from strawberry import Info
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.permission import BasePermission

from security.permissions import Permission, has_permission

# Root fields anyone may call, each with the reason it returns no protected data ("Type.field": reason).
PUBLIC_FIELDS: dict[str, str] = {
    "Query.platform": "version and environment of this instance; no data",
}

_CLASSES: dict[Permission, type[BasePermission]] = {}


class PermissionCheck(BasePermission):
    """Base of the classes `needs()` makes; `permission` is what the field demands."""

    permission: Permission

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        if has_permission(principal, self.permission):
            return True
        # Raised here rather than through `message`, which is shared by every request using this field.
        code = "FORBIDDEN" if principal.is_authenticated else "UNAUTHENTICATED"
        detail = (f"your account does not hold the {self.permission.value} permission" if principal.is_authenticated
                  else f"this needs the {self.permission.value} permission: sign in with a bearer token")
        raise StrawberryGraphQLError(detail, extensions={"code": code, "permission": self.permission.value})


def needs(permission: Permission) -> type[BasePermission]:
    """The permission class for fields that need `permission` (one class per permission)."""
    cls = _CLASSES.get(permission)
    if cls is None:
        # The class name becomes the schema directive shown in the SDL, e.g. @RequiresBasebaseRead.
        name = "Requires" + "".join(part.capitalize() for part in permission.name.split("_"))
        cls = type(name, (PermissionCheck,), {"permission": permission, "__module__": __name__})
        _CLASSES[permission] = cls
    return cls


def field_permission(permission_classes: list[type[BasePermission]]) -> Permission | None:
    """The permission a field's permission classes demand, if one of them came from `needs()`."""
    for cls in permission_classes:
        if isinstance(cls, type) and issubclass(cls, PermissionCheck) and hasattr(cls, "permission"):
            return cls.permission
    return None
