-- The consent widget on the host's website. A visitor is anonymous until
-- the host links them to a subject at sign-in; their choices are kept here
-- as evidence (ePrivacy Art. 5(3) consent must be provable, C-61/19) and
-- copied into the consent register when linked. A linked visitor row goes
-- with its subject (ON DELETE CASCADE).
CREATE TABLE widget_visitors (
    id          TEXT PRIMARY KEY,
    site        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    subject_id  TEXT REFERENCES subjects(id) ON DELETE CASCADE,
    linked_at   BIGINT
);

-- Append-only choices: one row per purpose per decision. The proof (a
-- truncated IP address and the user agent) is sealed.
CREATE TABLE widget_choices (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    visitor_id     TEXT NOT NULL REFERENCES widget_visitors(id) ON DELETE CASCADE,
    purpose        TEXT NOT NULL REFERENCES purposes(slug),
    kind           TEXT NOT NULL CHECK (kind IN ('grant', 'withdraw', 'object')),
    action         TEXT NOT NULL,
    source         TEXT NOT NULL,
    notice         TEXT NOT NULL,
    notice_version INTEGER NOT NULL,
    notice_sha256  BYTEA NOT NULL,
    recorded_at    BIGINT NOT NULL,
    proof          BYTEA,
    proof_key_id   TEXT NOT NULL DEFAULT '',
    FOREIGN KEY (notice, notice_version) REFERENCES notice_versions(notice, version)
);
CREATE INDEX widget_choices_by_visitor ON widget_choices (visitor_id, purpose, seq);

CREATE TRIGGER widget_choices_append_only BEFORE UPDATE ON widget_choices
FOR EACH ROW EXECUTE FUNCTION consent_refuse_change('widget choices are append-only');

-- TC and GPP strings from the operator's own CMP, sealed: a TC string that
-- can be linked to a person is personal data (C-604/22).
CREATE TABLE widget_signals (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    visitor_id   TEXT NOT NULL REFERENCES widget_visitors(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('tcf', 'gpp')),
    value        BYTEA NOT NULL,
    key_id       TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX widget_signals_by_visitor ON widget_signals (visitor_id, seq);
