"""Response model of the timeouts function."""

from pydantic import BaseModel, Field


class SweepReport(BaseModel):
    approvals: dict[str, int] = Field(description="`escalated`, `expired`.")
    turns: dict[str, int] = Field(description="`handed_over`: turns that never finished.")
    conversations: dict[str, int] = Field(description="`closed` (idle).")
    jobs: dict[str, int] = Field(description="`requeued` (stale leases).")
    callbacks: dict[str, int] = Field(description="`attempted` deliveries.")
    retention: dict[str, int] = Field(description="`events_pruned`, `rate_limit_windows_pruned`.")
    duration_ms: float
