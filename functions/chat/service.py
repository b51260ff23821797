"""Conversations and the AI turn.

A post is accepted in one transaction (``accept_message``): the customer's message, masked, is
stored before any model is called, so it survives whatever happens next. The AI turn
(``run_ai_turn``) then retrieves, routes, drafts and either delivers the reply or opens an
approval, in a second transaction. No connection is held while the model writes.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog

from functions._shared.auth.tokens import Principal, Role, mint_token, signing_secret
from functions._shared.db.pool import DbConnection, DbPool, transaction
from functions._shared.errors import (
    DATABASE_ERRORS,
    Conflict,
    DependencyUnavailable,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from functions._shared.events.outbox import emit_to_topics
from functions._shared.events.schemas import (
    DASHBOARD_TOPIC,
    ConversationUpdated,
    EventType,
    conversation_topic,
)
from functions._shared.hitl.approvals import Approval, approval_deadline, create_approval
from functions._shared.hitl.conversations import (
    Conversation,
    lock_conversation,
    record_activity,
    set_conversation_status,
)
from functions._shared.hitl.messages import (
    Citation,
    StoredMessage,
    conversation_messages,
    deliver_message,
    message_payload,
)
from functions._shared.hitl.texts import Notice, customer_text
from functions._shared.kb.runtime import KnowledgeBase
from functions._shared.kb.search import SearchResult
from functions._shared.pii import mask_personal_data
from functions._shared.ratelimit import hit_rate_limit
from functions._shared.settings import Settings
from functions.chat import policy, queries
from functions.chat.guard import ReplyGuard
from functions.chat.prompts import (
    PromptTemplates,
    ToolDefinition,
    build_prompt,
    estimated_tokens,
    load_prompt_templates,
    load_tools,
)
from functions.chat.providers import (
    ChatProvider,
    Classification,
    OfflineProvider,
    OpenAIProvider,
    ProposedToolCall,
    ProviderError,
    TextDelta,
    TurnRequest,
)
from functions.chat.rules import DEFAULT_POLICY_PATH, InputRules, load_input_rules
from functions.chat.schemas import (
    ApprovalRef,
    ConversationCreate,
    ConversationStarted,
    ConversationView,
    Handoff,
    Message,
    MessagePost,
    TurnResult,
)

logger = structlog.get_logger(__name__)

AI_REQUESTER = "assistant"
# C0 and C1 control characters other than tab, line feed and carriage return.
_CONTROL_CHARACTERS = frozenset(
    chr(code) for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(code) not in "\t\n\r"
)


@dataclass
class ChatRuntime:
    """What every turn needs, built once per process."""

    settings: Settings
    knowledge_base: KnowledgeBase
    provider: ChatProvider
    rules: InputRules
    templates: PromptTemplates
    tools: tuple[ToolDefinition, ...]
    # Streamed turns run as tasks that outlive a disconnected client; kept so they finish.
    turn_tasks: set["asyncio.Task[TurnResult]"] = field(default_factory=set)
    # Streamed turns open now on this instance (CHAT_MAX_CONCURRENT_STREAMS).
    open_streams: int = 0


def build_chat_runtime(settings: Settings, knowledge_base: KnowledgeBase) -> ChatRuntime:
    templates = load_prompt_templates(settings.chat_prompts_dir)
    provider: ChatProvider
    if settings.effective_chat_provider == "openai":
        provider = OpenAIProvider(settings, reason_codes=policy.RULE_REASONS)
    else:
        provider = OfflineProvider(label=templates.offline_label)
    return ChatRuntime(
        settings=settings,
        knowledge_base=knowledge_base,
        provider=provider,
        rules=load_input_rules(settings.chat_policy_path or DEFAULT_POLICY_PATH),
        templates=templates,
        tools=load_tools(settings.chat_tools_path),
    )


async def close_chat_runtime(runtime: ChatRuntime, *, timeout_seconds: float) -> None:
    """Let running turns finish (bounded), then close the provider's client."""
    if runtime.turn_tasks:
        await asyncio.wait(set(runtime.turn_tasks), timeout=timeout_seconds)
    close = getattr(runtime.provider, "close", None)
    if close is not None:
        await close()


async def start_conversation(
    pool: DbPool, *, settings: Settings, body: ConversationCreate, client_address: str
) -> ConversationStarted:
    await hit_rate_limit(
        pool,
        key=f"chat-start:{client_address}",
        limit=settings.chat_start_rate_limit_per_minute,
        what="new conversations from this address",
    )
    if signing_secret(settings) is None:
        raise DependencyUnavailable(
            "Customer tokens cannot be signed: set SUPABASE_JWT_SECRET.", code="no_signing_secret"
        )
    customer = body.customer
    async with transaction(pool) as tx:
        conversation_id = await queries.insert_conversation(
            tx,
            locale=body.locale,
            customer_name=customer.name if customer else None,
            customer_external_id=customer.external_id if customer else None,
        )
        await emit_to_topics(
            tx,
            topics=[conversation_topic(conversation_id), DASHBOARD_TOPIC],
            type=EventType.CONVERSATION_UPDATED,
            data=ConversationUpdated(conversation_id=conversation_id, status="ai"),
        )
    token = mint_token(
        settings,
        role=Role.CUSTOMER,
        subject=f"customer:{conversation_id}",
        ttl_seconds=settings.chat_customer_token_ttl_seconds,
        extra_claims={"conversation_id": str(conversation_id)},
    )
    return ConversationStarted(id=conversation_id, token=token, status="ai")


def check_access(principal: Principal, conversation_id: UUID) -> None:
    if principal.role is Role.CUSTOMER:
        if principal.conversation_id != str(conversation_id):
            raise PermissionDenied(
                "This token belongs to another conversation.", code="wrong_conversation"
            )
    elif not principal.is_staff:
        raise PermissionDenied("Customers of this conversation and agents only.", code="wrong_role")


async def get_conversation(
    pool: DbPool, *, principal: Principal, conversation_id: UUID
) -> ConversationView:
    check_access(principal, conversation_id)
    async with transaction(pool) as connection:
        row = await connection.fetchrow(
            "select id, status, locale, assignee_id, created_at, closed_at"
            " from conversations where id = $1",
            conversation_id,
        )
        if row is None:
            raise NotFound("No such conversation.", code="conversation_not_found")
        messages = await conversation_messages(connection, conversation_id)
    return ConversationView(**dict(row), messages=[message_view(m) for m in messages])


def message_view(message: StoredMessage) -> Message:
    return Message.model_validate(message_payload(message).model_dump())


def validated_content(content: str, settings: Settings) -> str:
    if not content.strip():
        raise InvalidInput("The message is empty.", code="empty_message")
    if len(content) > settings.chat_max_message_chars:
        raise InvalidInput(
            f"The message is longer than {settings.chat_max_message_chars} characters.",
            code="message_too_long",
        )
    if any(character in _CONTROL_CHARACTERS for character in content):
        raise InvalidInput("The message contains control characters.", code="control_characters")
    return content.strip()


@dataclass(frozen=True)
class PendingTurn:
    """A customer message stored in a conversation the assistant answers: the AI turn is due."""

    conversation_id: UUID
    message: StoredMessage
    had_personal_data: bool


Accepted = TurnResult | PendingTurn


async def accept_message(
    pool: DbPool,
    *,
    settings: Settings,
    principal: Principal,
    conversation_id: UUID,
    body: MessagePost,
    client_address: str,
) -> Accepted:
    check_access(principal, conversation_id)
    content = validated_content(body.content, settings)
    is_customer = principal.role is Role.CUSTOMER
    if is_customer:
        await _check_customer_limits(
            pool, settings=settings, conversation_id=conversation_id, client_address=client_address
        )
    async with transaction(pool) as tx:
        conversation = await lock_conversation(tx, conversation_id)
        if conversation is None:
            raise NotFound("No such conversation.", code="conversation_not_found")
        if body.client_message_id is not None:
            exists, turn = await queries.posted_turn(
                tx, conversation_id=conversation_id, client_message_id=body.client_message_id
            )
            if turn is not None:
                return TurnResult.model_validate(turn)
        else:
            exists = False
        if not exists:
            return await _store_message(
                tx,
                conversation=conversation,
                principal=principal,
                content=content,
                client_message_id=body.client_message_id,
            )
    assert body.client_message_id is not None
    return await _wait_for_first_turn(
        pool,
        conversation_id=conversation_id,
        client_message_id=body.client_message_id,
        wait_seconds=settings.chat_duplicate_wait_seconds,
    )


async def _check_customer_limits(
    pool: DbPool, *, settings: Settings, conversation_id: UUID, client_address: str
) -> None:
    """Per conversation and per address message rates, and the conversation's daily LLM token
    budget (only a provider that bills counts), each a 429 problem with Retry-After."""
    await hit_rate_limit(
        pool,
        key=f"chat-message:{conversation_id}",
        limit=settings.chat_message_rate_limit_per_minute,
        what="messages in this conversation",
    )
    await hit_rate_limit(
        pool,
        key=f"chat-address:{client_address}",
        limit=settings.chat_address_message_rate_limit_per_minute,
        what="messages from this address",
    )
    if settings.effective_chat_provider != "openai":
        return
    spent = await queries.tokens_spent_today(pool, conversation_id=conversation_id)
    if spent >= settings.chat_daily_token_budget_per_conversation:
        now = datetime.now(UTC)
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        raise RateLimited(
            "This conversation has used its language-model budget for today.",
            retry_after_seconds=max(1, int((midnight - now).total_seconds())),
            code="token_budget_spent",
        )


async def _store_message(
    tx: DbConnection,
    *,
    conversation: Conversation,
    principal: Principal,
    content: str,
    client_message_id: str | None,
) -> Accepted:
    if conversation.status == "closed":
        raise Conflict("The conversation is closed.", code="conversation_closed")
    is_customer = principal.role is Role.CUSTOMER
    stored_content = mask_personal_data(content) if is_customer else content
    message = await deliver_message(
        tx,
        conversation_id=conversation.id,
        role="customer" if is_customer else "agent",
        content=stored_content,
        author_id=None if is_customer else principal.subject,
        client_message_id=client_message_id,
    )
    await record_activity(tx, conversation.id)
    if not is_customer:
        # An agent writing takes the conversation over; the assistant stops answering.
        await set_conversation_status(
            tx, conversation, status="human", assignee_id=principal.subject
        )
        result = TurnResult(message=message_view(message), reply=None, approval=None, handoff=None)
    elif conversation.status != "ai":
        result = TurnResult(
            message=message_view(message),
            reply=None,
            approval=None,
            handoff=Handoff(conversation_status=conversation.status, notice=None),
        )
    else:
        return PendingTurn(
            conversation_id=conversation.id,
            message=message,
            had_personal_data=stored_content != content,
        )
    await queries.save_turn(tx, message_id=message.id, turn=result.model_dump(mode="json"))
    return result


async def _wait_for_first_turn(
    pool: DbPool, *, conversation_id: UUID, client_message_id: str, wait_seconds: float
) -> TurnResult:
    """The same client_message_id while the first post's turn still runs: wait for its result."""
    deadline = time.monotonic() + wait_seconds
    pause = 0.05
    while time.monotonic() < deadline:
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)
        _, turn = await queries.posted_turn(
            pool, conversation_id=conversation_id, client_message_id=client_message_id
        )
        if turn is not None:
            return TurnResult.model_validate(turn)
    raise Conflict(
        "A message with this client_message_id is still being answered; retry later.",
        code="turn_in_progress",
    )


DeltaSink = Callable[[str], Awaitable[None]]


@dataclass
class Draft:
    """What the model produced for one turn."""

    guard: ReplyGuard
    tool_calls: list[ProposedToolCall] = field(default_factory=list)
    error: str | None = None
    # Some of it already reached the customer (a streamed turn).
    shown: bool = False
    # Estimated tokens sent and received, for the conversation's daily budget.
    tokens: int = 0


async def run_ai_turn(
    pool: DbPool, runtime: ChatRuntime, turn: PendingTurn, *, on_delta: DeltaSink | None = None
) -> TurnResult:
    """Answer a stored customer message. With ``on_delta`` the reply streams, but only when
    routing has let the turn through, and only what the guard releases."""
    started = time.monotonic()
    question = turn.message.content
    # The classifier needs only the message: it runs while the KB is searched.
    classifying = asyncio.create_task(classify_message(runtime, question))
    try:
        passages, history, retrieval_error = await _retrieve(pool, runtime, turn)
    finally:
        classification = await classifying
    reasons = route_turn(
        runtime,
        question=question,
        had_personal_data=turn.had_personal_data,
        passages=passages,
        classification=classification,
    )
    streaming = on_delta is not None and not reasons and retrieval_error is None
    if retrieval_error is not None:
        draft = Draft(guard=_new_guard(runtime, 0), error=retrieval_error)
    else:
        draft = await _draft_reply(
            runtime,
            question=question,
            passages=passages,
            history=history,
            reasons=reasons,
            on_delta=on_delta if streaming else None,
        )
    reasons = [*reasons, *_draft_reasons(draft, streamed=streaming)]
    reasons = list(dict.fromkeys(reasons))
    async with transaction(pool) as tx:
        conversation = await lock_conversation(tx, turn.conversation_id)
        assert conversation is not None  # conversations are never deleted under a turn
        if conversation.status != "ai":
            # A person took over (or closed the conversation) while the model wrote.
            logger.info("chat_turn_superseded", conversation_id=str(turn.conversation_id))
            result = TurnResult(
                message=message_view(turn.message),
                reply=None,
                approval=None,
                handoff=Handoff(conversation_status=conversation.status, notice=None),
            )
        elif reasons:
            result = await _hand_over(
                tx,
                runtime,
                conversation=conversation,
                turn=turn,
                draft=draft,
                passages=passages,
                reasons=reasons,
            )
        else:
            reply = await deliver_message(
                tx,
                conversation_id=turn.conversation_id,
                role="assistant",
                content=draft.guard.draft,
                citations=_citations(draft.guard, passages),
            )
            result = TurnResult(
                message=message_view(turn.message),
                reply=message_view(reply),
                approval=None,
                handoff=None,
            )
        await record_activity(tx, turn.conversation_id)
        await queries.save_turn(tx, message_id=turn.message.id, turn=result.model_dump(mode="json"))
        if runtime.provider.name == "openai":
            classifier_tokens = (
                estimated_tokens(runtime.templates.classifier + question)
                if runtime.settings.chat_classifier_enabled
                else 0
            )
            await queries.add_tokens_spent(
                tx, conversation_id=turn.conversation_id, tokens=draft.tokens + classifier_tokens
            )
    logger.info(
        "chat_turn",
        conversation_id=str(turn.conversation_id),
        provider=runtime.provider.name,
        outcome="handoff" if reasons else "reply",
        reasons=reasons,
        passages=len(passages),
        streamed=streaming,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        error=draft.error,
    )
    return result


async def classify_message(runtime: ChatRuntime, question: str) -> Classification | None:
    """The cheap model's view of the (masked) message; None without one, or when it fails."""
    if not runtime.settings.chat_classifier_enabled:
        return None
    return await runtime.provider.classify(
        system_prompt=runtime.templates.classifier, text=question
    )


def route_turn(
    runtime: ChatRuntime,
    *,
    question: str,
    had_personal_data: bool,
    passages: list[SearchResult],
    classification: Classification | None,
) -> list[str]:
    """Why this (masked) message needs a person, before any reply is written; [] if not."""
    return policy.input_reasons(
        rule_reasons=runtime.rules.reasons(question),
        had_personal_data=had_personal_data,
        grounding=policy.grounding_score(passages, runtime.settings),
        classification=classification,
        settings=runtime.settings,
    )


async def _retrieve(
    pool: DbPool, runtime: ChatRuntime, turn: PendingTurn
) -> tuple[list[SearchResult], list[StoredMessage], str | None]:
    """Passages and history; an embedder failure becomes the turn's error (a person answers),
    a database failure a 503 (the customer's message is already stored)."""
    knowledge_base = runtime.knowledge_base
    # Embedded before a connection is taken: an outside embedder must not hold one while it
    # answers.
    prepared, error = None, None
    try:
        prepared = await knowledge_base.prepare_query(turn.message.content)
    # Any embedder failure (network, quota, bad answer): a person answers; logged.
    except Exception as failure:
        logger.warning("chat_retrieval_failed", error=f"{type(failure).__name__}: {failure}")
        error = f"retrieval failed: {type(failure).__name__}"
    try:
        async with transaction(pool) as connection:
            history = [
                m
                for m in await conversation_messages(
                    connection,
                    turn.conversation_id,
                    # The history never uses more; +1 for the message being answered.
                    last=runtime.settings.chat_history_max_messages + 1,
                )
                if m.id != turn.message.id
            ]
            passages = (
                await knowledge_base.search_prepared(
                    connection, prepared, k=runtime.settings.chat_retrieval_k
                )
                if prepared is not None
                else []
            )
    except DATABASE_ERRORS as failure:
        raise DependencyUnavailable("The database is unavailable.") from failure
    return passages, history, error


def _new_guard(runtime: ChatRuntime, source_count: int) -> ReplyGuard:
    return ReplyGuard(
        source_count=source_count,
        marker=runtime.settings.chat_uncertainty_marker,
        hold_chars=runtime.settings.chat_stream_hold_chars,
    )


async def _draft_reply(
    runtime: ChatRuntime,
    *,
    question: str,
    passages: list[SearchResult],
    history: list[StoredMessage],
    reasons: list[str],
    on_delta: DeltaSink | None,
) -> Draft:
    # Tools only where the customer's message shows the intent they serve: such a turn is
    # already held for a person, so a proposed action never interrupts a streamed reply.
    tools = [tool.spec for tool in runtime.tools if tool.offer_on & set(reasons)]
    request = TurnRequest(
        messages=build_prompt(
            settings=runtime.settings,
            templates=runtime.templates,
            question=question,
            passages=passages,
            history=history,
        ),
        question=question,
        passages=passages,
        tools=tools,
    )
    draft = Draft(guard=_new_guard(runtime, len(passages)))
    draft.tokens = sum(estimated_tokens(message["content"]) for message in request.messages)
    try:
        async for item in runtime.provider.reply(request):
            if isinstance(item, TextDelta):
                shown = draft.guard.feed(item.text)
                if on_delta is not None and shown:
                    await on_delta(shown)
            else:
                draft.tool_calls.append(item)
        shown = draft.guard.finish()
        if on_delta is not None and shown:
            await on_delta(shown)
    except ProviderError as error:
        logger.warning("chat_provider_failed", provider=runtime.provider.name, error=str(error))
        draft.error = str(error)
    draft.shown = on_delta is not None and draft.guard.released_any
    draft.tokens += estimated_tokens(draft.guard.draft) + sum(
        estimated_tokens(str(call.arguments)) for call in draft.tool_calls
    )
    if draft.error is None and not draft.guard.draft and not draft.tool_calls:
        draft.error = "the model returned an empty reply"
    return draft


def _draft_reasons(draft: Draft, *, streamed: bool) -> list[str]:
    reasons = []
    if draft.tool_calls:
        reasons.append(policy.TOOL_CALL)
    # A streamed reply already partly shown cannot be held any more: the guard has masked or
    # removed what it found. Otherwise every finding holds the reply.
    if not streamed or draft.guard.held:
        reasons.extend(sorted(draft.guard.findings))
    if draft.error is not None:
        reasons.append(policy.PROVIDER_ERROR)
    return reasons


def _citations(guard: ReplyGuard, passages: list[SearchResult]) -> list[Citation]:
    return [
        Citation(
            document_id=passages[number - 1].document_id,
            title=passages[number - 1].title,
            chunk_id=passages[number - 1].chunk_id,
            score=passages[number - 1].score,
        )
        for number in guard.cited
    ]


async def _hand_over(
    tx: DbConnection,
    runtime: ChatRuntime,
    *,
    conversation: Conversation,
    turn: PendingTurn,
    draft: Draft,
    passages: list[SearchResult],
    reasons: list[str],
) -> TurnResult:
    """Open the approval(s), tell the customer a person will follow up, wait for one."""
    settings = runtime.settings
    now = datetime.now(UTC)
    # What already reached the customer is not a draft to approve.
    held_text = draft.guard.draft if not draft.shown else ""
    common: dict[str, Any] = {
        "reasons": reasons,
        "requester_id": AI_REQUESTER,
        "requester_role": "assistant",
        "conversation_id": turn.conversation_id,
        "source_message_id": turn.message.id,
        "error": draft.error,
    }
    approvals: list[Approval] = []
    for call in draft.tool_calls:
        approvals.append(
            await create_approval(
                tx,
                kind="action",
                deadline_at=approval_deadline(settings, kind="action", reasons=reasons, now=now),
                action={"name": call.name, "arguments": call.arguments},
                draft=held_text or None,
                summary=f"The assistant proposes {call.name}.",
                **common,
            )
        )
    if not approvals:
        approvals.append(
            await create_approval(
                tx,
                kind="reply",
                deadline_at=approval_deadline(settings, kind="reply", reasons=reasons, now=now),
                draft=held_text or None,
                draft_citations=_citations(draft.guard, passages),
                **common,
            )
        )
    if draft.error is not None:
        notice_kind = Notice.FALLBACK
    elif set(reasons) == {policy.LOW_GROUNDING}:
        notice_kind = Notice.NO_ANSWER
    else:
        notice_kind = Notice.HANDOFF
    notice = await deliver_message(
        tx,
        conversation_id=turn.conversation_id,
        role="system",
        content=customer_text(notice_kind, override_dir=settings.customer_texts_dir),
        approval_id=approvals[0].id,
    )
    conversation = await set_conversation_status(tx, conversation, status="pending_human")
    first = approvals[0]
    return TurnResult(
        message=message_view(turn.message),
        reply=None,
        approval=ApprovalRef(id=first.id, status=first.status, deadline_at=first.deadline_at),
        handoff=Handoff(conversation_status=conversation.status, notice=message_view(notice)),
    )
