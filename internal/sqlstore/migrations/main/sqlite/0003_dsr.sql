-- The data-subject request capability (GDPR Arts. 12-22): requests with
-- their deadlines, an append-only history of every change, idempotency
-- keys of the callers that submitted them, and the notices the person is
-- owed (sent later by the mail job).

-- One row per request. A request outlives its subject: erasing the subject
-- sets subject_id to NULL (the controller must still be able to show that
-- it answered the erasure request, Art. 5(2)), and the sealed details,
-- sealed with the subject's data key, become unreadable with that key.
-- subject_id is also NULL while a public-form request waits for the
-- person's identity. details holds the non-personal scope (categories,
-- purposes); what the person wrote (rectified values, a message) is in
-- sealed_details. Kept as a rowid table: sealed details can be large.
CREATE TABLE requests (
    id                      TEXT PRIMARY KEY,
    subject_id              TEXT REFERENCES subjects(id) ON DELETE SET NULL,
    kind                    TEXT NOT NULL CHECK (kind IN ('access', 'export', 'erasure', 'rectification', 'restriction', 'objection')),
    channel                 TEXT NOT NULL CHECK (channel IN ('portal', 'api', 'form', 'staff-email', 'staff-letter', 'staff-phone')),
    details                 TEXT NOT NULL,
    sealed_details          BLOB,
    details_key_id          TEXT NOT NULL DEFAULT '',
    state                   TEXT NOT NULL CHECK (state IN ('received', 'awaiting_identity', 'in_progress', 'awaiting_approval', 'completed', 'refused', 'withdrawn')),
    received_at             BIGINT NOT NULL,
    legal_due_at            BIGINT NOT NULL,
    target_due_at           BIGINT NOT NULL,
    extended                INTEGER NOT NULL DEFAULT 0 CHECK (extended IN (0, 1)),
    extension_reason        TEXT NOT NULL DEFAULT '',
    assigned_to             TEXT NOT NULL DEFAULT '',
    identity_wait           BIGINT NOT NULL DEFAULT 0, -- microseconds in awaiting_identity, closed intervals
    awaiting_identity_since BIGINT,
    version                 BIGINT NOT NULL,
    created_by              TEXT NOT NULL,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL,
    closed_at               BIGINT,
    CHECK ((closed_at IS NULL) = (state IN ('received', 'awaiting_identity', 'in_progress', 'awaiting_approval'))),
    CHECK ((awaiting_identity_since IS NULL) = (state <> 'awaiting_identity')),
    CHECK ((extended = 1) = (extension_reason <> '')),
    CHECK ((sealed_details IS NULL) = (details_key_id = '')),
    CHECK (received_at <= created_at),
    CHECK (target_due_at <= legal_due_at)
);
-- Duplicates are merged, not doubled: a subject has at most one open
-- request of each kind. NULL subjects (not yet identified) are distinct.
CREATE UNIQUE INDEX requests_one_open ON requests (subject_id, kind) WHERE closed_at IS NULL;
-- Erasing a subject finds its requests through this index, not a scan.
CREATE INDEX requests_by_subject ON requests (subject_id);
-- The staff queue and the dashboard counts.
CREATE INDEX requests_open_by_due ON requests (target_due_at) WHERE closed_at IS NULL;
CREATE INDEX requests_by_state ON requests (state, target_due_at);

-- What must never change once a request exists: when and how it arrived
-- and what it asks for. subject_id may be set once (identity established)
-- and cleared by an erasure, never moved to another person.
CREATE TRIGGER requests_intake_immutable BEFORE UPDATE ON requests
WHEN NEW.received_at <> OLD.received_at OR NEW.kind <> OLD.kind OR NEW.channel <> OLD.channel
    OR NEW.created_by <> OLD.created_by OR NEW.created_at <> OLD.created_at
    OR (OLD.subject_id IS NOT NULL AND NEW.subject_id IS NOT NULL AND NEW.subject_id <> OLD.subject_id)
BEGIN
    SELECT RAISE(ABORT, 'a request''s receipt, kind, channel and subject are immutable');
END;

-- Every change of a request, one row each: version is the request's
-- version after the change, so (request_id, version) also proves that no
-- change went unrecorded. Append-only: the triggers refuse UPDATE and
-- DELETE. The note and personal details an event carries are sealed with
-- the subject's key (sealed, key_id); note holds the text in the clear only
-- for a request with no subject, which has no key to seal with.
CREATE TABLE request_events (
    request_id        TEXT NOT NULL REFERENCES requests(id),
    version           BIGINT NOT NULL,
    at                BIGINT NOT NULL,
    actor             TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('submit', 'merge', 'transition', 'extend', 'assign', 'link')),
    from_state        TEXT NOT NULL,
    to_state          TEXT NOT NULL,
    reason_code       TEXT NOT NULL DEFAULT '',
    justification_iri TEXT NOT NULL DEFAULT '',
    details           TEXT NOT NULL DEFAULT '{}',
    sealed            BLOB,
    key_id            TEXT NOT NULL DEFAULT '',
    note              TEXT NOT NULL DEFAULT '',
    audit_seq         BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (request_id, version),
    CHECK ((sealed IS NULL) = (key_id = '')),
    CHECK (kind <> 'transition' OR from_state <> to_state),
    -- R-03: a refusal is unreachable without a reason code and its words.
    CHECK (kind <> 'transition' OR to_state <> 'refused' OR (reason_code <> '' AND (sealed IS NOT NULL OR note <> '')))
);

CREATE TRIGGER request_events_no_update BEFORE UPDATE ON request_events
BEGIN
    SELECT RAISE(ABORT, 'request events are append-only');
END;

CREATE TRIGGER request_events_no_delete BEFORE DELETE ON request_events
BEGIN
    SELECT RAISE(ABORT, 'request events are append-only');
END;

-- Idempotency keys, unique per caller (an API key, a staff member): a
-- retried submission finds the request its first attempt created or was
-- merged into. The primary key, not a check in code, makes it unique.
-- fingerprint is an HMAC of the submission, so reusing a key for a
-- different submission is detected without storing what it said.
CREATE TABLE request_idempotency (
    actor           TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_id      TEXT NOT NULL REFERENCES requests(id),
    fingerprint     TEXT NOT NULL,
    merged          INTEGER NOT NULL CHECK (merged IN (0, 1)),
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (actor, idempotency_key)
) WITHOUT ROWID;

-- Notices the person must get (an extension with its reasons, a refusal
-- with the right to complain), written with the event that owes them; a
-- mail job sends them and sets sent_at.
CREATE TABLE request_notifications (
    seq           INTEGER PRIMARY KEY,
    request_id    TEXT NOT NULL,
    event_version BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    sent_at       BIGINT,
    FOREIGN KEY (request_id, event_version) REFERENCES request_events(request_id, version)
);
CREATE INDEX request_notifications_by_request ON request_notifications (request_id);
CREATE INDEX request_notifications_unsent ON request_notifications (seq) WHERE sent_at IS NULL;
