-- Knowledge base: documents, their chunks (vector + Korean keyword index), and durable jobs.

create table public.kb_documents (
    id uuid primary key default gen_random_uuid(),
    title text not null,
    source_url text,
    source_filename text,
    content_type text not null,
    metadata jsonb not null default '{}'::jsonb,
    -- The extracted text, kept so that any document can be reprocessed without its upload.
    content text not null,
    -- sha256 of title + content: re-ingesting identical content is a no-op.
    content_hash text not null unique,
    status text not null default 'queued'
        check (status in ('queued', 'processing', 'ready', 'failed')),
    -- Raised by every successful indexing; chunks carry the version they were built from.
    version integer not null default 0,
    chunk_count integer not null default 0,
    embedding_model text,
    last_error text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    indexed_at timestamptz
);

create index kb_documents_status on public.kb_documents (status, created_at);

create table public.kb_chunks (
    id uuid primary key default gen_random_uuid(),
    document_id uuid not null references public.kb_documents (id) on delete cascade,
    document_version integer not null,
    ordinal integer not null,
    text text not null,
    char_start integer not null,
    char_end integer not null,
    -- Kiwi morphemes of title + text, stored with the `simple` configuration (no stemming:
    -- the morpheme analysis already happened in Python).
    keywords tsvector not null,
    -- Null only when vectors live in Qdrant (QDRANT_URL set).
    embedding vector(512),
    embedding_model text not null,
    created_at timestamptz not null default now(),
    unique (document_id, document_version, ordinal)
);

create index kb_chunks_embedding on public.kb_chunks
    using hnsw (embedding vector_cosine_ops) with (m = 16, ef_construction = 64);
create index kb_chunks_keywords on public.kb_chunks using gin (keywords);
create index kb_chunks_document on public.kb_chunks (document_id);

-- Durable background work. A job holds a lease while it runs; a crashed worker's lease runs
-- out and the job is requeued (functions._shared.jobs.requeue_stale_jobs).
create table public.jobs (
    id uuid primary key default gen_random_uuid(),
    kind text not null,
    subject_id uuid not null,
    status text not null default 'queued'
        check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts integer not null default 0,
    max_attempts integer not null,
    run_after timestamptz not null default now(),
    lease_owner text,
    lease_expires_at timestamptz,
    last_error text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    finished_at timestamptz
);

-- At most one live job per subject: a second reprocess request joins the first.
create unique index jobs_one_live_per_subject on public.jobs (kind, subject_id)
    where status in ('queued', 'running');
create index jobs_claimable on public.jobs (kind, run_after) where status = 'queued';
create index jobs_leases on public.jobs (lease_expires_at) where status = 'running';
create index jobs_subject on public.jobs (subject_id, created_at desc);

alter table public.kb_documents enable row level security;
alter table public.kb_chunks enable row level security;
alter table public.jobs enable row level security;

-- Staff frontends may read the KB directly; writes only through the API.
create policy kb_documents_staff_read on public.kb_documents
    for select to authenticated
    using (public.ccos_app_role() in ('agent', 'supervisor', 'admin'));
create policy kb_chunks_staff_read on public.kb_chunks
    for select to authenticated
    using (public.ccos_app_role() in ('agent', 'supervisor', 'admin'));
grant select on public.kb_documents, public.kb_chunks to authenticated;
grant all on public.kb_documents, public.kb_chunks, public.jobs to service_role;
