-- The payload of an approval's events (approval.created / updated / escalated / expired), built
-- by the statement that changes the approval: the change, its audit entry and its events are
-- then one round trip (functions/_shared/hitl/approvals.py). Same keys and the same text as the
-- API's ApprovalChange model gives (a test compares them), timestamps included.

-- A timestamp as the API writes one: UTC, 'Z', microseconds only when there are any; null for
-- null. Not declared strict, so that Postgres inlines it into the statements that call it.
create function public.ccos_json_timestamp(t timestamptz) returns text
language sql stable
as $$
    select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || case when extract(microseconds from t)::bigint % 1000000 = 0 then ''
                else to_char(t at time zone 'UTC', '.US') end
        || 'Z'
$$;

create function public.ccos_approval_change(a public.approvals, previous_status text)
returns jsonb
language sql stable
as $$
    select jsonb_build_object(
        'approval_id', a.id,
        'kind', a.kind,
        'status', a.status,
        'previous_status', previous_status,
        'escalation_level', a.escalation_level,
        'deadline_at', public.ccos_json_timestamp(a.deadline_at),
        'conversation_id', a.conversation_id,
        'assignee_id', a.assignee_id,
        'reasons', to_jsonb(a.reasons)
    )
$$;

-- Server-side helpers, not an API: nobody calls them through PostgREST.
revoke execute on function public.ccos_json_timestamp(timestamptz) from public, anon, authenticated;
revoke execute on function public.ccos_approval_change(public.approvals, text)
    from public, anon, authenticated;
