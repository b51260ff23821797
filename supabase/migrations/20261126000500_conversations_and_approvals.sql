-- Conversations, messages with their citations, human approvals with their audit trail, and
-- fixed-window rate-limit counters shared by every instance.

create table public.conversations (
    id uuid primary key default gen_random_uuid(),
    status text not null default 'ai'
        check (status in ('ai', 'pending_human', 'human', 'closed')),
    locale text not null default 'ko',
    customer_name text,
    customer_external_id text,
    -- The agent who took the conversation over (JWT sub).
    assignee_id text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    last_activity_at timestamptz not null default now(),
    closed_at timestamptz
);

create index conversations_open_by_activity on public.conversations (last_activity_at)
    where status <> 'closed';

create table public.messages (
    id uuid primary key default gen_random_uuid(),
    conversation_id uuid not null references public.conversations (id) on delete cascade,
    -- Orders messages within a conversation (created_at can tie).
    position bigint generated always as identity,
    role text not null check (role in ('customer', 'assistant', 'agent', 'system')),
    -- As stored: customers' personal data masked.
    content text not null,
    author_id text,
    -- Makes a post idempotent; the first post's turn result is kept in `turn`.
    client_message_id text,
    turn jsonb,
    -- The approval a system notice or a delivered draft belongs to.
    approval_id uuid,
    created_at timestamptz not null default clock_timestamp(),
    unique (conversation_id, client_message_id)
);

create index messages_conversation on public.messages (conversation_id, position);

create table public.message_citations (
    message_id uuid not null references public.messages (id) on delete cascade,
    ordinal integer not null,
    -- No foreign keys into the KB: a deleted document leaves its citations readable.
    document_id uuid not null,
    chunk_id uuid not null,
    title text not null,
    score double precision not null,
    primary key (message_id, ordinal)
);

create table public.approvals (
    id uuid primary key default gen_random_uuid(),
    kind text not null check (kind in ('reply', 'action')),
    status text not null default 'pending'
        check (status in ('pending', 'approved', 'edited', 'rejected', 'expired', 'cancelled')),
    conversation_id uuid references public.conversations (id) on delete cascade,
    -- The customer message whose turn produced it.
    source_message_id uuid references public.messages (id) on delete set null,
    -- reply: the AI's draft (masked) and the sources it cites; action: {name, arguments}.
    draft text,
    draft_citations jsonb not null default '[]'::jsonb,
    action jsonb,
    summary text,
    reasons text[] not null default '{}',
    -- Why the AI could not draft (provider failure), for the agent.
    error text,
    requester_id text not null,
    requester_role text not null,
    idempotency_key text,
    request_hash text,
    callback_url text,
    escalation_level integer not null default 0 check (escalation_level >= 0),
    deadline_at timestamptz,
    assignee_id text,
    decided_by text,
    decided_at timestamptz,
    decision_note text,
    final_content text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (requester_id, idempotency_key)
);

create index approvals_pending_by_deadline on public.approvals (deadline_at)
    where status = 'pending';
create index approvals_conversation on public.approvals (conversation_id, created_at);

alter table public.messages
    add constraint messages_approval_fk
    foreign key (approval_id) references public.approvals (id) on delete set null;

create table public.approval_audit (
    id bigint generated always as identity primary key,
    approval_id uuid not null references public.approvals (id) on delete cascade,
    at timestamptz not null default clock_timestamp(),
    actor_id text not null,
    actor_role text not null,
    event text not null,
    from_status text,
    to_status text not null,
    note text,
    data jsonb not null default '{}'::jsonb
);

create index approval_audit_approval on public.approval_audit (approval_id, id);

create table public.rate_limit_windows (
    key text not null,
    window_start timestamptz not null,
    hits integer not null,
    primary key (key, window_start)
);

-- Row-level security: a Supabase-authenticated agent frontend reads conversations, messages,
-- citations, approvals and their audit; customers (anon) read nothing directly. Writes go
-- through the API only (service_role bypasses RLS).
alter table public.conversations enable row level security;
alter table public.messages enable row level security;
alter table public.message_citations enable row level security;
alter table public.approvals enable row level security;
alter table public.approval_audit enable row level security;
alter table public.rate_limit_windows enable row level security;

create policy conversations_read_for_staff on public.conversations
    for select to authenticated
    using (public.ccos_app_role() in ('agent', 'supervisor', 'admin'));
create policy messages_read_for_staff on public.messages
    for select to authenticated
    using (public.ccos_app_role() in ('agent', 'supervisor', 'admin'));
create policy message_citations_read_for_staff on public.message_citations
    for select to authenticated
    using (public.ccos_app_role() in ('agent', 'supervisor', 'admin'));
create policy approvals_read_for_staff on public.approvals
    for select to authenticated
    using (public.ccos_app_role() in ('agent', 'supervisor', 'admin'));
create policy approval_audit_read_for_staff on public.approval_audit
    for select to authenticated
    using (public.ccos_app_role() in ('agent', 'supervisor', 'admin'));

grant select on public.conversations, public.messages, public.message_citations,
    public.approvals, public.approval_audit to authenticated;
grant all on public.conversations, public.messages, public.message_citations,
    public.approvals, public.approval_audit, public.rate_limit_windows to service_role;

-- Agent dashboards follow row changes through Supabase Realtime as well as broadcasts (only
-- where Supabase created the publication, and not when it already carries every table).
do $$
declare
    domain_table text;
begin
    if not exists (select 1 from pg_publication where pubname = 'supabase_realtime')
        or exists (select 1 from pg_publication where pubname = 'supabase_realtime' and puballtables)
    then
        return;
    end if;
    foreach domain_table in array array['conversations', 'messages', 'approvals'] loop
        if not exists (
            select 1 from pg_publication_tables
            where pubname = 'supabase_realtime' and schemaname = 'public'
                and tablename = domain_table
        ) then
            execute format('alter publication supabase_realtime add table public.%I', domain_table);
        end if;
    end loop;
end
$$;
