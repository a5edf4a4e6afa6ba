package dsr_test

import (
	"context"
	"io"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/i18n"
	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/mail"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// mailbox is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// keeps what it receives.
type mailbox struct {
	addr string
	mu   sync.Mutex
	got  []received
}

type received struct {
	to   []string
	data string
}

type smtpSession struct {
	mb *mailbox
	to []string
}

func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	defer s.mb.mu.Unlock()
	s.mb.got = append(s.mb.got, received{to: s.to, data: string(b)})
	return nil
}
func (s *smtpSession) Reset()        { s.to = nil }
func (s *smtpSession) Logout() error { return nil }

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{mb: mb}, nil }))
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

// messages returns what arrived, with each body decoded to its text.
func (mb *mailbox) messages() []received {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	out := make([]received, 0, len(mb.got))
	for _, m := range mb.got {
		data := m.data
		if msg, err := netmail.ReadMessage(strings.NewReader(m.data)); err == nil {
			var body io.Reader = msg.Body
			if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
				body = quotedprintable.NewReader(body)
			}
			if b, err := io.ReadAll(body); err == nil {
				data = msg.Header.Get("Subject") + "\n\n" + string(b)
			}
		}
		out = append(out, received{to: m.to, data: data})
	}
	return out
}

// TestDeadlineReminders drives the reminder job under an injected clock
// through the real outbox, job runner and an SMTP server: the assigned
// staff member is mailed 7 and 2 days before target_due_at, each once;
// requests that are unassigned or closed get nothing; a request assigned
// with less than 2 days left gets only the 2-day reminder; and the job
// schedules its own next run.
func TestDeadlineReminders(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e, nil)
		ctx := t.Context()
		mb := startMailbox(t)
		staff, err := auth.NewStaff(auth.StaffOptions{DB: f.db, Keys: f.kr, Audit: f.log, Clock: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		alice, _, err := staff.Create(ctx, "alice@example.org", auth.RoleSupport, "operator:test")
		if err != nil {
			t.Fatal(err)
		}
		bob, _, err := staff.Create(ctx, "bob@example.org", auth.RoleDPO, "operator:test")
		if err != nil {
			t.Fatal(err)
		}
		tr, err := mail.NewSMTP(mail.SMTPConfig{URL: "smtp://" + mb.addr, From: "Privacy <privacy@example.org>", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		outboxKey, err := f.kr.ServiceKey("mail-outbox")
		if err != nil {
			t.Fatal(err)
		}
		outbox, err := mail.New(f.db, mail.Options{Sealer: mail.NewKeySealer(outboxKey), Transport: tr, Clock: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		runner, err := jobs.NewRunner(f.db, jobs.Options{Clock: f.clock.Now, Rand: func(int64) int64 { return 0 }})
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Register(runner); err != nil {
			t.Fatal(err)
		}
		cat, err := i18n.New()
		if err != nil {
			t.Fatal(err)
		}
		rem, err := dsr.NewReminders(dsr.ReminderOptions{DB: f.db, Audit: f.log, Targets: f.kr, Outbox: outbox, Catalog: cat,
			StaffEmail: func(ctx context.Context, id string) (string, error) {
				m, err := staff.Get(ctx, id)
				if err != nil {
					return "", err
				}
				return m.Email, nil
			},
			ConsoleURL: "https://gdprd.example/console", Clock: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		rem.Register(runner)

		assigned := f.open(t, dsr.Access, dsr.Details{})
		if _, err := f.svc.Assign(ctx, dpo, assigned.ID, alice.Actor()); err != nil {
			t.Fatal(err)
		}
		f.open(t, dsr.Export, dsr.Details{}) // never assigned: nobody to remind
		closed := f.open(t, dsr.Access, dsr.Details{})
		if _, err := f.svc.Assign(ctx, dpo, closed.ID, bob.Actor()); err != nil {
			t.Fatal(err)
		}
		f.mustTransition(t, closed.ID, dsr.Withdrawn, dsr.Reason{Code: dsr.WithdrawnBySubject})
		target := assigned.TargetDueAt

		send := func(t *testing.T, want int) {
			t.Helper()
			n, err := rem.Send(ctx)
			if err != nil || n != want {
				t.Fatalf("at %v (%v before the target): Send = %d, %v; want %d", f.clock.Now(), target.Sub(f.clock.Now()), n, err, want)
			}
			if _, err := runner.RunDue(ctx); err != nil {
				t.Fatal(err)
			}
		}
		delivered := func(t *testing.T, want int) []received {
			t.Helper()
			got := mb.messages()
			if len(got) != want {
				t.Fatalf("the mailbox holds %d messages, want %d", len(got), want)
			}
			return got
		}

		f.clock.set(target.Add(-8 * 24 * time.Hour))
		send(t, 0)
		f.clock.set(target.Add(-7*24*time.Hour + time.Minute))
		send(t, 1)
		send(t, 0) // once
		got := delivered(t, 1)
		if len(got[0].to) != 1 || got[0].to[0] != "alice@example.org" || !strings.Contains(got[0].data, assigned.ID) ||
			!strings.Contains(got[0].data, "7 days") || !strings.Contains(got[0].data, "https://gdprd.example/console/requests/"+assigned.ID) {
			t.Errorf("7-day reminder to %v:\n%s", got[0].to, got[0].data)
		}
		f.clock.set(target.Add(-3 * 24 * time.Hour))
		send(t, 0)
		f.clock.set(target.Add(-2*24*time.Hour + time.Minute))
		send(t, 1)
		send(t, 0)
		got = delivered(t, 2)
		if got[1].to[0] != "alice@example.org" || !strings.Contains(got[1].data, "2 days") {
			t.Errorf("2-day reminder to %v:\n%s", got[1].to, got[1].data)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM request_reminders WHERE request_id = $1", assigned.ID); n != 2 {
			t.Errorf("%d reminders recorded, want 2", n)
		}
		f.clock.set(target.Add(time.Hour))
		send(t, 0) // overdue: the reminders are over

		// Assigned with a day left: only the 2-day reminder goes out,
		// and the 7-day one is never sent afterwards.
		late := f.open(t, dsr.Erasure, dsr.Details{All: true})
		f.clock.set(late.TargetDueAt.Add(-24 * time.Hour))
		if _, err := f.svc.Assign(ctx, dpo, late.ID, bob.Actor()); err != nil {
			t.Fatal(err)
		}
		send(t, 1)
		send(t, 0)
		got = delivered(t, 3)
		if got[2].to[0] != "bob@example.org" || !strings.Contains(got[2].data, late.ID) || !strings.Contains(got[2].data, "2 days") {
			t.Errorf("late reminder to %v:\n%s", got[2].to, got[2].data)
		}

		// A request assigned to someone who is no longer staff is skipped,
		// not an error that stops the other reminders.
		orphan := f.open(t, dsr.Access, dsr.Details{})
		if _, err := f.svc.Assign(ctx, dpo, orphan.ID, "staff:stf_gone"); err != nil {
			t.Fatal(err)
		}
		f.clock.set(orphan.TargetDueAt.Add(-time.Hour))
		send(t, 0)
		delivered(t, 3)

		// The periodic job: scheduled for the next hour, it runs there and
		// queues the run after.
		if err := rem.Schedule(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rem.Schedule(ctx); err != nil { // idempotent per period
			t.Fatal(err)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'queued'", dsr.ReminderJobKind); n != 1 {
			t.Fatalf("%d reminder jobs queued, want 1", n)
		}
		f.clock.advance(time.Hour)
		if _, err := runner.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'done'", dsr.ReminderJobKind); n != 1 {
			t.Errorf("%d reminder jobs done, want 1", n)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'queued' AND run_at > $2",
			dsr.ReminderJobKind, sqlstore.Micros(f.clock.Now())); n != 1 {
			t.Errorf("%d next runs queued, want 1", n)
		}
	})
}
