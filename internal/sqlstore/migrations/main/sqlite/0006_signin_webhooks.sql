-- Sign-in for data subjects (e-mail codes, hand-off tokens) and outgoing
-- webhooks.

-- One-time codes mailed to data subjects. Only the code's HMAC is kept.
-- subject_id is NULL for a request about an unknown address: the row is
-- written all the same so that known and unknown addresses cost the same
-- work, and it can never verify. addr is the blind index of the address,
-- how VerifyCode finds the latest code. Rows are deleted once expired.
CREATE TABLE email_codes (
    id         TEXT PRIMARY KEY,
    addr       BLOB NOT NULL,
    subject_id TEXT REFERENCES subjects(id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX email_codes_by_addr ON email_codes (addr, created_at);

-- Fixed-window counters for rate limits that must hold across replicas.
-- name is "<limit>:<hex HMAC of the address or IP>", never plaintext.
CREATE TABLE code_rate_limits (
    name         TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits         INTEGER NOT NULL
) WITHOUT ROWID;

-- Per-application keys that sign hand-off tokens: an HS256 secret sealed
-- with the hand-off service key, or an Ed25519 public key supplied by the
-- operator. app is the issuer the tokens must name.
CREATE TABLE handoff_keys (
    id         TEXT PRIMARY KEY,
    app        TEXT NOT NULL,
    alg        TEXT NOT NULL CHECK (alg IN ('HS256', 'EdDSA')),
    key_id     TEXT NOT NULL DEFAULT '',
    sealed     BLOB,
    public_key BLOB,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    CHECK ((alg = 'HS256') = (sealed IS NOT NULL)),
    CHECK ((alg = 'EdDSA') = (public_key IS NOT NULL))
) WITHOUT ROWID;
CREATE INDEX handoff_keys_by_app ON handoff_keys (app);

-- Token IDs already used, kept until the token expires, so that a token
-- is accepted once across all replicas. jti is the HMAC of issuer and jti.
CREATE TABLE handoff_jtis (
    jti        BLOB PRIMARY KEY,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX handoff_jtis_expiry ON handoff_jtis (expires_at);

-- Webhook endpoints: where events go, which event types, and the signing
-- secret (whsec_…) sealed with the webhook service key.
CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    created_at  BIGINT NOT NULL,
    disabled_at BIGINT
) WITHOUT ROWID;

-- One row per message to one endpoint, with the same id as its
-- "webhook.deliver" job (whose run_at is the next attempt). body holds no
-- personal data beyond a subject id.
CREATE TABLE webhook_deliveries (
    id           TEXT PRIMARY KEY,
    endpoint_id  TEXT NOT NULL REFERENCES webhook_endpoints(id),
    msg_id       TEXT NOT NULL,
    event        TEXT NOT NULL,
    body         TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_status  INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at);
