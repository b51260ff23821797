-- The transactional outbox: every state change writes its event here in the same transaction.
--
-- Ids are handed out in two steps. `id` is allocated at insert, but transactions commit in
-- another order than they insert, so `id` alone cannot be a resume cursor (a client that saw
-- id 10 could miss id 9 committed a moment later). A sequencer (one at a time, under an
-- advisory lock) therefore gives `seq` to rows whose writing transaction is certainly over
-- (xid older than every running transaction), ordered by (xid, id). `seq` is the event id
-- clients see and resume from: gap-free in delivery order, never reused.

create table public.event_outbox (
    id bigint generated always as identity primary key,
    xid xid8 not null default pg_current_xact_id(),
    seq bigint unique,
    topic text not null,
    type text not null,
    data jsonb not null,
    occurred_at timestamptz not null default clock_timestamp(),
    sequenced_at timestamptz,
    -- Supabase Realtime delivery (unused when Supabase is not configured).
    published_at timestamptz,
    publish_attempts integer not null default 0,
    next_publish_at timestamptz,
    last_publish_error text
);

comment on table public.event_outbox is
    'Transactional outbox of realtime events; seq is the public, resumable event id.';

create index event_outbox_unsequenced on public.event_outbox (xid, id) where seq is null;
create index event_outbox_topic_seq on public.event_outbox (topic, seq) where seq is not null;
create index event_outbox_unpublished on public.event_outbox (seq)
    where published_at is null and seq is not null;
create index event_outbox_occurred_at on public.event_outbox (occurred_at);

-- The last seq handed out. A row of its own (not max(seq)) so that retention may delete every
-- old event without ids ever being reused.
create table public.event_sequencer (
    singleton boolean primary key default true check (singleton),
    last_seq bigint not null default 0
);
insert into public.event_sequencer default values;

-- Events are read through the API (SSE) or Supabase broadcast, never through the Data API.
alter table public.event_outbox enable row level security;
alter table public.event_sequencer enable row level security;
grant all on public.event_outbox, public.event_sequencer to service_role;
