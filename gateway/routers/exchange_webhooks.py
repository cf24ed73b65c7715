"""REST API of webhook subscriptions: subscribe, list, disable, see deliveries, replay a dead letter."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from exchange.auditing import record_step
from exchange.webhooks import service as webhooks
from exchange.webhooks.service import DeliveryOut, SubscriptionCreate, SubscriptionOut
from gateway.auth import requires
from gateway.deps import SessionDep
from gateway.problems import PROBLEM_JSON
from gateway.routers.exchange import where
from security.permissions import Permission
from security.principals import Principal

router = APIRouter(prefix="/api/v1/exchange", tags=["exchange webhooks"])
# Subscribing is for department accounts that read granted data (data.changed) or take part in the workflow.
Subscriber = Annotated[Principal, Depends(requires(Permission.basebase_read))]
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"content": {PROBLEM_JSON: {}}} for c in (401, 403, 404, 422)}


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED, response_model=SubscriptionOut,
             responses=_ERRORS,
             summary="Subscribe an https URL (public addresses only) to events; the signing secret is shown only here")
async def subscribe(body: SubscriptionCreate, principal: Subscriber, session: SessionDep, request: Request,
                    response: Response) -> SubscriptionOut:
    # The SSRF check resolves the URL's host: off the event loop, before the transaction's work.
    target = await asyncio.to_thread(webhooks.check_subscription_url, body.url)

    def run(s: Session) -> SubscriptionOut:
        made = webhooks.create_subscription(s, principal, body, target)
        sub = made.subscription
        record_step(s, principal, request.app.state.settings, action="exchange.subscription.create",
                    resource=sub.resource_code or "exchange:events", filters={"subscription": sub.id,
                                                                            "events": sub.events}, **where(request))
        return webhooks.subscription_out(sub, secret=made.secret)

    out = await session.run_sync(run)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Location"] = f"/api/v1/exchange/subscriptions/{out.id}"
    return out


@router.get("/subscriptions", response_model=list[SubscriptionOut], responses=_ERRORS,
            summary="Your department's subscriptions")
async def list_subscriptions(principal: Subscriber, session: SessionDep) -> list[SubscriptionOut]:
    found = await session.run_sync(webhooks.list_subscriptions, principal)
    return [webhooks.subscription_out(s) for s in found]


@router.delete("/subscriptions/{subscription_id}", response_model=SubscriptionOut, responses=_ERRORS,
               summary="Disable a subscription (pending deliveries are dropped as dead)")
async def disable(subscription_id: str, principal: Subscriber, session: SessionDep,
                  request: Request) -> SubscriptionOut:
    def run(s: Session) -> SubscriptionOut:
        sub = webhooks.disable_subscription(s, principal, subscription_id)
        record_step(s, principal, request.app.state.settings, action="exchange.subscription.disable",
                    resource=sub.resource_code or "exchange:events", filters={"subscription": sub.id},
                    **where(request))
        return webhooks.subscription_out(sub)

    return await session.run_sync(run)


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryOut], responses=_ERRORS,
            summary="Deliveries of a subscription, newest first; status=dead lists the dead letters")
async def deliveries(
    subscription_id: str, principal: Subscriber, session: SessionDep,
    status_: Annotated[str | None, Query(alias="status", pattern="^(pending|delivered|dead)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    found = await session.run_sync(lambda s: webhooks.list_deliveries(s, principal, subscription_id, status_, limit))
    return [webhooks.delivery_out(d) for d in found]


@router.post("/deliveries/{delivery_id}/replay", response_model=DeliveryOut, responses=_ERRORS,
             summary="Deliver again (a dead letter, or an event the receiver lost), with a fresh round of attempts")
async def replay(delivery_id: str, principal: Subscriber, session: SessionDep, request: Request) -> DeliveryOut:
    def run(s: Session) -> DeliveryOut:
        delivery = webhooks.replay(s, principal, delivery_id)
        record_step(s, principal, request.app.state.settings, action="exchange.delivery.replay",
                    resource="exchange:events", filters={"delivery": delivery.id}, **where(request))
        return webhooks.delivery_out(delivery)

    return await session.run_sync(run)
