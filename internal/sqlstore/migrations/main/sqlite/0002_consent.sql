-- The consent capability: notices, the richer purpose model, the
-- append-only consent register and a cache of its current state.

-- Notices (privacy policy, terms…) and their versions. A version's body is
-- frozen once published: a change is a new version, so a consent record
-- that names (notice, version) always points at the text the person saw.
CREATE TABLE notices (
    slug       TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO notices (slug, title, created_at) VALUES
    ('privacy-policy', 'Privacy Policy', 0),
    ('terms-of-use', 'Terms of Use', 0),
    ('cookie-policy', 'Cookie Policy', 0),
    ('data-handling-policy', 'Data Handling Policy', 0);

-- version is max+1 per notice, made unique by the primary key (concurrent
-- drafts on PostgreSQL: the loser retries). published_at NULL = draft.
CREATE TABLE notice_versions (
    notice       TEXT NOT NULL REFERENCES notices(slug),
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL,
    body_sha256  BLOB NOT NULL,
    effective_at BIGINT NOT NULL,
    summary      TEXT NOT NULL DEFAULT '',
    material     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    published_at BIGINT,
    PRIMARY KEY (notice, version)
);

CREATE TRIGGER notice_versions_published_immutable BEFORE UPDATE ON notice_versions
WHEN OLD.published_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'published notice versions are immutable');
END;

CREATE TRIGGER notice_versions_published_kept BEFORE DELETE ON notice_versions
WHEN OLD.published_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'published notice versions are immutable');
END;

-- Purposes gain what GDPR Arts. 6, 9, 13 and 30 ask for. name and
-- description stay the English text for code that reads only those.
-- SQLite only lets ADD COLUMN carry a REFERENCES clause with a NULL
-- default, so notice is filled in below; code always writes it.
ALTER TABLE purposes ADD COLUMN special_categories INTEGER NOT NULL DEFAULT 0;
ALTER TABLE purposes ADD COLUMN art9_condition TEXT NOT NULL DEFAULT '';
ALTER TABLE purposes ADD COLUMN necessary INTEGER NOT NULL DEFAULT 0;
ALTER TABLE purposes ADD COLUMN direct_marketing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE purposes ADD COLUMN retention TEXT NOT NULL DEFAULT '';
ALTER TABLE purposes ADD COLUMN notice TEXT REFERENCES notices(slug);
ALTER TABLE purposes ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE purposes SET notice = 'privacy-policy';
UPDATE purposes SET necessary = 1 WHERE slug IN ('service-delivery', 'support', 'billing', 'security');

-- Translated names and descriptions, one row per language.
CREATE TABLE purpose_texts (
    purpose     TEXT NOT NULL REFERENCES purposes(slug),
    lang        TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (purpose, lang)
);
INSERT INTO purpose_texts (purpose, lang, name, description)
    SELECT slug, 'en', name, description FROM purposes;
INSERT INTO purpose_texts (purpose, lang, name, description) VALUES
    ('service-delivery', 'de', 'Bereitstellung des Dienstes', ''),
    ('support', 'de', 'Kundensupport', ''),
    ('billing', 'de', 'Abrechnung und Rechnungsstellung', ''),
    ('security', 'de', 'Sicherheit und Betrugsprävention', ''),
    ('legal-claims', 'de', 'Geltendmachung, Ausübung oder Verteidigung von Rechtsansprüchen', ''),
    ('storage', 'de', 'Nur Speicherung (eingeschränkte Verarbeitung)', ''),
    ('dsr', 'de', 'Beantwortung eines Betroffenenantrags', '');

-- The data categories a purpose uses (Art. 30(1)(c)); the foreign key
-- keeps them to categories that exist.
CREATE TABLE purpose_categories (
    purpose  TEXT NOT NULL REFERENCES purposes(slug),
    category TEXT NOT NULL REFERENCES categories(name),
    PRIMARY KEY (purpose, category)
);

-- The consent register: append-only (the trigger refuses every UPDATE);
-- rows go only when their subject is erased (ON DELETE CASCADE from the
-- vault's erasure). seq orders the records; AUTOINCREMENT never reuses a
-- seq, so a seq quoted in a receipt names one record forever. The proof
-- (IP address, user agent) is sealed with the subject's data key.
CREATE TABLE consent_records (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    subject_id     TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('grant', 'withdraw', 'object', 'accept-notice')),
    purpose        TEXT REFERENCES purposes(slug),
    notice         TEXT,
    notice_version INTEGER,
    notice_sha256  BLOB,
    channel        TEXT NOT NULL,
    action         TEXT NOT NULL,
    source         TEXT NOT NULL DEFAULT '',
    recorded_at    BIGINT NOT NULL,
    recorded_by    TEXT NOT NULL,
    proof          BLOB,
    proof_key_id   TEXT NOT NULL DEFAULT '',
    audit_seq      BIGINT NOT NULL,
    FOREIGN KEY (notice, notice_version) REFERENCES notice_versions(notice, version),
    CHECK ((kind = 'accept-notice') = (purpose IS NULL)),
    CHECK (kind NOT IN ('grant', 'accept-notice') OR notice_version IS NOT NULL)
);
CREATE INDEX consent_records_by_subject ON consent_records (subject_id, purpose, seq);

CREATE TRIGGER consent_records_append_only BEFORE UPDATE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;

-- The latest grant, withdraw or object record per subject and purpose,
-- written in the same transaction as the record. A cache, never the
-- authority: Rebuild recomputes it from consent_records.
CREATE TABLE consent_state (
    subject_id TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL REFERENCES purposes(slug),
    kind       TEXT NOT NULL,
    record_seq BIGINT NOT NULL,
    record_id  TEXT NOT NULL,
    since      BIGINT NOT NULL,
    PRIMARY KEY (subject_id, purpose)
);
CREATE INDEX consent_state_by_purpose ON consent_state (purpose, kind, subject_id);
