"""Cost of security on a one-row lookup: token validation + permission check + audit write, against the same
lookup with no security at all, in one run on one server (PostgreSQL, c=16 by default).

Target (issue 3): secured throughput >= 0.6 of the unsecured one, and secured p99 <= 1.5x the unsecured p99.

Run:  .venv/bin/python -m bench.audit_overhead [--seconds 10] [--connections 16] [--database-url URL]
Default database: a fresh PostgreSQL database `cpip_bench_overhead` on postgres@127.0.0.1:5432 (dropped after).
Needs node (the development IdP, idp/) and wrk (`apt-get install wrk`; the harness installs it as root).
"""

from __future__ import annotations

import argparse
import sys
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.harness import report, server, wrk
from cpip.db import make_sync_engine
from cpip.jobs import Job, enqueue_sync
from cpip.migrate import upgrade
from cpip.settings import sync_url
from gateway.app import create_app
from gateway.audit import AuditDep
from gateway.auth import requires
from gateway.deps import SessionDep
from security.permissions import Permission
from security.principals import Principal

ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DATABASE = "cpip_bench_overhead"
Reader = Annotated[Principal, Depends(requires(Permission.basebase_read))]


def lookup_app() -> FastAPI:
    """The gateway plus the same one-row lookup twice: open, and behind the full security path."""
    app = create_app()

    async def one_row(session: SessionDep) -> dict[str, Any]:
        job = await session.scalar(select(Job).where(Job.id == 1))
        return {"id": job.id if job else None, "kind": job.kind if job else None}

    @app.get("/bench/open/one-row", openapi_extra={"x-cpip-permission": "public"})
    async def unsecured(session: SessionDep) -> dict[str, Any]:
        return await one_row(session)

    @app.get("/bench/secured/one-row")
    async def secured(principal: Reader, session: SessionDep, audit: AuditDep) -> Any:
        row = await one_row(session)
        return await audit.json(row, principal, action="bench.lookup", resource="bench", fields=["id", "kind"],
                                record_count=1, subject_ids=["110101199003071234"], filters={"id": 1})

    return app


def _database(drop_only: bool = False) -> str:
    with psycopg.connect(sync_url(ADMIN).replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        if not drop_only:
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
    return make_url(ADMIN).set(database=DATABASE).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    from tests.support.idp import start_idp

    url = args.database_url or _database()
    upgrade(url)
    engine = make_sync_engine(url=url)
    with Session(engine) as s:
        enqueue_sync(s, "bench.row", {"x": 1})
        s.commit()
    engine.dispose()
    c = args.connections
    try:
        with start_idp() as idp:
            from keycloak import KeycloakOpenID

            token = KeycloakOpenID(server_url=idp.base_url, realm_name=idp.realm, client_id="dept-psb",
                                   client_secret_key="dept-psb-dev-secret").token(
                grant_type="client_credentials")["access_token"]
            env = {"CPIP_DATABASE_URL": url, "CPIP_OIDC_SERVER_URL": idp.base_url}
            with server("bench.audit_overhead:lookup_app", env) as base:
                auth = {"Authorization": f"Bearer {token}"}
                wrk("warm-up", base + "/bench/open/one-row", seconds=2, connections=c)
                wrk("warm-up", base + "/bench/secured/one-row", seconds=2, connections=c, headers=auth)
                unsecured = wrk(f"one-row, no security (c={c})", base + "/bench/open/one-row", connections=c,
                                seconds=args.seconds)
                secured = wrk(f"one-row, token+permission+audit (c={c})", base + "/bench/secured/one-row",
                              connections=c, seconds=args.seconds, headers=auth)
            audited = _count_events(url)
    finally:
        if args.database_url is None:
            _database(drop_only=True)
    report("audit overhead (PostgreSQL)", [unsecured, secured],
           "python -m bench.audit_overhead " + " ".join(sys.argv[1:]))
    ratio = secured.requests_per_second / max(unsecured.requests_per_second, 1e-9)
    p99 = secured.p99_ms / max(unsecured.p99_ms, 1e-9)
    print(f"throughput ratio secured/unsecured: {ratio:.2f} (target >= 0.60: {'met' if ratio >= 0.6 else 'NOT met'})")
    print(f"p99 ratio secured/unsecured:        {p99:.2f} (target <= 1.50: {'met' if p99 <= 1.5 else 'NOT met'})")
    print(f"audit events written during the run: {audited:,}")


def _count_events(url: str) -> int:
    with psycopg.connect(sync_url(url).replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT count(*) FROM audit_events").fetchone()
        return int(row[0]) if row else 0


if __name__ == "__main__":
    main()
