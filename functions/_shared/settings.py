"""One settings class for every function and the gateway, validated at start-up.

Two modes: ``embedded`` (the default: no configuration, a local Postgres in ``DATA_DIR``, a
locally generated signing secret) and ``production`` (Supabase and friends, every secret
required, nothing defaulted).
"""

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AppMode(StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"


class MissingSettingError(ValueError):
    """A setting that production mode requires is absent."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    app_mode: AppMode = AppMode.EMBEDDED

    # Database
    database_url: SecretStr | None = None
    # Supavisor in transaction mode hands each transaction to another server connection, so
    # named server-side prepared statements must be off there.
    database_prepared_statements: bool = True
    database_pool_min_size: int = Field(default=1, ge=0)
    database_pool_max_size: int = Field(default=10, ge=1)
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    database_command_timeout_seconds: float = Field(default=30.0, gt=0)
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)
    data_dir: Path = Path(".data")
    migrations_dir: Path = Path("supabase/migrations")

    # Auth
    supabase_url: str | None = None
    supabase_jwt_secret: SecretStr | None = None
    jwt_audience: str = "authenticated"
    jwt_issuer: str | None = None
    jwt_leeway_seconds: int = Field(default=30, ge=0)
    jwks_cache_seconds: int = Field(default=600, ge=0)
    jwks_timeout_seconds: float = Field(default=5.0, gt=0)
    # Tokens already verified, kept until they expire: an agent's dashboard sends the same token
    # with every request, and checking its signature again costs more than the request's own
    # work in Python. 0 turns the cache off.
    verified_token_cache_size: int = Field(default=10_000, ge=0)
    token_ttl_seconds: int = Field(default=3600, gt=0)

    # Realtime events
    # LISTEN needs a session: Supavisor's transaction pooler cannot carry it. Supabase: the
    # direct connection or the session pooler (port 5432). Unset: DATABASE_URL.
    database_direct_url: SecretStr | None = None
    events_heartbeat_seconds: float = Field(default=15.0, gt=0)
    events_poll_seconds: float = Field(default=1.0, gt=0)
    events_subscriber_queue_size: int = Field(default=1000, ge=1)
    events_send_timeout_seconds: float = Field(default=10.0, gt=0)
    events_replay_limit: int = Field(default=10_000, ge=1)
    events_retention_hours: float = Field(default=72.0, gt=0)
    events_max_streams: int = Field(default=5000, ge=1)
    supabase_service_role_key: SecretStr | None = None
    realtime_private_channels: bool = True
    realtime_publish_batch_size: int = Field(default=100, ge=1, le=1000)
    realtime_publish_interval_seconds: float = Field(default=1.0, gt=0)
    realtime_publish_timeout_seconds: float = Field(default=5.0, gt=0)
    realtime_publish_max_attempts: int = Field(default=5, ge=1)
    realtime_publish_max_backoff_seconds: float = Field(default=60.0, gt=0)

    # OpenAI (or any OpenAI-compatible server)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_timeout_seconds: float = Field(default=30.0, gt=0)
    # The SDK's own bounded retries (429 and 5xx, with backoff).
    openai_max_retries: int = Field(default=3, ge=0, le=10)

    # Knowledge base: embeddings
    # local: hashed character n-grams + Kiwi morphemes, no download, no network.
    # openai: text-embedding-3-* with `dimensions` set to EMBEDDING_DIMENSIONS.
    # Unset: openai when OPENAI_API_KEY is set, else local.
    embedding_provider: Literal["local", "openai"] | None = None
    embedding_model: str = "text-embedding-3-small"
    # The one vector column size every embedder fills (changing it needs a migration).
    embedding_dimensions: int = Field(default=512, ge=64, le=2000)
    embedding_batch_size: int = Field(default=256, ge=1, le=2048)
    embedding_max_tokens_per_request: int = Field(default=300_000, ge=1000, le=300_000)
    embedding_concurrency: int = Field(default=4, ge=1, le=32)

    # Knowledge base: documents, chunking, jobs
    # The gateway loads Kiwi this long after start-up.
    kiwi_warm_up_delay_seconds: float = Field(default=3.0, ge=0)
    chunk_target_chars: int = Field(default=500, ge=100, le=4000)
    chunk_overlap_chars: int = Field(default=80, ge=0, le=1000)
    kb_max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    kb_max_title_chars: int = Field(default=300, ge=10)
    kb_max_content_chars: int = Field(default=2_000_000, ge=1000)
    job_lease_seconds: float = Field(default=120.0, gt=0)
    job_max_attempts: int = Field(default=3, ge=1)
    job_poll_seconds: float = Field(default=5.0, gt=0)
    job_concurrency: int = Field(default=2, ge=1, le=16)

    # Knowledge base: search
    search_default_k: int = Field(default=5, ge=1)
    search_max_k: int = Field(default=50, ge=1)
    # Candidates taken from each of the vector and keyword rankings before fusion.
    search_candidates: int = Field(default=50, ge=1)
    search_rrf_k: int = Field(default=10, ge=1)
    # Weights of the two rankings in the fusion (see README: chosen on the eval set).
    search_vector_weight: float = Field(default=0.3, ge=0)
    search_keyword_weight: float = Field(default=1.0, ge=0)
    search_hnsw_ef_search: int = Field(default=100, ge=1, le=1000)
    # Query terms found in more chunks than this are left out of the keyword search.
    search_keyword_max_term_chunks: int = Field(default=500, ge=1)
    search_keyword_max_terms: int = Field(default=8, ge=1)
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_collection: str = "ccos_kb_chunks"

    # Chat: the AI turn
    # openai: Chat Completions (streaming, tools). offline: an extractive answer from the best
    # KB passages, labelled as such. Unset: openai when OPENAI_API_KEY is set, else offline.
    chat_provider: Literal["offline", "openai"] | None = None
    chat_model: str = "gpt-4-turbo"
    # Low: answers must stay close to the cited sources and read the same way each time; the
    # tone template gives the warmth. top_p stays at 1.0 (tune one of the two, not both).
    chat_temperature: float = Field(default=0.2, ge=0, le=2)
    chat_top_p: float = Field(default=1.0, gt=0, le=1)
    chat_max_tokens: int = Field(default=700, ge=16, le=16_000)
    chat_timeout_seconds: float = Field(default=30.0, gt=0)
    # A cheap structured-output call that adds to the rules (openai provider only).
    chat_classifier_enabled: bool = True
    chat_classifier_model: str = "gpt-4o-mini"
    chat_classifier_timeout_seconds: float = Field(default=8.0, gt=0)
    chat_classifier_max_tokens: int = Field(default=120, ge=16)
    chat_retrieval_k: int = Field(default=4, ge=1, le=20)
    # Grounding: the best retrieved passage's cosine similarity plus this weight times the
    # share of the question's keywords it contains; below the minimum, a human answers.
    chat_grounding_min_score: float = Field(default=0.28, ge=0)
    chat_grounding_keyword_weight: float = Field(default=0.2, ge=0)
    chat_history_token_budget: int = Field(default=1500, ge=0)
    chat_history_max_messages: int = Field(default=20, ge=0)
    chat_max_message_chars: int = Field(default=4000, ge=1)
    # The model writes this first when the sources do not support an answer.
    chat_uncertainty_marker: str = Field(default="[[확인 필요]]", min_length=3)
    # Streamed text is held until this many characters (or the end): enough to catch the
    # uncertainty marker before anything reaches the customer.
    chat_stream_hold_chars: int = Field(default=24, ge=0)
    chat_prompts_dir: Path | None = None
    chat_policy_path: Path | None = None
    chat_tools_path: Path | None = None
    chat_customer_token_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    chat_start_rate_limit_per_minute: int = Field(default=20, ge=1)
    chat_message_rate_limit_per_minute: int = Field(default=30, ge=1)
    # Customer messages per client address across its conversations (a bot opening many).
    chat_address_message_rate_limit_per_minute: int = Field(default=120, ge=1)
    # Estimated LLM tokens (prompt + reply + classifier) one conversation may spend per UTC day.
    chat_daily_token_budget_per_conversation: int = Field(default=100_000, ge=1)
    # Streamed turns open at once on this instance.
    chat_max_concurrent_streams: int = Field(default=2000, ge=1)
    # A duplicate post waits this long for the first post's turn to finish.
    chat_duplicate_wait_seconds: float = Field(default=60.0, gt=0)

    # Human approvals
    approval_deadline_seconds: int = Field(default=300, ge=1)
    # Per reason, e.g. {"safety_incident": 120}: an approval takes its reasons' shortest.
    approval_deadline_seconds_by_reason: dict[str, int] = Field(
        default_factory=lambda: {"safety_incident": 120, "abuse": 120}
    )
    # Customer-facing Korean texts (notices): a folder of .txt files overriding the bundled ones.
    customer_texts_dir: Path | None = None
    # Per approval kind, e.g. {"action": 900}: the starting point before the reasons' deadlines.
    approval_deadline_seconds_by_kind: dict[str, int] = Field(default_factory=dict)
    # After each missed deadline the approval escalates one level and gets the next deadline
    # from this ladder (seconds); past the last one it expires.
    approval_escalation_ladder_seconds: list[float] = Field(default_factory=lambda: [300.0, 600.0])
    # The longest deadline an external agent may ask for (deadline_seconds).
    approval_max_deadline_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    # Reason codes an agent must choose from when rejecting.
    approval_reject_reasons: list[str] = Field(
        default_factory=lambda: [
            "inaccurate",
            "policy_violation",
            "needs_human_judgement",
            "tone",
            "personal_data",
            "action_not_allowed",
            "other",
        ],
        min_length=1,
    )
    approval_detail_messages: int = Field(default=20, ge=0, le=500)

    # Callbacks to external agents (signed like Stripe's webhooks)
    # Unset: embedded mode generates one into DATA_DIR; production refuses to send callbacks.
    callback_signing_secret: SecretStr | None = None
    # Hosts a callback_url may point at. Unset: loopback in embedded mode, none in production.
    callback_allowed_hosts: list[str] | None = None
    callback_timeout_seconds: float = Field(default=5.0, gt=0)
    callback_max_attempts: int = Field(default=8, ge=1)
    callback_backoff_base_seconds: float = Field(default=1.0, gt=0)
    callback_max_backoff_seconds: float = Field(default=300.0, gt=0)
    callback_poll_seconds: float = Field(default=1.0, gt=0)
    # Receivers should refuse signatures older than this (documented recipe).
    callback_signature_tolerance_seconds: int = Field(default=300, ge=1)

    # Timeouts: sweeps and their scheduler
    # Conversations in `ai` or `human` with no activity for this long are closed with a notice
    # (`pending_human` ones wait for a person and are never closed by the sweep).
    conversation_idle_close_seconds: int = Field(default=30 * 60, ge=1)
    # Off for instances that should not sweep (any number may: sweeps never double an effect).
    scheduler_enabled: bool = True
    # Approvals are swept often enough that a due one is handled within 10 s of its deadline.
    sweep_approvals_interval_seconds: float = Field(default=2.0, gt=0)
    sweep_turns_interval_seconds: float = Field(default=15.0, gt=0)
    # A customer message whose AI turn has not finished after this long (its process stopped
    # mid-turn) is handed to a person with the fallback notice.
    chat_turn_orphan_seconds: float = Field(default=180.0, gt=0)
    sweep_conversations_interval_seconds: float = Field(default=30.0, gt=0)
    sweep_jobs_interval_seconds: float = Field(default=30.0, gt=0)
    sweep_callbacks_interval_seconds: float = Field(default=10.0, gt=0)
    sweep_retention_interval_seconds: float = Field(default=3600.0, gt=0)
    # Items one sweep run handles at most (each in its own transaction); the rest wait a tick.
    sweep_batch_size: int = Field(default=500, ge=1)
    # Rate-limit windows older than this are deleted by the retention sweep.
    rate_limit_retention_seconds: int = Field(default=3600, ge=60)

    # Server and logs
    server_host: str = "127.0.0.1"
    server_port: int = Field(default=8000, gt=0, lt=65536)
    # Gateway processes sharing the port (one Python process uses one core): about one per
    # core the machine gives the gateway.
    server_workers: int = Field(default=1, ge=1, le=64)
    # Allocations between the garbage collector's young-generation passes in `ccos serve`
    # (Python's default: 700). Each request allocates thousands of short-lived objects; with
    # the default, passes run hundreds of times a second and older generations are scanned
    # often enough to show in the tail latency. 0 keeps Python's defaults.
    gc_young_threshold: int = Field(default=50_000, ge=0)
    # Every request body (KB uploads: KB_MAX_UPLOAD_BYTES); larger ones get a 413 problem.
    request_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # The header carrying the client's address behind a proxy (Fly.io: Fly-Client-IP), used
    # for per-address rate limits. Unset: the connection's peer address.
    client_address_header: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    @model_validator(mode="after")
    def _production_requires_secrets(self) -> "Settings":
        if self.app_mode is AppMode.PRODUCTION:
            if self.database_url is None:
                raise MissingSettingError("DATABASE_URL is required when APP_MODE=production")
            if self.supabase_jwt_secret is None and self.supabase_url is None:
                raise MissingSettingError(
                    "SUPABASE_JWT_SECRET or SUPABASE_URL (for JWKS) is required "
                    "when APP_MODE=production"
                )
        if self.database_pool_min_size > self.database_pool_max_size:
            raise ValueError("DATABASE_POOL_MIN_SIZE must not exceed DATABASE_POOL_MAX_SIZE")
        return self

    @property
    def is_embedded(self) -> bool:
        return self.app_mode is AppMode.EMBEDDED

    @property
    def effective_embedding_provider(self) -> Literal["local", "openai"]:
        if self.embedding_provider is not None:
            return self.embedding_provider
        return "openai" if self.openai_api_key is not None else "local"

    @property
    def effective_chat_provider(self) -> Literal["offline", "openai"]:
        if self.chat_provider is not None:
            return self.chat_provider
        return "openai" if self.openai_api_key is not None else "offline"

    @property
    def effective_callback_allowed_hosts(self) -> list[str]:
        if self.callback_allowed_hosts is not None:
            return self.callback_allowed_hosts
        return ["127.0.0.1", "localhost", "::1"] if self.is_embedded else []

    @property
    def realtime_broadcast_url(self) -> str | None:
        if self.supabase_url is None or self.supabase_service_role_key is None:
            return None
        return f"{self.supabase_url.rstrip('/')}/realtime/v1/api/broadcast"

    @property
    def jwks_url(self) -> str | None:
        if self.supabase_url is None:
            return None
        return f"{self.supabase_url.rstrip('/')}/auth/v1/.well-known/jwks.json"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
