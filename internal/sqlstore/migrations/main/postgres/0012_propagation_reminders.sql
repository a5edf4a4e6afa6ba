-- Erasure propagation (Art. 19) and deadline reminders to staff.

-- The webhook message (webhook-id) that told the recipients about an
-- erasure; its deliveries carry the status per endpoint. Empty when no
-- endpoint was subscribed or nothing was erased.
ALTER TABLE erasures ADD COLUMN webhook_msg_id TEXT NOT NULL DEFAULT '';
ALTER TABLE erasure_items ADD COLUMN webhook_msg_id TEXT NOT NULL DEFAULT '';

-- The deadline reminders sent to the staff member a request is assigned
-- to: one row per request and reminder (7 or 2 days before target_due_at),
-- written in the transaction that queues the mail, so each is sent once.
CREATE TABLE request_reminders (
    request_id TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    days       INTEGER NOT NULL CHECK (days > 0),
    staff_id   TEXT NOT NULL,
    sent_at    BIGINT NOT NULL,
    PRIMARY KEY (request_id, days)
);
