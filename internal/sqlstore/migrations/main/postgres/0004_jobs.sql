-- Durable background jobs (mail, webhook delivery, deadline reminders,
-- retention sweeps, breach detection) and the mail outbox built on them.

-- One row per job. A runner claims a due job by setting state 'running'
-- and a lease (lease_owner, lease_until); if the runner dies, the lease
-- runs out and another runner claims the job again. attempts counts
-- claims, so a job whose runner keeps dying still ends up dead.
-- payload and last_error are stored in clear and outlive the people a job
-- is about: they must never hold personal data (work that needs personal
-- data keeps it sealed in a table of its own, like mail_messages).
-- unique_key de-duplicates periodic jobs ("retention-sweep:2025-06-01");
-- it is NULL for ordinary jobs, and UNIQUE lets any number of NULLs in.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    unique_key   TEXT UNIQUE,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    run_at       BIGINT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),
    last_error   TEXT NOT NULL DEFAULT '',
    lease_owner  TEXT NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
-- What a runner polls: only unfinished jobs, so done and dead rows (the
-- bulk of the table, in time) cost the poll nothing.
CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('queued', 'running');

-- The mail outbox: one row per queued message, with the same id as its
-- "mail.send" job. Recipient, subject and bodies are personal data, so they
-- are kept sealed (with the outbox's own key, not a subject's: mail to
-- someone unknown or erased must still go out) and only until the message
-- is sent or given up: then sealed becomes NULL and the row is the record
-- that a mail of this kind was sent (sent_at) or dropped (failed_at).
CREATE TABLE mail_messages (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    sealed     BYTEA,
    created_at BIGINT NOT NULL,
    sent_at    BIGINT,
    failed_at  BIGINT,
    CHECK ((sealed IS NULL) = (sent_at IS NOT NULL OR failed_at IS NOT NULL))
);
