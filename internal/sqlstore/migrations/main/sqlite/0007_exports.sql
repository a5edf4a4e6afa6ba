-- Access and portability packages (GDPR Arts. 15, 20): the purpose their
-- vault reads are audited under, and the signed download links through
-- which staff-initiated and large exports are fetched.

-- Building a person's access package reads all their data for this
-- purpose (Art. 6(1)(c): answering the request is a legal obligation).
INSERT INTO purposes (slug, name, description, legal_basis, created_at, notice) VALUES
    ('dsr-access', 'Giving a person a copy of their data',
     'Building the access or portability package a person asked for (GDPR Arts. 15 and 20).',
     'legal-obligation', 0, 'privacy-policy');
INSERT INTO purpose_texts (purpose, lang, name, description) VALUES
    ('dsr-access', 'en', 'Giving a person a copy of their data',
     'Building the access or portability package a person asked for (GDPR Arts. 15 and 20).'),
    ('dsr-access', 'de', 'Herausgabe einer Kopie der eigenen Daten',
     'Erstellen des Auskunfts- oder Datenübertragbarkeitspakets, das eine Person angefordert hat (Art. 15 und 20 DSGVO).');

-- One row per download link. The token itself is never stored: token_hash
-- is its keyed hash (keys.Keyring.HashSecret), so the table alone does not
-- let anyone download. A link is bound to one subject and one kind of
-- package, expires at expires_at, and is used at most once: used_at is set
-- by the single UPDATE that redeems it, which only one caller can win.
-- sealed_options (sealed with the subject's key) holds what the package
-- is encrypted to, if anything: a recipient's age public key is personal
-- data. Erasing the subject deletes its links.
CREATE TABLE export_links (
    token_hash     BLOB PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    subject_id     TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('access', 'export')),
    sealed_options BLOB,
    options_key_id TEXT NOT NULL DEFAULT '',
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    CHECK (expires_at > created_at),
    CHECK ((sealed_options IS NULL) = (options_key_id = ''))
) WITHOUT ROWID;
CREATE INDEX export_links_by_subject ON export_links (subject_id);
