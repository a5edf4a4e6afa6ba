package mail_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/mail"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

func TestQueuedMailIsDelivered(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		srv := startSMTP(t, serverOptions{})
		rg := newRig(t, sqltest.Open(t, e, "main"), srv)
		msgs := []mail.Message{
			{Kind: "dsr.extension-notice", To: "anna.schmidt@example.com", Subject: "Ihre Anfrage: Frist verlängert ✓",
				Text: "Guten Tag,\nwir benötigen zwei weitere Monate. Gründe: …\nMit freundlichen Grüßen"},
			{Kind: "auth.code", To: "bob@example.net", Subject: "Your sign-in code",
				Text: "Your code is 314159.", HTML: "<p>Your code is <b>314159</b>.</p>"},
			{To: "chen@example.org", Subject: "データ開示請求の受付", Text: "受け付けました。"},
		}
		ids := rg.queue(t, msgs...)
		rg.runDue(t, 3)

		got := srv.messages()
		if len(got) != len(msgs) {
			t.Fatalf("server received %d messages, want %d", len(got), len(msgs))
		}
		byRcpt := map[string]received{}
		for _, r := range got {
			if len(r.to) != 1 {
				t.Fatalf("message sent to %d recipients, want 1 each", len(r.to))
			}
			byRcpt[r.to[0]] = r
		}
		for i, want := range msgs {
			t.Run(want.To, func(t *testing.T) {
				r, ok := byRcpt[want.To]
				if !ok {
					t.Fatalf("nothing received for this recipient")
				}
				if r.from != "privacy@example.org" {
					t.Errorf("envelope sender %q", r.from)
				}
				p := parseMessage(t, r.data)
				if to := p.header.Get("To"); !strings.Contains(to, want.To) {
					t.Errorf("To header %q", to)
				}
				if from := p.header.Get("From"); !strings.Contains(from, "privacy@example.org") {
					t.Errorf("From header %q", from)
				}
				if p.subject != want.Subject {
					t.Errorf("subject %q, want %q", p.subject, want.Subject)
				}
				if nonASCII := strings.Map(keepASCII, want.Subject) != want.Subject; nonASCII &&
					!strings.HasPrefix(strings.ToUpper(p.rawSubject), "=?UTF-8?") {
					t.Errorf("non-ASCII subject sent as %q, want an RFC 2047 UTF-8 encoded word", p.rawSubject)
				}
				if p.text != want.Text {
					t.Errorf("text body %q, want %q", p.text, want.Text)
				}
				if p.html != want.HTML {
					t.Errorf("HTML body %q, want %q", p.html, want.HTML)
				}
				if p.header.Get("Message-Id") == "" || p.header.Get("Date") == "" {
					t.Errorf("missing Message-ID or Date: %v", p.header)
				}

				rec := rg.record(t, ids[i])
				wantKind := want.Kind
				if wantKind == "" {
					wantKind = mail.DefaultKind
				}
				if rec.Pending || !rec.SentAt.Equal(rg.clock.Now()) || !rec.FailedAt.IsZero() || rec.Kind != wantKind {
					t.Errorf("record after sending = %+v", rec)
				}
				if b := rg.sealed(t, ids[i]); b != nil {
					t.Errorf("sealed payload still stored after sending (%d bytes)", len(b))
				}
				if j := rg.job(t, ids[i]); j.State != jobs.Done || j.Attempts != 1 {
					t.Errorf("job state %s after %d attempts, want done after 1", j.State, j.Attempts)
				}
			})
		}
		for _, m := range msgs {
			assertNoLeak(t, "logs", rg.logs.String(), m.To, m.Subject, m.Text)
		}
		if !strings.Contains(rg.logs.String(), "mail: sent") {
			t.Errorf("no log line for the sent mail:\n%s", rg.logs)
		}
	})
}

func keepASCII(r rune) rune {
	if r < 0x80 {
		return r
	}
	return -1
}

func TestTemporaryRefusalIsRetried(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		srv := startSMTP(t, serverOptions{})
		srv.tempFailures = 1
		rg := newRig(t, sqltest.Open(t, e, "main"), srv)
		const to = "Dana.Retry@example.com"
		id := rg.queue(t, mail.Message{Kind: "notice", To: to, Subject: "Notice", Text: "Body"})[0]

		rg.runDue(t, 1)
		if n := len(srv.messages()); n != 0 {
			t.Fatalf("server kept %d messages after answering 451", n)
		}
		j := rg.job(t, id)
		if j.State != jobs.Queued || j.Attempts != 1 || !strings.Contains(j.LastError, "451") {
			t.Fatalf("after 451: state %s, attempts %d, last error %q; want queued with the code", j.State, j.Attempts, j.LastError)
		}
		assertNoLeak(t, "last_error", j.LastError, to)
		if !rg.record(t, id).Pending || rg.sealed(t, id) == nil {
			t.Fatal("message erased before it was sent")
		}

		rg.runDue(t, 0) // the retry waits for its backoff
		rg.clock.Advance(jobs.DefaultBackoffBase)
		rg.runDue(t, 1)
		got := srv.messages()
		if len(got) != 1 || got[0].to[0] != to {
			t.Fatalf("server received %d messages after the retry, want 1 for the recipient", len(got))
		}
		if j := rg.job(t, id); j.State != jobs.Done || j.Attempts != 2 {
			t.Fatalf("after the retry: state %s, attempts %d; want done after 2", j.State, j.Attempts)
		}
		if rg.record(t, id).Pending {
			t.Fatal("message still pending after delivery")
		}
		assertNoLeak(t, "logs", rg.logs.String(), to)
	})
}

func TestPermanentRefusalIsDeadAtOnce(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		srv := startSMTP(t, serverOptions{})
		const gone = "Gone.Away@example.com"
		srv.reject = gone
		rg := newRig(t, sqltest.Open(t, e, "main"), srv)
		ids := rg.queue(t,
			mail.Message{Kind: "notice", To: gone, Subject: "Notice", Text: "Body"},
			mail.Message{Kind: "notice", To: "still.here@example.com", Subject: "Notice", Text: "Body"})
		rg.runDue(t, 2)

		j := rg.job(t, ids[0])
		if j.State != jobs.Dead || j.Attempts != 1 {
			t.Fatalf("rejected mail: state %s after %d attempts, want dead after 1", j.State, j.Attempts)
		}
		if !strings.Contains(j.LastError, "550") || !strings.Contains(j.LastError, "5.1.1") {
			t.Errorf("last error %q lacks the SMTP codes", j.LastError)
		}
		assertNoLeak(t, "last_error", j.LastError, gone)
		rec := rg.record(t, ids[0])
		if rec.Pending || rec.FailedAt.IsZero() || !rec.SentAt.IsZero() || rg.sealed(t, ids[0]) != nil {
			t.Errorf("record of the dropped mail = %+v; want its content erased and failed_at set", rec)
		}
		if s := rg.job(t, ids[1]).State; s != jobs.Done {
			t.Errorf("the other mail: state %s, want done", s)
		}

		rg.clock.Advance(24 * time.Hour)
		rg.runDue(t, 0)
		if n := srv.rcptCount(gone); n != 1 {
			t.Errorf("server was asked for the rejected recipient %d times, want once", n)
		}
		assertNoLeak(t, "logs", rg.logs.String(), gone)
	})
}

func TestSentMailLeavesNoTraceInTheDatabaseFile(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	db := sqltest.Open(t, sqlstore.SQLite, "main")
	rg := newRig(t, db, srv)
	canary := "canary-" + randomHex(t)
	to := canary + "@example.com"
	id := rg.queue(t, mail.Message{Kind: "notice", To: to, Subject: "About " + canary,
		Text: strings.Repeat("The canary "+canary+" sings.\n", 20)})[0]
	sealed := rg.sealed(t, id)
	// A run of the ciphertext, away from the version byte and nonce.
	fragment := sealed[len(sealed)/2 : len(sealed)/2+24]

	ctx := context.Background()
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	file := readDBFiles(t, db)
	if !bytes.Contains(file, fragment) {
		t.Fatal("the sealed payload is not in the database file before sending; the search below would prove nothing")
	}
	if bytes.Contains(file, []byte(canary)) {
		t.Fatal("the message is stored in clear")
	}

	rg.runDue(t, 1)
	if len(srv.messages()) != 1 {
		t.Fatal("the mail was not delivered")
	}
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	file = readDBFiles(t, db)
	if bytes.Contains(file, fragment) {
		t.Error("the sealed payload survives in the database file after sending")
	}
	if bytes.Contains(file, []byte(canary)) {
		t.Error("the canary is in the database file")
	}
	assertNoLeak(t, "logs", rg.logs.String(), canary)
}

// readDBFiles returns the SQLite database file followed by its WAL.
func readDBFiles(t *testing.T, db *sqlstore.DB) []byte {
	t.Helper()
	main, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(db.Path() + "-wal")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return append(main, wal...)
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestQueueCommitsWithTheCallersTransaction(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		srv := startSMTP(t, serverOptions{})
		db := sqltest.Open(t, e, "main")
		rg := newRig(t, db, srv)
		ctx := context.Background()
		errRollback := errors.New("the state change failed")
		err := db.Write(ctx, func(tx *sqlstore.Tx) error {
			if _, err := rg.outbox.Queue(ctx, tx, mail.Message{To: "x@example.com", Subject: "S", Text: "T"}); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("Write = %v", err)
		}
		for _, table := range []string{"jobs", "mail_messages"} {
			var n int
			if err := db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d rows in %s after a rolled-back Queue", n, table)
			}
		}
		rg.runDue(t, 0)
		if n := len(srv.messages()); n != 0 {
			t.Errorf("server received %d messages", n)
		}
	})
}

func TestQueueRefusesInvalidMessages(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	db := sqltest.Open(t, sqlstore.SQLite, "main")
	rg := newRig(t, db, srv)
	ok := mail.Message{Kind: "notice", To: "eve@example.com", Subject: "Subject", Text: "Text"}
	with := func(f func(m *mail.Message)) mail.Message {
		m := ok
		f(&m)
		return m
	}
	tests := []struct {
		name   string
		msg    mail.Message
		field  string
		secret string
	}{
		{"not an address", with(func(m *mail.Message) { m.To = "eve at example.com" }), "to", "eve at example.com"},
		{"address with a name", with(func(m *mail.Message) { m.To = "Eve <eve@example.com>" }), "to", "eve@example.com"},
		{"two addresses", with(func(m *mail.Message) { m.To = "eve@example.com, mallory@example.com" }), "to", "mallory@example.com"},
		{"header injection", with(func(m *mail.Message) { m.Subject = "Hi\r\nBcc: mallory@example.com" }), "subject", "mallory@example.com"},
		{"empty subject", with(func(m *mail.Message) { m.Subject = " " }), "subject", ""},
		{"no text", with(func(m *mail.Message) { m.Text = ""; m.HTML = "<p>only HTML</p>" }), "text", ""},
		{"kind with an address", with(func(m *mail.Message) { m.Kind = "eve@example.com" }), "kind", "eve@example.com"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.Write(ctx, func(tx *sqlstore.Tx) error {
				_, err := rg.outbox.Queue(ctx, tx, tt.msg)
				return err
			})
			ce, ok := errcode.As(err)
			if !ok || ce.Code != errcode.Invalid || ce.Field != tt.field {
				t.Fatalf("Queue = %v, want invalid %s", err, tt.field)
			}
			if tt.secret != "" {
				assertNoLeak(t, "error", err.Error(), tt.secret)
			}
		})
	}
	var n int
	if err := db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM mail_messages").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d messages queued by refused calls (%v)", n, err)
	}
}

func TestPayloadMovedToAnotherRowIsNotSent(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	db := sqltest.Open(t, sqlstore.SQLite, "main")
	rg := newRig(t, db, srv)
	ids := rg.queue(t,
		mail.Message{Kind: "notice", To: "first@example.com", Subject: "One", Text: "1"},
		mail.Message{Kind: "notice", To: "second@example.com", Subject: "Two", Text: "2"})
	// Someone with write access to the table swaps the payloads around.
	err := db.Write(context.Background(), func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(context.Background(),
			"UPDATE mail_messages SET sealed = (SELECT sealed FROM mail_messages WHERE id = $1) WHERE id = $2", ids[0], ids[1])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rg.runDue(t, 2)
	got := srv.messages()
	if len(got) != 1 || got[0].to[0] != "first@example.com" {
		t.Fatalf("server received %d messages, want only the untouched one", len(got))
	}
	j := rg.job(t, ids[1])
	if j.State != jobs.Dead || !strings.Contains(j.LastError, "does not open") {
		t.Fatalf("moved payload: state %s, last error %q; want dead", j.State, j.LastError)
	}
	if rg.sealed(t, ids[1]) != nil {
		t.Error("the dead message's payload was kept")
	}
}

func TestKeySealerOpensWithOlderKeys(t *testing.T) {
	t.Parallel()
	oldKey, newKey := newDataKey(t), newDataKey(t)
	sealedOld, oldID, err := mail.NewKeySealer(oldKey).Seal([]byte("queued before rotation"), "mail_messages", "m1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		sealer *mail.KeySealer
		ad     string
		ok     bool
	}{
		{"rotated sealer keeps the old key", mail.NewKeySealer(newKey, oldKey), "m1", true},
		{"sealer without the old key", mail.NewKeySealer(newKey), "m1", false},
		{"other row", mail.NewKeySealer(newKey, oldKey), "m2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := tt.sealer.Open(sealedOld, oldID, "mail_messages", tt.ad)
			if ok := err == nil && string(plain) == "queued before rotation"; ok != tt.ok {
				t.Fatalf("Open = (%q, %v), want success %v", plain, err, tt.ok)
			}
		})
	}
	if _, id, _ := mail.NewKeySealer(newKey, oldKey).Seal([]byte("x")); id != newKey.ID() {
		t.Errorf("rotated sealer seals with %s, want the current key", id)
	}
}
