"""The production app: every function's router under its prefix, one lifespan for all."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from functions._shared.app import build_app
from functions._shared.db.pool import database_lifespan
from functions._shared.events.hub import EventHub
from functions._shared.events.relay import EventRelay
from functions._shared.events.supabase import RealtimePublisher
from functions._shared.hitl.callbacks import CallbackSender
from functions._shared.kb.korean import warm_up
from functions._shared.kb.runtime import opened_knowledge_base
from functions._shared.lambda_handler import lambda_handler
from functions._shared.logs import configure_logging
from functions._shared.settings import Settings, get_settings
from functions.approve import router as approve_router
from functions.chat import router as chat_router
from functions.chat.service import build_chat_runtime, close_chat_runtime
from functions.embed import router as embed_router
from functions.embed.router import WORKER_ID as EMBED_WORKER_ID
from functions.embed.service import check_vector_dimensions
from functions.embed.worker import EmbedWorker
from functions.timeouts import router as timeouts_router
from gateway import events, health, me
from gateway.scheduler import SweepScheduler


async def warm_up_later(delay_seconds: float) -> None:
    """Load Kiwi (about two seconds, holding the GIL) shortly after start-up: not during it, so
    that /readyz answers at once, and not in the first customer's request."""
    await asyncio.sleep(delay_seconds)
    await asyncio.to_thread(warm_up)


def gateway_lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with database_lifespan(app, settings) as pool:
            hub = EventHub(
                queue_size=settings.events_subscriber_queue_size,
                max_streams=settings.events_max_streams,
            )
            listen_dsn = (
                settings.database_direct_url.get_secret_value()
                if settings.database_direct_url is not None
                else app.state.database_url
            )
            # Supabase Realtime delivery only when configured; woken whenever events are sequenced.
            publisher = (
                RealtimePublisher(pool, settings=settings)
                if settings.realtime_broadcast_url is not None
                else None
            )
            relay = EventRelay(
                pool=pool,
                listen_dsn=listen_dsn,
                hub=hub,
                poll_seconds=settings.events_poll_seconds,
                on_sequenced=publisher.wake if publisher is not None else None,
            )
            app.state.event_hub = hub
            async with opened_knowledge_base(settings) as knowledge_base:
                app.state.knowledge_base = knowledge_base
                app.state.chat_runtime = build_chat_runtime(settings, knowledge_base)
                await check_vector_dimensions(pool, settings=settings)
                embed_worker = EmbedWorker(
                    pool,
                    kb=knowledge_base,
                    owner=EMBED_WORKER_ID,
                    poll_seconds=settings.job_poll_seconds,
                )
                await relay.start()
                if publisher is not None:
                    await publisher.start()
                embed_worker.start()
                callback_sender = CallbackSender(pool, settings=settings)
                await callback_sender.start()
                scheduler = SweepScheduler(pool, settings=settings)
                if settings.scheduler_enabled:
                    scheduler.start()
                warming = asyncio.create_task(
                    warm_up_later(settings.kiwi_warm_up_delay_seconds), name="kiwi-warm-up"
                )
                try:
                    yield
                finally:
                    await scheduler.stop()
                    warming.cancel()
                    await asyncio.wait({warming}, timeout=10)
                    await embed_worker.stop()
                    await callback_sender.stop()
                    await close_chat_runtime(
                        app.state.chat_runtime, timeout_seconds=settings.chat_timeout_seconds
                    )
                    if publisher is not None:
                        await publisher.stop()
                    await relay.stop()

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    app = build_app(
        title="Contact Center OS", settings=settings, lifespan=gateway_lifespan(settings)
    )
    app.include_router(health.router)
    app.include_router(me.router)
    app.include_router(events.router)
    app.include_router(chat_router, prefix="/chat")
    app.include_router(approve_router, prefix="/approve")
    app.include_router(timeouts_router, prefix="/timeouts")
    app.include_router(embed_router, prefix="/embed")
    return app


app = create_app()
handler = lambda_handler(app)
