"""`cpip audit …`: seal pending events now, verify the whole log, export an anchor, show the public key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from cpip.settings import get_settings

app = typer.Typer(help="The tamper-evident access audit log: seal, verify, anchor, public key.",
                  no_args_is_help=True)


@app.command("seal")
def seal_command(
    batch_size: Annotated[int, typer.Option(help="Events per transaction and signed checkpoint.")] = 5000,
) -> None:
    """Assign sequence numbers to unsealed events, extend the hash chain and sign a checkpoint."""
    from cpip.db import make_sync_engine
    from security.audit.sealer import seal

    engine = make_sync_engine()
    try:
        result = seal(engine, batch_size=batch_size)
    finally:
        engine.dispose()
    typer.echo(f"sealed {result.sealed} event(s); log ends at seq {result.last_seq}; "
               f"{result.checkpoints} checkpoint(s) signed")


@app.command("verify")
def verify_command(
    trust_key: Annotated[list[str] | None, typer.Option(
        "--trust-key", help="Also trust this Ed25519 public key (base64, raw 32 bytes), e.g. a rotated-out one.")]
    = None,
    workers: Annotated[int, typer.Option(
        help="Processes walking ranges between signed checkpoints in parallel (PostgreSQL; default: CPUs).")]
    = 0,
    anchor: Annotated[list[Path] | None, typer.Option(
        "--anchor", help="An anchor file from `cpip audit anchor`, kept outside the database: the log must still "
                         "reach it with the same chain hash. Repeatable.", exists=True, dir_okay=False)] = None,
) -> None:
    """Recompute the hash chain and check every signed checkpoint; exit 1 naming the first bad position."""
    from cpip.db import make_sync_engine
    from security.audit.chain import SigningKey, VerifyKey
    from security.audit.verify import Anchor, AnchorError, verify

    settings = get_settings()
    keys = [SigningKey.from_seed_b64(settings.audit_signing_key.get_secret_value()).public]
    keys += [VerifyKey.from_b64(k) for k in trust_key or []]
    anchors = []
    for path in anchor or []:
        try:
            anchors.append(Anchor.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, AnchorError) as exc:  # JSONDecodeError is a ValueError
            typer.echo(f"{path}: {exc}", err=True)
            raise typer.Exit(2) from exc
    engine = make_sync_engine()
    try:
        report = verify(engine, keys, workers=workers or os.cpu_count() or 1, anchors=anchors)
    finally:
        engine.dispose()
    typer.echo(f"{report.events} sealed event(s) up to seq {report.last_seq}, {report.checkpoints} checkpoint(s), "
               f"{len(anchors)} anchor(s), {report.unsealed} not yet sealed; checked in {report.seconds:.2f} s")
    if report.uncovered:
        typer.echo(f"note: {report.uncovered} event(s) after seq {report.last_checkpoint_seq or 0} are chained "
                   "but not yet covered by a signed checkpoint")
    first = report.first_problem
    if first is None:
        typer.echo("OK: the chain is intact and every checkpoint signature is valid")
        return
    typer.echo(f"TAMPERED: first bad position is seq {first.seq} ({first.kind}): {first.message}", err=True)
    for problem in sorted(report.problems, key=lambda p: p.seq)[1:20]:
        typer.echo(f"  also: {problem.line()}", err=True)
    raise typer.Exit(1)


@app.command("anchor")
def anchor_command(
    out: Annotated[Path | None, typer.Option(help="Write the anchor to this file (default: print it).")] = None,
) -> None:
    """Export the newest signed checkpoint as an anchor, to keep where the database's writers cannot reach.

    Deleting the newest events together with their checkpoints leaves nothing in the database to notice it;
    `cpip audit verify --anchor FILE` holds the log to every anchor kept. Seal first to cover recent events."""
    from sqlalchemy.orm import Session

    from cpip.db import make_sync_engine
    from security.audit.verify import newest_anchor

    engine = make_sync_engine()
    try:
        with Session(engine) as session:
            anchor = newest_anchor(session)
    finally:
        engine.dispose()
    if anchor is None:
        typer.echo("no signed checkpoint yet: run `cpip audit seal` once events exist", err=True)
        raise typer.Exit(1)
    text = json.dumps(anchor.as_json(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"anchor for seq {anchor.seq} written to {out}", err=True)


@app.command("public-key")
def public_key_command() -> None:
    """Print the checkpoint signing key's public half (base64) and key id, to verify elsewhere."""
    from security.audit.chain import SigningKey

    key = SigningKey.from_seed_b64(get_settings().audit_signing_key.get_secret_value()).public
    typer.echo(f"{key.key_id} {key.b64}")
