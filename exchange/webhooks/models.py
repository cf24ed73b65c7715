"""Subscriptions of a department to data changes and workflow events, and every delivery of an event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cpip.db import Base


class Subscription(Base):
    __tablename__ = "exchange_subscriptions"
    __table_args__ = (Index("ix_exchange_subscriptions_department", "department", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    department: Mapped[str] = mapped_column(String(50))
    created_by: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    # The signing secret (whsec_…) is shown to the subscriber once; kept encrypted (Fernet token) under the key
    # `secret_key_id` names (exchange.webhooks.secret_box), since the platform must still be able to sign.
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    secret_key_id: Mapped[str] = mapped_column(String(32))
    events: Mapped[list[str]] = mapped_column(JSON)
    resource_code: Mapped[str | None] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Delivery(Base):
    """One event for one subscription. Its id is the `webhook-id` of every attempt, so receivers deduplicate."""

    __tablename__ = "exchange_webhook_deliveries"
    __table_args__ = (Index("ix_exchange_webhook_deliveries_subscription", "subscription_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("exchange_subscriptions.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
