"""``ccos chat``: talk to the assistant in the terminal, as a customer would.

The turn runs in this process against the configured (or embedded) database and provider,
exactly as the HTTP endpoint runs it; replies stream, citations and approvals are shown.
"""

import asyncio
from collections.abc import Callable
from uuid import UUID

from rich.console import Console
from rich.table import Table

from functions._shared.auth.tokens import Principal, Role
from functions._shared.db.pool import DbPool, create_pool, resolve_database_url
from functions._shared.errors import CCOSError
from functions._shared.hitl.approvals import find_approval
from functions._shared.kb.runtime import opened_knowledge_base
from functions._shared.settings import Settings
from functions.chat import service
from functions.chat.schemas import ConversationCreate, MessagePost, TurnResult

QUIT_COMMANDS = frozenset({"/quit", "/exit", "/q"})


async def chat_loop(
    settings: Settings, *, read_line: Callable[[], str | None], console: Console
) -> UUID:
    """Read messages until end of input or /quit; returns the conversation's id."""
    pool = await create_pool(settings, await resolve_database_url(settings))
    try:
        async with opened_knowledge_base(settings) as knowledge_base:
            runtime = service.build_chat_runtime(settings, knowledge_base)
            try:
                started = await service.start_conversation(
                    pool, settings=settings, body=ConversationCreate(), client_address="cli"
                )
                console.print(
                    f"[dim]conversation {started.id} · provider {runtime.provider.name}"
                    " · /quit to leave[/dim]"
                )
                customer = Principal(
                    subject=f"customer:{started.id}",
                    role=Role.CUSTOMER,
                    claims={"conversation_id": str(started.id)},
                )
                while (line := await asyncio.to_thread(read_line)) is not None:
                    if line.strip() in QUIT_COMMANDS:
                        break
                    if not line.strip():
                        continue
                    await _one_turn(
                        pool,
                        runtime=runtime,
                        customer=customer,
                        conversation_id=started.id,
                        line=line,
                        console=console,
                    )
                return started.id
            finally:
                await service.close_chat_runtime(runtime, timeout_seconds=5)
    finally:
        await pool.close()


async def _one_turn(
    pool: DbPool,
    *,
    runtime: service.ChatRuntime,
    customer: Principal,
    conversation_id: UUID,
    line: str,
    console: Console,
) -> None:
    try:
        accepted = await service.accept_message(
            pool,
            settings=runtime.settings,
            principal=customer,
            conversation_id=conversation_id,
            body=MessagePost(content=line),
            client_address="cli",
        )
    except CCOSError as error:
        console.print(f"[red]{error.detail}[/red]")
        return

    async def show(text: str) -> None:
        console.print(text, end="", markup=False, highlight=False)

    console.print("[bold cyan]상담봇>[/bold cyan] ", end="")
    if isinstance(accepted, TurnResult):
        result = accepted
    else:
        result = await service.run_ai_turn(pool, runtime, accepted, on_delta=show)
    console.print()
    await _show_result(pool, result, console)


async def _show_result(pool: DbPool, result: TurnResult, console: Console) -> None:
    if result.reply is not None and result.reply.citations:
        table = Table("#", "source", "score", title="citations", title_justify="left")
        for number, citation in enumerate(result.reply.citations, start=1):
            table.add_row(str(number), citation.title, f"{citation.score:.3f}")
        console.print(table)
    if result.handoff is not None and result.handoff.notice is not None:
        console.print(result.handoff.notice.content, markup=False)
    if result.approval is not None:
        async with pool.acquire() as connection:
            approval = await find_approval(connection, result.approval.id)
        reasons = ", ".join(approval.reasons) if approval is not None else "?"
        console.print(
            f"[yellow]approval {result.approval.id} ({approval.kind if approval else '?'})"
            f" pending until {result.approval.deadline_at:%H:%M:%S} — reasons: {reasons}[/yellow]"
        )
    elif result.handoff is not None:
        console.print(f"[yellow]conversation is {result.handoff.conversation_status}[/yellow]")
