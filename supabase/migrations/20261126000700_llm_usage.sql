-- Estimated LLM tokens spent per conversation and UTC day: the per-conversation daily budget.

create table public.llm_usage (
    conversation_id uuid not null references public.conversations (id) on delete cascade,
    day date not null,
    tokens bigint not null default 0,
    primary key (conversation_id, day)
);

alter table public.llm_usage enable row level security;
grant all on public.llm_usage to service_role;
