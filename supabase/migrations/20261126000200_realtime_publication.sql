-- Supabase Realtime: row-level listening for dashboards, and who may join private channels.
--
-- Both parts act only where Supabase has created their objects (the supabase_realtime
-- publication; the realtime schema with realtime.messages and realtime.topic()), so this file
-- runs unchanged, and does nothing, on plain Postgres. Broadcasts themselves are sent by the
-- server (functions/_shared/events/supabase.py); see contracts/realtime-supabase.md.

-- Domain tables whose row changes dashboards may listen to (Postgres Changes, filtered by each
-- table's own RLS). Tables that do not exist yet are skipped: later migrations add their own
-- tables the same way.
do $$
declare
    domain_table text;
begin
    if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
        return;
    end if;
    -- A publication FOR ALL TABLES already carries every table (and refuses ADD TABLE).
    if exists (select 1 from pg_publication where pubname = 'supabase_realtime' and puballtables)
    then
        return;
    end if;
    foreach domain_table in array array['agent_profiles'] loop
        if to_regclass(format('public.%I', domain_table)) is not null
            and not exists (
                select 1 from pg_publication_tables
                where pubname = 'supabase_realtime'
                    and schemaname = 'public'
                    and tablename = domain_table
            )
        then
            execute format('alter publication supabase_realtime add table public.%I', domain_table);
        end if;
    end loop;
end
$$;

-- Private channels (the server broadcasts with "private": true): Realtime lets a client join a
-- topic only if a select on realtime.messages passes RLS for it. Staff may receive broadcasts
-- on every topic; a customer only on conversation:<id> of the conversation its token is for.
-- No insert policy: clients never broadcast, only the server does (with the service key).
do $$
begin
    if to_regclass('realtime.messages') is null
        or to_regprocedure('realtime.topic()') is null
    then
        return;
    end if;
    if not exists (
        select 1 from pg_policies
        where schemaname = 'realtime'
            and tablename = 'messages'
            and policyname = 'ccos_staff_receive_broadcasts'
    ) then
        create policy ccos_staff_receive_broadcasts on realtime.messages
            for select to authenticated
            using (
                realtime.messages.extension = 'broadcast'
                and (select public.ccos_app_role()) in ('agent', 'supervisor', 'admin')
            );
    end if;
    if not exists (
        select 1 from pg_policies
        where schemaname = 'realtime'
            and tablename = 'messages'
            and policyname = 'ccos_customer_receives_own_conversation'
    ) then
        create policy ccos_customer_receives_own_conversation on realtime.messages
            for select to authenticated
            using (
                realtime.messages.extension = 'broadcast'
                and (select public.ccos_app_role()) = 'customer'
                and (select auth.jwt() ->> 'conversation_id') is not null
                and (select realtime.topic())
                    = 'conversation:' || (select auth.jwt() ->> 'conversation_id')
            );
    end if;
end
$$;
