-- SQLite notes: small tables keyed by text are WITHOUT ROWID (one b-tree
-- instead of a rowid table plus its primary-key index, so fewer pages per
-- commit and one search per lookup); subject_data keeps its rowid because
-- its sealed values can be large; audit seq is the rowid itself.

-- Data categories group a subject's personal data (contact, billing, …).
CREATE TABLE categories (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    builtin     INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
) WITHOUT ROWID;

-- A data subject. key_id names the subject's data key in the key store; the
-- key itself never lives in this database, so a copy of this file taken
-- before an erasure cannot be decrypted after it.
CREATE TABLE subjects (
    id         TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    restricted INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Identifiers are found by blind index (an HMAC of the normalised value)
-- and kept sealed; the primary key makes each identifier unique across
-- subjects in the database itself.
CREATE TABLE subject_identifiers (
    kind       TEXT NOT NULL,
    blind      BLOB NOT NULL,
    subject_id TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    sealed     BLOB NOT NULL,
    PRIMARY KEY (kind, blind)
) WITHOUT ROWID;
CREATE UNIQUE INDEX subject_identifiers_by_subject ON subject_identifiers (subject_id, kind);

-- Personal data per category, sealed under a key of its own so that one
-- category can be crypto-shredded without the others.
CREATE TABLE subject_data (
    subject_id TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    category   TEXT NOT NULL REFERENCES categories(name),
    key_id     TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (subject_id, category)
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    scopes      TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    rate_limit  INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
) WITHOUT ROWID;

-- The tamper-evident audit log: each event's hash covers the previous
-- event's hash; signed checkpoints pin the chain at a point in time.
CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY, -- the rowid itself: one b-tree, not two
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    purpose   TEXT NOT NULL,
    target    TEXT NOT NULL,
    result    TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    details   BLOB,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
);
CREATE INDEX audit_events_by_target ON audit_events (target, seq);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BLOB NOT NULL
);

CREATE TABLE audit_checkpoints (
    seq       INTEGER PRIMARY KEY,
    hash      BLOB NOT NULL,
    at        BIGINT NOT NULL,
    key_id    TEXT NOT NULL,
    signature BLOB NOT NULL
);

-- Data keys destroyed by an erasure. Written in the same transaction as
-- the erasure itself; re-applied to the key store at start-up (a crash
-- between the two commits) and after restoring a key-store backup.
CREATE TABLE key_tombstones (
    key_id TEXT PRIMARY KEY,
    at     BIGINT NOT NULL
) WITHOUT ROWID;

-- Purposes of processing. Every read of personal data names one. The
-- consent capability adds its columns; the vault needs only the slug.
CREATE TABLE purposes (
    slug        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    legal_basis TEXT NOT NULL,
    created_at  BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO purposes (slug, name, legal_basis, created_at) VALUES
    ('service-delivery', 'Providing the service', 'contract', 0),
    ('support', 'Customer support', 'contract', 0),
    ('billing', 'Billing and invoicing', 'legal-obligation', 0),
    ('security', 'Security and fraud prevention', 'legitimate-interest', 0),
    ('legal-claims', 'Establishment, exercise or defence of legal claims', 'legitimate-interest', 0),
    ('storage', 'Storage only (restricted processing)', 'legal-obligation', 0),
    ('dsr', 'Answering a data-subject request', 'legal-obligation', 0);

INSERT INTO categories (name, description, builtin, created_at) VALUES
    ('contact', 'Name, postal address and other contact details', 1, 0),
    ('profile', 'Account profile and preferences', 1, 0),
    ('billing', 'Invoices, payment and tax data', 1, 0),
    ('security', 'E-mail and IP addresses, sign-in history used for security', 1, 0),
    ('usage', 'How the service is used: devices, jobs, logs', 1, 0),
    ('marketing', 'Marketing preferences and campaign interactions', 1, 0);

-- The chain starts from an all-zero hash; the head row exists from the
-- start so concurrent first appends on PostgreSQL lock the same row.
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));
