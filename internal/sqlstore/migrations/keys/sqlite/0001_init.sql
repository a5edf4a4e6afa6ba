-- The key store. It is kept apart from the personal data (its own SQLite
-- file by default) and its backups are kept for a short, documented time:
-- deleting a data key here is what makes every copy of the data unreadable.

-- Key-encryption keys, wrapped by the master key.
CREATE TABLE keks (
    id         TEXT PRIMARY KEY,
    wrapped    BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Data keys, wrapped by a KEK. Rotation re-wraps them (kek_id changes);
-- the data they seal is never re-encrypted.
CREATE TABLE data_keys (
    id         TEXT PRIMARY KEY,
    kek_id     TEXT NOT NULL REFERENCES keks(id),
    wrapped    BLOB NOT NULL,
    created_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX data_keys_by_kek ON data_keys (kek_id);
