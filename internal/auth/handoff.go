package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

// A hand-off token is how the host application sends a signed-in person
// to the privacy portal ("Manage my privacy"): a compact JWS the host
// signs with its hand-off key, naming the person by external_id.
//
//	header: {"alg": "HS256" | "EdDSA", "kid": "<hand-off key id>" (optional)}
//	claims: {"iss": "<app>", "aud": "<public URL>/privacy", "sub": "<external_id>",
//	         "iat": …, "exp": … (at most 5 minutes after iat), "nbf": … (optional),
//	         "jti": "<unique id>"}
const (
	// HandoffMaxLifetime bounds exp - iat.
	HandoffMaxLifetime = 5 * time.Minute
	// handoffLeeway allows for clocks of the host and gdprd that differ a
	// little, for iat and nbf; exp gets it too, so a token is never
	// accepted more than this after its expiry.
	handoffLeeway = 30 * time.Second
	// handoffMaxToken bounds what is parsed at all.
	handoffMaxToken = 4096
	// HandoffHS256 and HandoffEdDSA are the algorithms a key may have.
	HandoffHS256 = "HS256"
	HandoffEdDSA = "EdDSA"
)

var handoffAppPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// handoffKeyService names the service key that seals HS256 secrets.
const handoffKeyService = "handoff"

// HandoffKey is a hand-off key as listed: never its secret.
type HandoffKey struct {
	ID        string     `json:"id"`
	App       string     `json:"app"` // the issuer its tokens must name
	Alg       string     `json:"alg"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// HandoffOptions configure Handoff; Clock is optional.
type HandoffOptions struct {
	DB      *sqlstore.DB
	Vault   *vault.Vault
	Keyring *keys.Keyring
	Audit   *audit.Log
	// Audience is the value tokens must have in aud: the portal's URL,
	// PublicURL + "/privacy".
	Audience string
	Clock    func() time.Time
}

// Handoff keeps the hand-off keys and verifies hand-off tokens.
type Handoff struct {
	db       *sqlstore.DB
	vault    *vault.Vault
	kr       *keys.Keyring
	audit    *audit.Log
	audience string
	now      func() time.Time
}

// NewHandoff returns the hand-off sign-in.
func NewHandoff(o HandoffOptions) (*Handoff, error) {
	if o.DB == nil || o.Vault == nil || o.Keyring == nil || o.Audit == nil || o.Audience == "" {
		return nil, errors.New("auth: hand-off needs a database, vault, keyring, audit log and audience")
	}
	h := &Handoff{db: o.DB, vault: o.Vault, kr: o.Keyring, audit: o.Audit, audience: o.Audience, now: o.Clock}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// CreateHS256 makes a key whose secret the host application shares: the
// returned string itself (its bytes) is the HMAC key. It is shown once,
// stored only sealed, and used only inside internal/keys.
func (h *Handoff) CreateHS256(ctx context.Context, app, actor string) (HandoffKey, string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	secret := "gdprd_hs_" + base64.RawURLEncoding.EncodeToString(b)
	clear(b)
	k, err := h.create(ctx, app, HandoffHS256, []byte(secret), nil, actor)
	return k, secret, err
}

// CreateEdDSA registers the Ed25519 public key of a host application that
// keeps the private key to itself.
func (h *Handoff) CreateEdDSA(ctx context.Context, app string, pub ed25519.PublicKey, actor string) (HandoffKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return HandoffKey{}, errcode.Field("public_key", "an Ed25519 public key is required")
	}
	return h.create(ctx, app, HandoffEdDSA, nil, pub, actor)
}

func (h *Handoff) create(ctx context.Context, app, alg string, secret []byte, pub ed25519.PublicKey, actor string) (HandoffKey, error) {
	if !handoffAppPattern.MatchString(app) {
		return HandoffKey{}, errcode.Field("app", "the application name must be 1-64 lower-case letters, digits, '.', '_' or '-'")
	}
	k := HandoffKey{ID: ids.New("hok_"), App: app, Alg: alg, CreatedAt: h.now().UTC().Truncate(time.Microsecond)}
	var sealed []byte
	keyID := ""
	if secret != nil {
		var err error
		if sealed, keyID, err = h.kr.SealSharedKey(handoffKeyService, secret, "handoff_keys", k.ID); err != nil {
			return HandoffKey{}, err
		}
	}
	var pubCol any
	if pub != nil {
		pubCol = []byte(pub)
	}
	err := h.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO handoff_keys (id, app, alg, key_id, sealed, public_key, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, k.ID, app, alg, keyID, sealed, pubCol, sqlstore.Micros(k.CreatedAt)); err != nil {
			return err
		}
		_, err := h.audit.Append(ctx, tx, audit.Event{Actor: actorOr(actor), Action: "handoff.key.create", Purpose: "security", Target: "handoff:" + k.ID, Result: "ok"})
		return err
	})
	if err != nil {
		return HandoffKey{}, fmt.Errorf("create hand-off key: %w", err)
	}
	return k, nil
}

// Keys lists every hand-off key, revoked ones included.
func (h *Handoff) Keys(ctx context.Context) ([]HandoffKey, error) {
	rows, err := h.db.Read().QueryContext(ctx, "SELECT id, app, alg, created_at, revoked_at FROM handoff_keys ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list hand-off keys: %w", err)
	}
	defer rows.Close()
	var out []HandoffKey
	for rows.Next() {
		var (
			k       HandoffKey
			created int64
			revoked sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.App, &k.Alg, &created, &revoked); err != nil {
			return nil, err
		}
		k.CreatedAt = sqlstore.FromMicros(created)
		if revoked.Valid {
			t := sqlstore.FromMicros(revoked.Int64)
			k.RevokedAt = &t
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// Revoke ends a hand-off key at once, on every replica: keys are read from
// the database on every verification.
func (h *Handoff) Revoke(ctx context.Context, id, actor string) error {
	return h.db.Write(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE handoff_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", sqlstore.Micros(h.now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errcode.E(errcode.NotFound, "no active hand-off key %q", id)
		}
		_, err = h.audit.Append(ctx, tx, audit.Event{Actor: actorOr(actor), Action: "handoff.key.revoke", Purpose: "security", Target: "handoff:" + id, Result: "ok"})
		return err
	})
}

// errHandoffRefused is the one answer to every refused token: the person
// is told to go back to the application, the log says why.
var errHandoffRefused = errcode.E(errcode.Unauthorized, "this sign-in link is not valid or has expired; go back to the application and open the privacy page again")

// handoffRefusal is why a token was refused, for the audit log.
type handoffRefusal struct {
	reason string // malformed, unknown_issuer, bad_signature, …
	target string // HMAC of the external id once known, else the app
}

// Verify checks a hand-off token and, if everything holds, uses it up and
// returns the subject it names, with level VerifiedByHandoff. It checks:
// the algorithm is the one of the issuer's key (no "none", no switching
// between HS256 and EdDSA), the signature, iss (an application with an
// active key), aud (the portal), exp present and at most
// HandoffMaxLifetime after iat, nbf, jti not seen before (remembered in
// the database until the token expires, so across replicas), and sub the
// external_id of a known subject. Every refusal and every success is
// audited; the caller gets one Unauthorized error for all refusals.
func (h *Handoff) Verify(ctx context.Context, token string) (SubjectSignIn, error) {
	out, ref, err := h.verify(ctx, token)
	if err != nil {
		return SubjectSignIn{}, fmt.Errorf("verify hand-off: %w", err)
	}
	if ref != nil {
		err := h.db.Write(ctx, func(tx *sqlstore.Tx) error {
			_, err := h.audit.Append(ctx, tx, audit.Event{Actor: "portal", Action: "subject.signin.handoff", Purpose: "security", Target: ref.target, Result: ref.reason})
			return err
		})
		if err != nil {
			return SubjectSignIn{}, fmt.Errorf("verify hand-off: %w", err)
		}
		return SubjectSignIn{}, errHandoffRefused
	}
	return out, nil
}

type handoffKeyRow struct {
	id, alg, keyID string
	sealed, pub    []byte
}

// verify returns the sign-in, or the refusal, or an internal error. On
// success the jti is recorded and the success audited in one transaction.
func (h *Handoff) verify(ctx context.Context, token string) (SubjectSignIn, *handoffRefusal, error) {
	refuse := func(reason, target string) (SubjectSignIn, *handoffRefusal, error) {
		return SubjectSignIn{}, &handoffRefusal{reason: reason, target: target}, nil
	}
	if len(token) > handoffMaxToken {
		return refuse("malformed", "handoff:unknown")
	}
	// First look, without trusting anything, for the issuer and the
	// header: only the two algorithms gdprd supports parse at all ("none"
	// and every other algorithm is refused here).
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256, jose.EdDSA})
	if err != nil || len(tok.Headers) != 1 {
		return refuse("malformed", "handoff:unknown")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || !handoffAppPattern.MatchString(unverified.Issuer) {
		return refuse("malformed", "handoff:unknown")
	}
	app := unverified.Issuer
	hdr := tok.Headers[0]
	rows, err := h.db.Read().QueryContext(ctx, "SELECT id, alg, key_id, sealed, public_key FROM handoff_keys WHERE app = $1 AND revoked_at IS NULL ORDER BY created_at DESC", app)
	if err != nil {
		return SubjectSignIn{}, nil, err
	}
	var candidates []handoffKeyRow
	for rows.Next() {
		var k handoffKeyRow
		if err := rows.Scan(&k.id, &k.alg, &k.keyID, &k.sealed, &k.pub); err != nil {
			rows.Close()
			return SubjectSignIn{}, nil, err
		}
		if hdr.KeyID == "" || hdr.KeyID == k.id {
			candidates = append(candidates, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return SubjectSignIn{}, nil, err
	}
	appTarget := "handoff-app:" + app
	if len(candidates) == 0 {
		return refuse("unknown_issuer", appTarget)
	}
	var (
		claims   jwt.Claims
		verified bool
		algSeen  bool
	)
	for _, k := range candidates {
		// The algorithm is pinned to the key's: an HS256 token is never
		// checked against an EdDSA key (whose public bytes an attacker
		// knows and could use as an HMAC secret), nor the reverse.
		if hdr.Algorithm != k.alg {
			continue
		}
		algSeen = true
		pinned, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(k.alg)})
		if err != nil {
			continue
		}
		switch k.alg {
		case HandoffHS256:
			// The shared secret stays inside internal/keys: the MAC of
			// the signing input (RFC 7515 §5.2) is computed there and
			// compared here, in constant time.
			if h.hs256Valid(token, k) && pinned.UnsafeClaimsWithoutVerification(&claims) == nil {
				verified = true
			}
		case HandoffEdDSA:
			verified = pinned.Claims(ed25519.PublicKey(k.pub), &claims) == nil
		}
		if verified {
			break
		}
	}
	if !algSeen {
		return refuse("wrong_algorithm", appTarget)
	}
	if !verified {
		return refuse("bad_signature", appTarget)
	}

	// Signed by the application: from here on, name the person (by HMAC).
	target := appTarget
	if claims.Subject != "" {
		if norm, err := keys.NormalizeExternalID(claims.Subject); err == nil {
			target = h.kr.AuditTarget(vault.KindExternalID, norm)
		}
	}
	now := h.now()
	switch {
	case claims.Issuer != app:
		return refuse("wrong_issuer", target)
	case !slices.Contains(claims.Audience, h.audience):
		return refuse("wrong_audience", target)
	case claims.Expiry == nil || claims.IssuedAt == nil:
		return refuse("missing_expiry", target)
	case claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > HandoffMaxLifetime:
		return refuse("lifetime_too_long", target)
	case now.After(claims.Expiry.Time().Add(handoffLeeway)):
		return refuse("expired", target)
	case claims.IssuedAt.Time().After(now.Add(handoffLeeway)):
		return refuse("issued_in_future", target)
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(handoffLeeway)):
		return refuse("not_yet_valid", target)
	case claims.ID == "" || len(claims.ID) > 200:
		return refuse("missing_jti", target)
	case claims.Subject == "":
		return refuse("missing_subject", target)
	}
	subjectID, found, err := h.vault.SubjectID(ctx, vault.KindExternalID, claims.Subject)
	if errcode.Of(err) == errcode.Invalid {
		return refuse("unknown_subject", target)
	}
	if err != nil {
		return SubjectSignIn{}, nil, err
	}
	if !found {
		return refuse("unknown_subject", target)
	}
	// Single use: the jti (with its issuer) is remembered until the token
	// could no longer be accepted anyway; the primary key makes a second
	// use fail on every replica.
	jti := h.kr.HashSecret("handoff-jti\x00" + app + "\x00" + claims.ID)
	replayed := false
	err = h.db.Write(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO handoff_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
			jti, sqlstore.Micros(claims.Expiry.Time().Add(handoffLeeway)))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			replayed = true
			return nil
		}
		_, err = h.audit.Append(ctx, tx, audit.Event{Actor: "portal", Action: "subject.signin.handoff", Purpose: "security",
			Target: h.kr.AuditTarget("subject", subjectID), Result: "ok"})
		return err
	})
	if err != nil {
		return SubjectSignIn{}, nil, err
	}
	if replayed {
		return refuse("replayed", target)
	}
	return SubjectSignIn{SubjectID: subjectID, Level: VerifiedByHandoff}, nil, nil
}

// Sweep forgets the ids of tokens that have expired: they are refused as
// expired anyway. The server runs it every minute.
func (h *Handoff) Sweep(ctx context.Context) error {
	return h.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM handoff_jtis WHERE expires_at < $1", sqlstore.Micros(h.now())); err != nil {
			return fmt.Errorf("sweep hand-off token ids: %w", err)
		}
		return nil
	})
}

// hs256Valid checks the HS256 signature of a compact JWS under key k.
func (h *Handoff) hs256Valid(token string, k handoffKeyRow) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil {
		return false
	}
	mac, err := h.kr.SharedKeyMAC(handoffKeyService, k.keyID, k.sealed, []string{"handoff_keys", k.id}, []byte(parts[0]+"."+parts[1]))
	return err == nil && keys.Equal(mac, sig)
}
