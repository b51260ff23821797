-- Decisions on approvals, and signed callbacks to external requesters delivered from an outbox
-- of their own (retried with backoff; every attempt logged).

alter table public.approvals
    add column decision text check (decision in ('approve', 'edit', 'reject', 'expire')),
    add column decision_reason text;

create table public.callback_deliveries (
    id uuid primary key default gen_random_uuid(),
    approval_id uuid not null references public.approvals (id) on delete cascade,
    url text not null,
    -- The exact JSON sent (signed as sent): the approval's state at the decision or expiry.
    payload jsonb not null,
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_attempt_at timestamptz,
    last_status_code integer,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz not null default now()
);

create index callback_deliveries_due on public.callback_deliveries (next_attempt_at)
    where status = 'pending';
create index callback_deliveries_approval on public.callback_deliveries (approval_id);

create table public.callback_attempts (
    id bigint generated always as identity primary key,
    delivery_id uuid not null references public.callback_deliveries (id) on delete cascade,
    attempted_at timestamptz not null default clock_timestamp(),
    status_code integer,
    error text,
    duration_ms double precision not null
);

create index callback_attempts_delivery on public.callback_attempts (delivery_id, id);

alter table public.callback_deliveries enable row level security;
alter table public.callback_attempts enable row level security;

create policy callback_deliveries_read_for_staff on public.callback_deliveries
    for select to authenticated
    using (public.ccos_app_role() in ('agent', 'supervisor', 'admin'));
create policy callback_attempts_read_for_staff on public.callback_attempts
    for select to authenticated
    using (public.ccos_app_role() in ('agent', 'supervisor', 'admin'));

grant select on public.callback_deliveries, public.callback_attempts to authenticated;
grant all on public.callback_deliveries, public.callback_attempts to service_role;
