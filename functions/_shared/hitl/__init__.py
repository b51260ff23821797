"""The human-in-the-loop domain shared by chat, approve and timeouts: conversation state,
message delivery, approvals (state, audit, events) and the customer-facing notices."""
