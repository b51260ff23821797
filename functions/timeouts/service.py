"""The sweeps: plain async functions, each returning its counts, each safe to run from any
number of processes at once (rows are claimed with ``FOR UPDATE SKIP LOCKED``, one transaction
per item, so every effect happens exactly once)."""

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from functions._shared.db.pool import (
    DbConnection,
    DbPool,
    create_pool,
    resolve_database_url,
    transaction,
)
from functions._shared.events.retention import prune_outbox
from functions._shared.hitl.approvals import (
    Approval,
    approval_deadline,
    callback_payload,
    claim_due_approval,
    create_approval,
    decide_approval,
    escalate_approval,
)
from functions._shared.hitl.callbacks import deliver_due_callbacks, enqueue_callback
from functions._shared.hitl.conversations import lock_conversation, set_conversation_status
from functions._shared.hitl.messages import deliver_message, message_payload
from functions._shared.hitl.texts import Notice, customer_text
from functions._shared.jobs import requeue_stale_jobs
from functions._shared.outbound_http import async_client
from functions._shared.settings import Settings
from functions.timeouts import queries

logger = structlog.get_logger(__name__)

SWEEPER = "timeouts"
Counts = dict[str, int]
Sweep = Callable[[DbPool, Settings], Awaitable[Counts]]


async def sweep_approvals(pool: DbPool, settings: Settings) -> Counts:
    """Escalate approvals past their deadline along the ladder; expire those past its end."""
    counts = {"escalated": 0, "expired": 0}
    for _ in range(settings.sweep_batch_size):
        async with transaction(pool) as tx:
            approval = await claim_due_approval(tx)
            if approval is None:
                break
            ladder = settings.approval_escalation_ladder_seconds
            if approval.escalation_level < len(ladder):
                deadline_at = datetime.now(UTC) + timedelta(
                    seconds=ladder[approval.escalation_level]
                )
                await escalate_approval(tx, approval, deadline_at=deadline_at, actor_id=SWEEPER)
                counts["escalated"] += 1
            else:
                await _expire(tx, approval, settings=settings)
                counts["expired"] += 1
    return counts


async def _expire(tx: DbConnection, approval: Approval, *, settings: Settings) -> None:
    """Nobody decided in time: the safe default. The draft is not sent and the action not
    taken; the customer is told a person will still answer; the requester hears `expired`."""
    expired = await decide_approval(
        tx,
        approval,
        decision="expire",
        actor_id=SWEEPER,
        actor_role="system",
        note="No decision before the last deadline.",
    )
    if expired.conversation_id is not None:
        conversation = await lock_conversation(tx, expired.conversation_id)
        if conversation is not None and conversation.status != "closed":
            await deliver_message(
                tx,
                conversation_id=conversation.id,
                role="system",
                content=customer_text(Notice.EXPIRED, override_dir=settings.customer_texts_dir),
                approval_id=expired.id,
            )
            if conversation.status == "ai":
                await set_conversation_status(tx, conversation, status="pending_human")
    if expired.callback_url is not None:
        await enqueue_callback(
            tx, approval_id=expired.id, url=expired.callback_url, payload=callback_payload(expired)
        )


async def sweep_unfinished_turns(pool: DbPool, settings: Settings) -> Counts:
    """A customer's message whose AI turn never finished (its process stopped mid-turn) is not
    left unanswered: a person is brought in, with the fallback notice, as for a model failure."""
    handed_over = 0
    for _ in range(settings.sweep_batch_size):
        async with transaction(pool) as tx:
            message = await queries.claim_unfinished_turn(
                tx, older_than_seconds=settings.chat_turn_orphan_seconds
            )
            if message is None:
                break
            conversation = await lock_conversation(tx, message["conversation_id"])
            assert conversation is not None  # the message's conversation exists
            reasons = ["provider_error"]
            approval = await create_approval(
                tx,
                kind="reply",
                reasons=reasons,
                requester_id="assistant",
                requester_role="assistant",
                deadline_at=approval_deadline(
                    settings, kind="reply", reasons=reasons, now=datetime.now(UTC)
                ),
                conversation_id=conversation.id,
                source_message_id=message["id"],
                error="The turn did not finish: its process stopped before replying.",
            )
            notice = await deliver_message(
                tx,
                conversation_id=conversation.id,
                role="system",
                content=customer_text(Notice.FALLBACK, override_dir=settings.customer_texts_dir),
                approval_id=approval.id,
            )
            conversation = await set_conversation_status(tx, conversation, status="pending_human")
            # The result a repeated post of the same client_message_id returns (chat's shape).
            await queries.save_turn(
                tx,
                message_id=message["id"],
                turn={
                    "message": _message_json(dict(message)),
                    "reply": None,
                    "approval": {
                        "id": str(approval.id),
                        "status": approval.status,
                        "deadline_at": approval.deadline_at.isoformat()
                        if approval.deadline_at
                        else None,
                    },
                    "handoff": {
                        "conversation_status": conversation.status,
                        "notice": _message_json(message_payload(notice).model_dump()),
                    },
                },
            )
            handed_over += 1
    return {"handed_over": handed_over}


def _message_json(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(message["id"]),
        "role": message["role"],
        "content": message["content"],
        "created_at": message["created_at"].isoformat(),
        "citations": [],
    }


async def sweep_idle_conversations(pool: DbPool, settings: Settings) -> Counts:
    """Close conversations idle past CONVERSATION_IDLE_CLOSE_SECONDS, with a closing notice."""
    closed = 0
    for _ in range(settings.sweep_batch_size):
        async with transaction(pool) as tx:
            conversation = await queries.claim_idle_conversation(
                tx, idle_seconds=settings.conversation_idle_close_seconds
            )
            if conversation is None:
                break
            await deliver_message(
                tx,
                conversation_id=conversation.id,
                role="system",
                content=customer_text(Notice.CLOSED, override_dir=settings.customer_texts_dir),
            )
            await set_conversation_status(tx, conversation, status="closed")
            closed += 1
    return {"closed": closed}


async def sweep_stale_jobs(pool: DbPool, settings: Settings) -> Counts:
    async with transaction(pool) as tx:
        return {"requeued": await requeue_stale_jobs(tx)}


async def sweep_callbacks(pool: DbPool, settings: Settings) -> Counts:
    """Send due callbacks (the gateway's CallbackSender does this continuously; this sweep is
    for instances without it, such as a Lambda deployment)."""
    async with async_client() as client:
        attempted = await deliver_due_callbacks(
            pool, client=client, settings=settings, limit=settings.sweep_batch_size
        )
    return {"attempted": attempted}


async def sweep_retention(pool: DbPool, settings: Settings) -> Counts:
    events = await prune_outbox(pool, settings=settings)
    async with transaction(pool) as tx:
        windows = await queries.delete_old_rate_limit_windows(
            tx, older_than_seconds=settings.rate_limit_retention_seconds
        )
    return {"events_pruned": events, "rate_limit_windows_pruned": windows}


SWEEPS: dict[str, Sweep] = {
    "approvals": sweep_approvals,
    "turns": sweep_unfinished_turns,
    "conversations": sweep_idle_conversations,
    "jobs": sweep_stale_jobs,
    "callbacks": sweep_callbacks,
    "retention": sweep_retention,
}


async def run_sweep(name: str, pool: DbPool, settings: Settings) -> Counts:
    """One sweep, logged with its counts and duration when it did anything."""
    started = time.monotonic()
    counts = await SWEEPS[name](pool, settings)
    if any(counts.values()):
        logger.info(
            "sweep_done",
            sweep=name,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            **counts,
        )
    return counts


async def run_all_sweeps(pool: DbPool, settings: Settings) -> dict[str, Counts]:
    """Every sweep once, in a fixed order (approvals first: they are the customer's wait)."""
    return {name: await run_sweep(name, pool, settings) for name in SWEEPS}


async def sweep_once(settings: Settings) -> dict[str, Counts]:
    """Every sweep once, with a pool of its own (a scheduled invocation, `ccos timeouts sweep`)."""
    pool = await create_pool(settings, await resolve_database_url(settings))
    try:
        return await run_all_sweeps(pool, settings)
    finally:
        await pool.close()
