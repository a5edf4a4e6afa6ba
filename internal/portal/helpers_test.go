package portal_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/config"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/i18n"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/mail"
	"github.com/gdprd/gdprd/internal/portal"
	"github.com/gdprd/gdprd/internal/receipt"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/web"
)

const audience = "https://privacy.example.com/privacy"

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is the portal over real stores on one engine behind a real HTTP
// server.
type env struct {
	db      *sqlstore.DB
	kr      *keys.Keyring
	clock   *clock
	vault   *vault.Vault
	consent *consent.Register
	dsr     *dsr.Service
	handoff *auth.Handoff
	sealer  *mail.KeySealer
	secret  string // the HS256 hand-off secret of app "shop"
	url     string
	srv     *portal.Server
}

var dpo = consent.Actor{Name: "staff:dpo", Purpose: "consent"}

func newEnv(t *testing.T, e sqlstore.Engine, signInRate int) *env {
	t.Helper()
	ctx := t.Context()
	en := &env{db: sqltest.Open(t, e, "main"), clock: &clock{now: time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)}}
	keysDB := sqltest.Open(t, e, "keys")
	var err error
	if en.kr, err = keys.NewKeyring([]byte(strings.Repeat("p", 32))); err != nil {
		t.Fatal(err)
	}
	ks, err := vault.OpenKeyStore(ctx, keysDB, en.kr, en.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(audit.Options{Clock: en.clock.Now})
	if en.vault, err = vault.New(ctx, vault.Options{DB: en.db, KeyStore: ks, Keyring: en.kr, Audit: log, Clock: en.clock.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(en.vault.Close)
	if en.consent, err = consent.New(consent.Options{DB: en.db, Audit: log, Sealer: en.vault, Targets: en.kr, Clock: en.clock.Now}); err != nil {
		t.Fatal(err)
	}
	signer, err := receipt.NewSigner(en.kr)
	if err != nil {
		t.Fatal(err)
	}
	receipts, err := consent.NewReceipts(en.consent, consent.ReceiptOptions{Signer: signer, Jurisdiction: "DE",
		PublicURL: "https://privacy.example.com/", Controllers: []consent.Controller{{Name: "Example GmbH", Email: "dpo@example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := export.New(export.Options{DB: en.db, Vault: en.vault, Consent: en.consent, Audit: log, Keyring: en.kr,
		Info: export.Info{Controller: "Example GmbH", SupervisoryAuthority: "The Berlin DPA"}, Clock: en.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	sk, err := en.kr.ServiceKey("mail-outbox")
	if err != nil {
		t.Fatal(err)
	}
	en.sealer = mail.NewKeySealer(sk)
	outbox, err := mail.New(en.db, mail.Options{Sealer: en.sealer, Clock: en.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	codes, err := auth.NewEmailCodes(auth.EmailCodeOptions{DB: en.db, Vault: en.vault, Keyring: en.kr, Audit: log,
		Outbox: outbox, Catalog: cat, Clock: en.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if en.handoff, err = auth.NewHandoff(auth.HandoffOptions{DB: en.db, Vault: en.vault, Keyring: en.kr, Audit: log,
		Audience: audience, Clock: en.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if _, en.secret, err = en.handoff.CreateHS256(ctx, "shop", "operator:test"); err != nil {
		t.Fatal(err)
	}
	en.seedConsent(t)
	if en.dsr, err = dsr.New(dsr.Options{DB: en.db, Audit: log, Sealer: en.vault, Targets: en.kr, Clock: en.clock.Now}); err != nil {
		t.Fatal(err)
	}
	srv, err := portal.New(portal.Options{DB: en.db, Audit: log, Keyring: en.kr, Sessions: auth.NewSessions(en.db, en.kr, en.clock.Now, nil),
		Handoff: en.handoff, Codes: codes, Consent: en.consent, Receipts: receipts, Exports: exp, Vault: en.vault, Requests: en.dsr,
		EditableFields: strings.Split(config.DefaultEditableFields, ","), Clock: en.clock.Now, SignInRate: signInRate})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler(nil))
	t.Cleanup(hs.Close)
	en.url, en.srv = hs.URL, srv
	return en
}

// seedConsent publishes a privacy policy and creates a purpose of each
// kind the choices page treats differently.
func (en *env) seedConsent(t *testing.T) {
	t.Helper()
	en.publish(t, "privacy-policy", "# Privacy\n\nVersion one.", true)
	for _, p := range []consent.Purpose{
		{Slug: "service", Basis: consent.Contract, Necessary: true},
		{Slug: "newsletter", Basis: consent.Consent, DirectMarketing: true},
		{Slug: "analytics", Basis: consent.Consent},
		{Slug: "partner-offers", Basis: consent.LegitimateInterest, DirectMarketing: true},
	} {
		p.Names = map[string]string{"en": "The " + p.Slug, "de": "Der " + p.Slug}
		p.Descriptions = map[string]string{"en": "What " + p.Slug + " is for.", "de": "Wofür " + p.Slug + " ist."}
		p.Categories, p.Retention = []string{"contact"}, "P2Y"
		if _, err := en.consent.CreatePurpose(t.Context(), dpo, p); err != nil {
			t.Fatalf("create purpose %s: %v", p.Slug, err)
		}
	}
}

func (en *env) publish(t *testing.T, notice, body string, material bool) consent.NoticeVersion {
	t.Helper()
	d := consent.Draft{Body: body, EffectiveAt: en.clock.Now(), Material: material}
	if material {
		d.Summary = "We now say more about " + notice + "."
	}
	v, err := en.consent.DraftNotice(t.Context(), dpo, notice, d)
	if err != nil {
		t.Fatal(err)
	}
	if v, err = en.consent.PublishNotice(t.Context(), dpo, notice, v.Version); err != nil {
		t.Fatal(err)
	}
	return v
}

// person stores a data subject with data in two categories.
func (en *env) person(t *testing.T, ext, email string, data map[string]string) string {
	t.Helper()
	n := vault.NewSubject{ExternalID: ext, Email: email, Data: map[string]json.RawMessage{}}
	for c, v := range data {
		n.Data[c] = json.RawMessage(v)
	}
	s, err := en.vault.Create(t.Context(), vault.Actor{Name: "system", Purpose: "service-delivery"}, n)
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// token signs a hand-off token for ext as the host application would.
func (en *env) token(t *testing.T, ext string, edit func(*jwt.Claims)) string {
	t.Helper()
	now := en.clock.Now()
	c := jwt.Claims{Issuer: "shop", Audience: jwt.Audience{audience}, Subject: ext, IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute)), ID: jti(t)}
	if edit != nil {
		edit(&c)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(en.secret)}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func jti(t *testing.T) string {
	t.Helper()
	s, err := keys.RandomToken(16)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mails returns the texts of every queued message.
func (en *env) mails(t *testing.T) []string {
	t.Helper()
	rows, err := en.db.Read().QueryContext(t.Context(), "SELECT id, kind, key_id, sealed FROM mail_messages WHERE sealed IS NOT NULL ORDER BY created_at, id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, kind, keyID string
		var sealed []byte
		if err := rows.Scan(&id, &kind, &keyID, &sealed); err != nil {
			t.Fatal(err)
		}
		plain, err := en.sealer.Open(sealed, keyID, "mail_messages", id, kind)
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Text string }
		json.Unmarshal(plain, &m)
		out = append(out, m.Text)
	}
	return out
}

var codePattern = regexp.MustCompile(`\b\d{6}\b`)

// lastCode is the code in the latest queued mail.
func (en *env) lastCode(t *testing.T) string {
	t.Helper()
	m := en.mails(t)
	if len(m) == 0 {
		t.Fatal("no mail queued")
	}
	c := codePattern.FindString(m[len(m)-1])
	if c == "" {
		t.Fatalf("no code in %q", m[len(m)-1])
	}
	return c
}

func (en *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := en.db.Read().QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// results lists the results of the audit events of action, oldest first.
func (en *env) results(t *testing.T, action string) []string {
	t.Helper()
	rows, err := en.db.Read().QueryContext(t.Context(), "SELECT result FROM audit_events WHERE action = $1 ORDER BY seq", action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		rows.Scan(&r)
		out = append(out, r)
	}
	return out
}

// client is a browser stand-in that keeps the session cookie by hand and
// never follows redirects.
type client struct {
	t      testing.TB
	base   string
	cookie string
	header http.Header
}

func (en *env) client(t testing.TB) *client {
	return &client{t: t, base: en.url, header: http.Header{}}
}

type answer struct {
	status int
	body   string
	header http.Header
}

func (c *client) do(method, path string, body io.Reader, ctype string) answer {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: web.SessionCookieName, Value: c.cookie})
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == web.SessionCookieName {
			c.cookie = ck.Value
			if ck.MaxAge < 0 {
				c.cookie = ""
			}
		}
	}
	return answer{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func (c *client) get(path string) answer { return c.do(http.MethodGet, path, nil, "") }

func (c *client) post(path string, form url.Values) answer {
	return c.do(http.MethodPost, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

// handoffIn signs in by hand-off and fails the test unless it lands on
// the portal home.
func (en *env) handoffIn(t *testing.T, ext string) *client {
	t.Helper()
	c := en.client(t)
	a := c.get("/privacy/handoff?token=" + url.QueryEscape(en.token(t, ext, nil)))
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/privacy/" || c.cookie == "" {
		t.Fatalf("hand-off: %d %q cookie %v\n%s", a.status, a.header.Get("Location"), c.cookie != "", a.body)
	}
	return c
}
