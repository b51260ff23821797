-- Shared base: extensions, the Supabase roles and auth helpers (created only where absent, so
-- this file runs unchanged on Supabase and on plain Postgres), and agents' profiles.

create extension if not exists vector;

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
end
$$;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;
grant usage on schema public to anon, authenticated, service_role;

-- The helpers read the claims exactly as Supabase's PostgREST sets them: the whole JWT in the
-- setting request.jwt.claims (and, in older versions, one setting per claim).
do $$
begin
    if to_regprocedure('auth.jwt()') is null then
        create function auth.jwt() returns jsonb
        language sql stable
        as $fn$
            select coalesce(
                nullif(current_setting('request.jwt.claim', true), ''),
                nullif(current_setting('request.jwt.claims', true), '')
            )::jsonb
        $fn$;
    end if;
    if to_regprocedure('auth.uid()') is null then
        create function auth.uid() returns uuid
        language sql stable
        as $fn$
            select coalesce(
                nullif(current_setting('request.jwt.claim.sub', true), ''),
                nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
            )::uuid
        $fn$;
    end if;
    if to_regprocedure('auth.role()') is null then
        create function auth.role() returns text
        language sql stable
        as $fn$
            select coalesce(
                nullif(current_setting('request.jwt.claim.role', true), ''),
                nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
            )::text
        $fn$;
    end if;
end
$$;

-- The application role of the caller: Supabase users carry it in app_metadata (only the
-- service key can write there); tokens minted by ccos carry it as the role claim.
create or replace function public.ccos_app_role() returns text
language sql stable
as $$
    select coalesce(auth.jwt() -> 'app_metadata' ->> 'role', auth.jwt() ->> 'role')
$$;

create table public.agent_profiles (
    user_id uuid primary key,
    email text unique,
    display_name text not null,
    role text not null check (role in ('agent', 'supervisor', 'admin')),
    active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

comment on table public.agent_profiles is
    'Human agents, supervisors and admins; user_id is the Supabase Auth user id (JWT sub).';

alter table public.agent_profiles enable row level security;

-- An agent reads its own profile; supervisors and admins read everyone's. No policy for anon
-- and no write policy: profiles change only through the server (service_role bypasses RLS).
create policy agent_profiles_read_own on public.agent_profiles
    for select to authenticated
    using (user_id = auth.uid());

create policy agent_profiles_read_all_for_supervisors on public.agent_profiles
    for select to authenticated
    using (public.ccos_app_role() in ('supervisor', 'admin'));

grant select on public.agent_profiles to authenticated;
grant all on public.agent_profiles to service_role;
