"""Every exchange table, imported in one place (migrations/registry.py imports this module)."""

from exchange.applications.models import Application, ApplicationEvent
from exchange.delivery.models import Export
from exchange.feed.models import FeedChange, FeedCounter
from exchange.grants.models import Grant, GrantEvent
from exchange.submissions.models import Submission, SubmissionRow
from exchange.webhooks.models import Delivery, Subscription

__all__ = ["Application", "ApplicationEvent", "Delivery", "Export", "FeedChange", "FeedCounter", "Grant", "GrantEvent",
           "Submission", "SubmissionRow", "Subscription"]
