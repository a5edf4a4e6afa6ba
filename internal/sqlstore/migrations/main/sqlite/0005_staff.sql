-- Staff accounts of the console, one-time enrolment links, server-side
-- sessions (of staff, and later of data subjects in the portal) and the
-- sign-in counters that throttle and lock, kept in the database so that
-- they hold across replicas.

-- A staff member. The e-mail address is personal data: it is stored
-- sealed (email_sealed) and found by its blind index (email_index). The
-- password is an argon2id PHC string; the TOTP secret is sealed;
-- totp_last_step is the last accepted RFC 6238 step, so a code is accepted
-- once only. enrolled_at is set when password and TOTP are confirmed:
-- before that the account cannot sign in.
CREATE TABLE staff (
    id             TEXT PRIMARY KEY,
    email_index    BLOB NOT NULL UNIQUE,
    email_sealed   BLOB NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('owner', 'dpo', 'support', 'auditor')),
    password_hash  TEXT NOT NULL DEFAULT '',
    totp_sealed    BLOB,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    enrolled_at    BIGINT,
    created_at     BIGINT NOT NULL
) WITHOUT ROWID;

-- Recovery codes: only their HMAC; a used code is deleted.
CREATE TABLE staff_recovery_codes (
    staff_id  TEXT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    PRIMARY KEY (staff_id, code_hash)
) WITHOUT ROWID;

-- One-time enrolment links: only the HMAC of the token, valid until
-- expires_at, used once (used_at).
CREATE TABLE staff_enrolments (
    token_hash BLOB PRIMARY KEY,
    staff_id   TEXT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
) WITHOUT ROWID;

-- Sessions, staff or subject: only the HMAC of the session token is kept.
-- level is how far the person got: for staff 'password' (first factor
-- only), 'enrol' (enrolling) or 'mfa' (signed in); for subjects the
-- verification level. fresh_at is the last time a second factor was
-- given, for sensitive actions. pending holds sealed work in progress
-- (an enrolment's password hash and TOTP secret).
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('staff', 'subject')),
    principal  TEXT NOT NULL,
    level      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    fresh_at   BIGINT NOT NULL DEFAULT 0,
    pending    BLOB
) WITHOUT ROWID;
CREATE INDEX sessions_principal ON sessions (kind, principal);

-- Sign-in attempts per bucket: an account (the blind index of the
-- identifier, whether or not the account exists) or a client address
-- (its HMAC, never the address). Rows older than the longest window are
-- pruned as new ones arrive (auth_attempts_at).
CREATE TABLE auth_attempts (
    bucket TEXT NOT NULL,
    at     BIGINT NOT NULL,
    failed INTEGER NOT NULL -- 0 success, 1 failure, 2 lock marker
);
CREATE INDEX auth_attempts_bucket ON auth_attempts (bucket, at);
CREATE INDEX auth_attempts_at ON auth_attempts (at);
