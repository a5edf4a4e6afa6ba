package dsr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/i18n"
	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/mail"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// ReminderJobKind is the kind of the periodic job that sends deadline
// reminders.
const ReminderJobKind = "dsr.reminders"

// ReminderDays are the reminders sent to the staff member a request is
// assigned to: this many days before its target_due_at, each once.
var ReminderDays = []int{7, 2}

// DefaultReminderPeriod is how often the reminder job looks for requests
// that reached a reminder.
const DefaultReminderPeriod = time.Hour

// reminderMailKind names the reminder mails in the outbox.
const reminderMailKind = "dsr.deadline-reminder"

// MailQueue queues a mail inside the caller's transaction; *mail.Outbox
// satisfies it.
type MailQueue interface {
	Queue(ctx context.Context, tx *sqlstore.Tx, m mail.Message) (string, error)
}

// ReminderOptions configure Reminders.
type ReminderOptions struct {
	DB      *sqlstore.DB
	Audit   *audit.Log
	Targets Targets
	Outbox  MailQueue
	Catalog *i18n.Catalog
	// StaffEmail returns the e-mail address of a staff member by id
	// ("stf_…"), opened from its sealed column; (*auth.Staff).Email.
	StaffEmail func(ctx context.Context, staffID string) (string, error)
	// Language of the reminders (en when empty).
	Language string
	// ConsoleURL is the console's address, for the link in the mail.
	ConsoleURL string
	Period     time.Duration
	Clock      func() time.Time
}

// Reminders mails the assigned staff member when a request's internal
// deadline comes near (7 and 2 days before target_due_at), once per
// request and reminder: the row in request_reminders that says so is
// written in the transaction that queues the mail.
type Reminders struct {
	o ReminderOptions
}

// NewReminders returns the reminder sender.
func NewReminders(o ReminderOptions) (*Reminders, error) {
	if o.DB == nil || o.Audit == nil || o.Targets == nil || o.Outbox == nil || o.Catalog == nil || o.StaffEmail == nil {
		return nil, errors.New("dsr: reminders need DB, Audit, Targets, Outbox, Catalog and StaffEmail")
	}
	if o.Language == "" {
		o.Language = "en"
	}
	if o.Period <= 0 {
		o.Period = DefaultReminderPeriod
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Reminders{o: o}, nil
}

// Register makes the runner run the reminder job; Schedule queues its
// first run.
func (r *Reminders) Register(runner *jobs.Runner) { runner.Register(ReminderJobKind, reminderJob{r}) }

// Schedule queues the reminder job for the next period boundary. Every
// replica may call it: one job per period exists, keyed by its time.
func (r *Reminders) Schedule(ctx context.Context) error {
	next := r.o.Clock().UTC().Truncate(r.o.Period).Add(r.o.Period)
	return r.o.DB.Write(ctx, func(tx *sqlstore.Tx) error {
		_, _, err := jobs.EnqueueUnique(ctx, tx, ReminderJobKind+":"+next.Format(time.RFC3339),
			jobs.Job{Kind: ReminderJobKind, RunAt: next, MaxAttempts: 3})
		return err
	})
}

type reminderJob struct{ r *Reminders }

// Run sends the reminders due and queues the next run, whatever the
// outcome of this one: a failing pass must not end the schedule.
func (j reminderJob) Run(ctx context.Context, _ jobs.Job) error {
	_, err := j.r.Send(ctx)
	return errors.Join(err, j.r.Schedule(ctx))
}

// dueRequest is an open, assigned request whose target comes near.
type dueRequest struct {
	id, kind, staff string
	target, legal   time.Time
	sent            []int
}

// Send sends the reminders due now and returns how many it sent. A request
// that reached several reminders at once (assigned late) gets only the
// most urgent one; the others are recorded as passed.
func (r *Reminders) Send(ctx context.Context) (int, error) {
	now := r.o.Clock()
	horizon := now.Add(time.Duration(slices.Max(ReminderDays)) * 24 * time.Hour)
	rows, err := r.o.DB.Read().QueryContext(ctx, `SELECT q.id, q.kind, q.assigned_to, q.target_due_at, q.legal_due_at,
		COALESCE((SELECT MIN(m.days) FROM request_reminders m WHERE m.request_id = q.id), 0)
		FROM requests q WHERE q.closed_at IS NULL AND q.assigned_to <> '' AND q.target_due_at > $1 AND q.target_due_at <= $2
		ORDER BY q.target_due_at, q.id`, sqlstore.Micros(now), sqlstore.Micros(horizon))
	if err != nil {
		return 0, fmt.Errorf("reminders: %w", err)
	}
	var due []dueRequest
	for rows.Next() {
		var d dueRequest
		var target, legal int64
		var least int
		if err := rows.Scan(&d.id, &d.kind, &d.staff, &target, &legal, &least); err != nil {
			rows.Close()
			return 0, err
		}
		d.target, d.legal = sqlstore.FromMicros(target), sqlstore.FromMicros(legal)
		if least > 0 {
			d.sent = []int{least}
		}
		due = append(due, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, d := range due {
		reached := reachedReminders(d.target.Sub(now))
		if len(reached) == 0 {
			continue
		}
		urgent := slices.Min(reached)
		if len(d.sent) > 0 && d.sent[0] <= urgent {
			continue // this reminder, or a more urgent one, went out
		}
		sent, err := r.send(ctx, d, reached, urgent, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("reminder for %s: %w", d.id, err))
			continue
		}
		if sent {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// reachedReminders lists the reminders whose time has come with left
// before the target.
func reachedReminders(left time.Duration) []int {
	var out []int
	for _, d := range ReminderDays {
		if left <= time.Duration(d)*24*time.Hour {
			out = append(out, d)
		}
	}
	return out
}

// send records the reached reminders of d and queues the mail for the
// most urgent one in one transaction. Of two replicas sending at once,
// the one whose insert of the urgent row wins sends.
func (r *Reminders) send(ctx context.Context, d dueRequest, reached []int, urgent int, now time.Time) (bool, error) {
	staffID, ok := strings.CutPrefix(d.staff, "staff:")
	if !ok || staffID == "" {
		return false, nil // assigned to something that is not a staff member: nobody to mail
	}
	email, err := r.o.StaffEmail(ctx, staffID)
	if errcode.Of(err) == errcode.NotFound {
		return false, nil // the staff member is gone: the queue shows the request as theirs until reassigned
	}
	if err != nil {
		return false, fmt.Errorf("staff e-mail: %w", err)
	}
	l := r.o.Catalog.Localizer(r.o.Language)
	link := strings.TrimRight(r.o.ConsoleURL, "/") + "/requests/" + d.id
	msg := mail.Message{Kind: reminderMailKind, To: email,
		Subject: l.T("mail.reminder.subject", urgent, d.id),
		Text:    l.T("mail.reminder.text", d.kind, d.id, l.Date(d.target), l.Date(d.legal), link, urgent),
	}
	sent := false
	err = r.o.DB.Write(ctx, func(tx *sqlstore.Tx) error {
		sent = false
		for _, days := range reached {
			res, err := tx.ExecContext(ctx, `INSERT INTO request_reminders (request_id, days, staff_id, sent_at)
				VALUES ($1, $2, $3, $4) ON CONFLICT (request_id, days) DO NOTHING`, d.id, days, d.staff, sqlstore.Micros(now))
			if err != nil {
				return err
			}
			if k, err := res.RowsAffected(); err != nil {
				return err
			} else if days == urgent && k == 1 {
				sent = true
			}
		}
		if !sent {
			return nil
		}
		if _, err := r.o.Outbox.Queue(ctx, tx, msg); err != nil {
			return err
		}
		_, err := r.o.Audit.Append(ctx, tx, audit.Event{Actor: "system", Action: "dsr.request.reminder", Purpose: "dsr",
			Target: "request:" + d.id, Result: "ok"})
		return err
	})
	return sent, err
}
