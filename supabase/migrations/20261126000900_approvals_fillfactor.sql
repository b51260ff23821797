-- Room on each page of approvals for the new version of a row, so that claiming one (assignee
-- and updated_at: no indexed column) is a HOT update: no new entries in the table's four
-- indexes, and none left dead in the pending queue's index that claim-next scans. Applies to
-- pages written from now on (a VACUUM FULL would rewrite the existing ones).
alter table public.approvals set (fillfactor = 85);
