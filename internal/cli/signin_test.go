package cli_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/webhook"
)

// mailbox is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that keeps
// what it receives.
type mailbox struct {
	addr string
	mu   sync.Mutex
	got  []mailReceived
}

type mailReceived struct {
	to   []string
	data string
}

type mailSession struct {
	mb *mailbox
	to []string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	defer s.mb.mu.Unlock()
	s.mb.got = append(s.mb.got, mailReceived{to: s.to, data: string(b)})
	return nil
}
func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		l.Close()
		srv.Close()
		<-done
	})
	return mb
}

func (mb *mailbox) messages() []mailReceived {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]mailReceived(nil), mb.got...)
}

// waitFor polls cond for up to 20 s (the runner polls every second).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestServeSendsQueuedMailOverSMTP(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		mb := startMailbox(t)
		data := dataArgs(t, e)
		mustRun(t, append([]string{"keys", "init"}, data...)...)
		srv := start(t, "serve", append(data, "--smtp-url", "smtp://"+mb.addr+"?starttls=opportunistic", "--smtp-from", "Privacy <privacy@example.com>")...)
		// Queued by another process on the same database, sent by the
		// running server's job runner.
		out := mustRun(t, append([]string{"mail", "test", "--to", "ada@example.org", "--lang", "de"}, data...)...)
		if !strings.HasPrefix(out, "queued job_") {
			t.Fatalf("mail test printed %q", out)
		}
		waitFor(t, "the mail to arrive", func() bool { return len(mb.messages()) > 0 })
		m := mb.messages()[0]
		if len(m.to) != 1 || m.to[0] != "ada@example.org" || !strings.Contains(m.data, "Testnachricht von gdprd") || !strings.Contains(m.data, "privacy@example.com") {
			t.Fatalf("received to %v:\n%s", m.to, m.data)
		}
		srv.stop()
		log := srv.log.String()
		if strings.Contains(log, "ada@example.org") {
			t.Fatalf("the server log names the recipient:\n%s", log)
		}
		if !strings.Contains(log, "mail: sent") || strings.Contains(log, "GDPRD_SMTP_URL is not set") {
			t.Fatalf("the log does not show the delivery:\n%s", log)
		}
	})
}

func TestServeWithoutSMTPKeepsMailQueued(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "keys", "init", "--data", dir)
	srv := start(t, "serve", "--data", dir)
	mustRun(t, "mail", "test", "--data", dir, "--to", "ada@example.org")
	time.Sleep(2500 * time.Millisecond) // two and a half runner polls
	srv.stop()
	log := srv.log.String()
	if n := strings.Count(log, "GDPRD_SMTP_URL is not set"); n != 1 {
		t.Fatalf("the missing mail server is logged %d times, want once:\n%s", n, log)
	}
	if strings.Contains(log, "ada@example.org") {
		t.Fatalf("the log names the recipient:\n%s", log)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "gdprd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pending int
	if err := db.QueryRow("SELECT COUNT(*) FROM mail_messages WHERE sealed IS NOT NULL AND sent_at IS NULL AND failed_at IS NULL").Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 1 {
		t.Fatalf("%d messages pending, want the one queued to stay queued", pending)
	}
}

func TestHandoffKeyCommands(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "keys", "init", "--data", dir)
	secret := strings.TrimSpace(mustRun(t, "handoff", "create", "--data", dir, "--app", "shop", "--alg", "hs256"))
	if !strings.HasPrefix(secret, "gdprd_hs_") || strings.Contains(secret, "\n") {
		t.Fatalf("handoff create printed %q, want the secret alone", secret)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemFile := filepath.Join(t.TempDir(), "pub.pem")
	os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	edID := strings.TrimSpace(mustRun(t, "handoff", "create", "--data", dir, "--app", "forum", "--alg", "eddsa", "--public-key", pemFile))
	if !strings.HasPrefix(edID, "hok_") {
		t.Fatalf("eddsa create printed %q", edID)
	}
	mustRun(t, "handoff", "revoke", "--data", dir, edID)
	list := mustRun(t, "handoff", "list", "--data", dir)
	if !strings.Contains(list, "\tshop\tHS256\tactive") || !strings.Contains(list, edID+"\tforum\tEdDSA\trevoked") || strings.Contains(list, secret) {
		t.Fatalf("handoff list:\n%s", list)
	}
	for _, args := range [][]string{
		{"handoff", "create", "--data", dir, "--app", "x", "--alg", "rs256"},
		{"handoff", "create", "--data", dir, "--app", "x", "--alg", "eddsa"},
		{"handoff", "create", "--data", dir, "--app", "x", "--alg", "hs256", "--public-key", pemFile},
	} {
		if code, _, _ := run(t, args...); code != 2 {
			t.Errorf("gdprd %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
}

// TestServeDeliversWebhooks: an endpoint created with the CLI gets a
// message queued on the database the running server uses, signed with the
// secret the CLI printed.
func TestServeDeliversWebhooks(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "keys", "init", "--data", dir)
	var (
		mu   sync.Mutex
		hits []http.Header
		body []byte
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		hits, body = append(hits, r.Header.Clone()), b
	}))
	defer rcv.Close()
	secret := strings.TrimSpace(mustRun(t, "webhook", "create", "--data", dir, "--url", rcv.URL, "--events", "subject.erased"))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("webhook create printed %q", secret)
	}
	srv := start(t, "serve", "--data", dir)

	db, err := sqlstore.Open(t.Context(), sqlstore.Options{URL: filepath.Join(dir, "gdprd.db"), Set: "main"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kr, err := keys.LoadMaster(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := webhook.New(webhook.Options{DB: db, Keyring: kr, Audit: audit.New(audit.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Enqueue(t.Context(), webhook.SubjectErased, webhook.Payload{SubjectID: ids.New("sub_")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the webhook", func() bool { mu.Lock(); defer mu.Unlock(); return len(hits) > 0 })
	srv.stop()
	mu.Lock()
	h := hits[0]
	mu.Unlock()
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if h.Get("webhook-signature") != want {
		t.Fatalf("signature %q, want %q", h.Get("webhook-signature"), want)
	}
	if !bytes.Contains(body, []byte(`"type":"subject.erased"`)) {
		t.Fatalf("body %s", body)
	}
	out := mustRun(t, "webhook", "deliveries", "--data", dir)
	if !strings.Contains(out, "\tdelivered\tattempts=1\tstatus=200") {
		t.Fatalf("webhook deliveries:\n%s", out)
	}
}

func TestServeRefusesBadSMTPURLWithoutEchoingIt(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "keys", "init", "--data", dir)
	for _, u := range []string{"ftp://mailer:pa55word@mail.example.org", "smtps://mailer:pa55word@mail.example.org?starttls=required", "smtp://mailer:@mail.example.org"} {
		code, _, errOut := run(t, "serve", "--data", dir, "--addr", "127.0.0.1:0", "--smtp-url", u)
		if code != 1 || !strings.Contains(errOut, "GDPRD_SMTP_URL") || strings.Contains(errOut, "pa55word") {
			t.Errorf("--smtp-url %s: exit %d, stderr %q; want 1, naming the setting, without the password", u, code, errOut)
		}
	}
}
