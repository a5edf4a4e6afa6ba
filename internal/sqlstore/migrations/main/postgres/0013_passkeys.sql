-- Passkeys (WebAuthn) of staff members, a second factor besides TOTP.
-- credential holds the whole credential record as the WebAuthn library
-- keeps it (JSON: public key, flags, attestation); the columns beside it
-- are what the console lists and what a sign-in updates. The name the
-- member gives a passkey is sealed. sign_count is the authenticator's
-- counter (a counter that goes backwards refuses the sign-in: a cloned
-- key).
CREATE TABLE staff_passkeys (
    id            TEXT PRIMARY KEY,
    staff_id      TEXT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    credential_id BYTEA NOT NULL UNIQUE,
    public_key    BYTEA NOT NULL,
    sign_count    BIGINT NOT NULL DEFAULT 0,
    transports    TEXT NOT NULL DEFAULT '',
    aaguid        BYTEA,
    name_sealed   BYTEA NOT NULL,
    credential    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used     BIGINT
);
CREATE INDEX staff_passkeys_staff ON staff_passkeys (staff_id);

-- A WebAuthn ceremony in progress: the challenge and what the library
-- needs to finish it, bound to one staff session (its token hash), one
-- per session and kind, short-lived and deleted when used.
CREATE TABLE webauthn_ceremonies (
    session_hash BYTEA NOT NULL REFERENCES sessions (token_hash) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('register', 'login')),
    data         BYTEA NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (session_hash, kind)
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);
