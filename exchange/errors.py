"""Problem types of the exchange (each becomes application/problem+json with its own stable `type`)."""

from __future__ import annotations

from cpip.errors import Conflict, Forbidden, NotFound, TooManyRequests, ValidationFailed


class NotShareable(ValidationFailed):
    """The resource is 不予共享: the law or policy named in its catalogue entry forbids sharing it, so no
    application can be made."""

    slug, title = "exchange-not-shareable", "The resource is not shareable (不予共享)"


class ResourceNotFound(NotFound):
    slug, title = "exchange-resource-not-found", "No such resource"


class ApplicationNotFound(NotFound):
    slug, title = "exchange-application-not-found", "No such application"


class GrantNotFound(NotFound):
    slug, title = "exchange-grant-not-found", "No such grant"


class ApplicationStateConflict(Conflict):
    """The application is not in a state that allows this step (e.g. it was already decided)."""

    slug, title = "exchange-application-state", "Not possible in the application's current state"


class GrantStateConflict(Conflict):
    slug, title = "exchange-grant-state", "Not possible in the grant's current state"


class NotYourDepartment(Forbidden):
    """Only the provider department decides on its resources; only the consumer department uses its grants."""

    slug, title = "exchange-other-department", "This belongs to another department"


class NoGrant(Forbidden):
    """The caller's department holds no grant for the resource: apply for access first."""

    slug, title = "exchange-no-grant", "No grant for this resource"


class GrantNotEffective(Forbidden):
    """The grant exists but is suspended, revoked, expired or not yet valid."""

    slug, title = "exchange-grant-not-effective", "The grant does not allow access now"


class FieldNotGranted(Forbidden):
    """A requested field is not part of the grant; it is never delivered, masked or not."""

    slug, title = "exchange-field-not-granted", "Field outside the grant"


class QuotaExceeded(TooManyRequests):
    """The grant's daily quota of requests or records is used up; `Retry-After` says when it resets."""

    slug, title = "exchange-quota-exceeded", "Grant quota exceeded"


class NotQueryable(Conflict):
    """The catalogue entry is not backed by data the platform holds (e.g. shared by mail or media)."""

    slug, title = "exchange-not-queryable", "The resource has no data on the platform"


class SubscriptionNotFound(NotFound):
    slug, title = "exchange-subscription-not-found", "No such subscription"


class DeliveryNotFound(NotFound):
    slug, title = "exchange-delivery-not-found", "No such webhook delivery"
