-- Erasure with legal holds (GDPR Art. 17(3)) and staff approval, and the
-- staff decision on an objection (Art. 21(1)).

-- One row per executed erasure, with the signed receipt given to the
-- person. The receipt names categories, reasons and dates, never values.
-- An erasure outlives its subject: erasing the whole account sets
-- subject_id to NULL, and the receipt stays as proof that the erasure was
-- done (Art. 5(2)).
CREATE TABLE erasures (
    id            TEXT PRIMARY KEY,
    subject_id    TEXT REFERENCES subjects(id) ON DELETE SET NULL,
    request_id    TEXT NOT NULL DEFAULT '',
    whole_account INTEGER NOT NULL CHECK (whole_account IN (0, 1)),
    receipt       TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX erasures_by_subject ON erasures (subject_id);

-- The categories an erasure did not erase at once: kept under a legal hold
-- until due_at (then the sweep erases them), or waiting for a staff
-- approval. A row leaves 'scheduled' or 'awaiting_approval' exactly once.
CREATE TABLE erasure_items (
    erasure_id TEXT NOT NULL REFERENCES erasures(id),
    subject_id TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    category   TEXT NOT NULL REFERENCES categories(name),
    state      TEXT NOT NULL CHECK (state IN ('scheduled', 'awaiting_approval', 'erased', 'refused')),
    reason     TEXT NOT NULL DEFAULT '',
    reference  TEXT NOT NULL DEFAULT '',
    exception  TEXT NOT NULL DEFAULT '',
    due_at     BIGINT,
    decided_by TEXT NOT NULL DEFAULT '',
    decided_at BIGINT,
    PRIMARY KEY (erasure_id, category),
    CHECK (state <> 'scheduled' OR due_at IS NOT NULL)
);
CREATE INDEX erasure_items_due ON erasure_items (due_at) WHERE state = 'scheduled';
CREATE INDEX erasure_items_by_subject ON erasure_items (subject_id, state);

-- A staff decision on an objection to a purpose based on legitimate
-- interests or a public task: 'upheld' (processing stops) or 'overridden'
-- (compelling legitimate grounds, Art. 21(1)). Until one exists the
-- purpose is restricted for that person (Art. 18(1)(d)). The justification
-- is sealed with the subject's key.
CREATE TABLE objection_decisions (
    record_id  TEXT PRIMARY KEY REFERENCES consent_records(id) ON DELETE CASCADE,
    subject_id TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('upheld', 'overridden')),
    sealed     BLOB NOT NULL,
    key_id     TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    audit_seq  BIGINT NOT NULL
);

-- The cached state carries the decision on the latest objection, so the
-- consent check stays one indexed read.
ALTER TABLE consent_state ADD COLUMN decision TEXT NOT NULL DEFAULT '';
