"""``ccos``: serve the gateway, migrate the database, mint tokens."""

import asyncio
import gc
import signal
import uuid
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from functions._shared.auth.tokens import Role, mint_token
from functions._shared.db.migrations import MigrationError, migrate_database
from functions._shared.errors import CCOSError
from functions._shared.logs import configure_logging
from functions._shared.settings import get_settings

cli = typer.Typer(help="Contact Center OS command line.", no_args_is_help=True)
db_cli = typer.Typer(help="Database commands.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
kb_cli = typer.Typer(help="Knowledge-base commands.", no_args_is_help=True)
cli.add_typer(kb_cli, name="kb")
embed_cli = typer.Typer(help="Embedding commands.", no_args_is_help=True)
cli.add_typer(embed_cli, name="embed")
timeouts_cli = typer.Typer(help="Deadline and housekeeping sweeps.", no_args_is_help=True)
cli.add_typer(timeouts_cli, name="timeouts")
console = Console(stderr=True)


def _migrate() -> None:
    settings = get_settings()
    try:
        report = asyncio.run(migrate_database(settings))
    except MigrationError as error:
        console.print(f"[red]migration refused:[/red] {error}")
        raise typer.Exit(code=1) from error
    console.print(
        f"migrations: {len(report.applied)} applied, {len(report.adopted)} adopted from the "
        f"Supabase CLI, {len(report.unchanged)} already applied"
    )


@db_cli.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations from supabase/migrations."""
    configure_logging(get_settings())
    _migrate()


GRACEFUL_SHUTDOWN_SECONDS = 10


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Gateway processes sharing the port (default SERVER_WORKERS)."),
    ] = None,
    fd: Annotated[
        int | None, typer.Option(hidden=True, help="Serve on this inherited socket (a worker).")
    ] = None,
) -> None:
    """Serve the gateway (migrating first in the embedded mode)."""
    settings = get_settings()
    configure_logging(settings)
    if fd is None and settings.is_embedded:
        _migrate()  # once, by the parent: workers (--fd) start on a migrated database
    host, port = host or settings.server_host, port or settings.server_port
    processes = workers or settings.server_workers
    if fd is None and processes > 1:
        from gateway.workers import serve_workers  # noqa: PLC0415

        status = serve_workers(
            host=host,
            port=port,
            workers=processes,
            stop_timeout_seconds=GRACEFUL_SHUTDOWN_SECONDS + 10,
        )
        raise typer.Exit(code=status)
    _serve_one(host=host, port=port, fd=fd, gc_young_threshold=settings.gc_young_threshold)


def tune_garbage_collector(young_threshold: int) -> None:
    """Fewer collections in the server process: what start-up loaded (modules, models, the
    app) is frozen out of them, and young passes run every ``young_threshold`` allocations."""
    if young_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)


def _serve_one(*, host: str, port: int, fd: int | None, gc_young_threshold: int) -> None:
    # Kept out of the other commands' start-up.
    import socket  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    from gateway.app import app  # noqa: PLC0415
    from gateway.server import GatewayServer  # noqa: PLC0415

    tune_garbage_collector(gc_young_threshold)  # after the imports: they are what is frozen

    # uvicorn re-raises SIGTERM after its graceful shutdown; the default action would kill the
    # process before atexit stops the embedded Postgres. Exiting normally lets it run.
    signal.signal(signal.SIGTERM, _exit_normally)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    sockets = [socket.socket(fileno=fd)] if fd is not None else None
    GatewayServer(config, app=app).run(sockets=sockets)


@cli.command()
def token(
    role: Annotated[Role, typer.Option(help="Role carried by the token.")],
    sub: Annotated[str | None, typer.Option(help="Subject (user id); random if omitted.")] = None,
    ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds.", min=1)] = None,
) -> None:
    """Print a signed token (HS256 with the local or configured secret)."""
    typer.echo(mint_token(get_settings(), role=role, subject=sub, ttl_seconds=ttl))


@kb_cli.command("ingest")
def kb_ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.txt .md .html .pdf).")],
) -> None:
    """Ingest documents into the knowledge base and index them now."""
    from gateway.kb_cli import run_ingest  # noqa: PLC0415  (loads the KB stack)

    settings = get_settings()
    configure_logging(settings)
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        console.print(f"[red]not found:[/red] {', '.join(missing)}")
        raise typer.Exit(code=2)
    outcomes = run_ingest(settings, paths)
    if any(o.result not in ("ready", "unchanged") for o in outcomes):
        raise typer.Exit(code=1)


@embed_cli.command("reprocess")
def embed_reprocess(
    document: Annotated[str | None, typer.Option(help="One document id.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every failed document.")] = False,
    all_documents: Annotated[bool, typer.Option("--all", help="Every document.")] = False,
) -> None:
    """Re-embed one document, the failed ones, or all."""
    from gateway.kb_cli import reprocess  # noqa: PLC0415

    if sum((document is not None, failed, all_documents)) != 1:
        console.print("[red]choose exactly one of --document ID, --failed, --all[/red]")
        raise typer.Exit(code=2)
    try:
        document_id = uuid.UUID(document) if document is not None else None
    except ValueError as error:
        console.print(f"[red]not a document id:[/red] {document}")
        raise typer.Exit(code=2) from error
    settings = get_settings()
    configure_logging(settings)
    try:
        queued, ran = asyncio.run(reprocess(settings, document_id=document_id, only_failed=failed))
    except CCOSError as error:
        console.print(f"[red]{error.detail}[/red]")
        raise typer.Exit(code=1) from error
    console.print(f"reprocess: {queued} queued, {ran} run")


@timeouts_cli.command("sweep")
def timeouts_sweep() -> None:
    """Run every sweep once now and print the counts (safe beside running servers)."""
    from rich.table import Table  # noqa: PLC0415

    from functions.timeouts.service import sweep_once  # noqa: PLC0415

    settings = get_settings()
    configure_logging(settings)
    try:
        report = asyncio.run(sweep_once(settings))
    except CCOSError as error:
        console.print(f"[red]{error.detail}[/red]")
        raise typer.Exit(code=1) from error
    table = Table("sweep", "counts", title="timeouts sweep", title_justify="left")
    for name, counts in report.items():
        table.add_row(name, ", ".join(f"{key} {value}" for key, value in counts.items()))
    Console().print(table)


@cli.command()
def chat() -> None:
    """Talk to the assistant in the terminal, as a customer (citations and approvals shown)."""
    from gateway.chat_cli import chat_loop  # noqa: PLC0415  (loads the KB and chat stack)

    # Log lines would interleave with the conversation: warnings and errors only.
    settings = get_settings().model_copy(update={"log_level": "WARNING"})
    configure_logging(settings)
    terminal = Console()

    def read_line() -> str | None:
        try:
            return terminal.input("[bold]고객> [/bold]")
        except EOFError:
            return None

    conversation_id = asyncio.run(chat_loop(settings, read_line=read_line, console=terminal))
    console.print(f"conversation {conversation_id} kept; read it with GET /chat/conversations/ID")


def _exit_normally(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> None:
    cli()
