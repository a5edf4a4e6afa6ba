// Package mail is gdprd's outbox: messages are queued inside the
// transaction of the change that owes them (an extension notice, a
// one-time code, a breach letter) and delivered by the job runner over
// SMTP, with retries.
//
// A queued message is personal data: who it goes to and what it says. It
// is stored sealed, with a key the outbox holds for itself rather than the
// subject's data key, because mail to someone unknown, or just erased,
// must still go out. Once the message is sent, or given up, the sealed
// payload is deleted in the same transaction that records the job's end,
// and all that remains is a record that a mail of some kind was sent (or
// dropped) at some time. Addresses and bodies are never logged, and never
// put in errors, which the job table stores in clear.
package mail

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// JobKind is the kind of the jobs that deliver queued messages.
const JobKind = "mail.send"

// DefaultMaxAttempts gives a message about a day of retries with the job
// runner's default backoff (doubling from 5 s, then hourly): long enough
// to ride out a mail server's outage.
const DefaultMaxAttempts = 30

// DefaultKind is the Kind of a Message that names none.
const DefaultKind = "mail"

// Message is one e-mail to one person.
type Message struct {
	// Kind says what the mail is for ("dsr.extension-notice"). It is kept
	// in clear after sending, so it must name a template, never carry
	// content. DefaultKind when empty.
	Kind string
	// To is the recipient's address.
	To string
	// Subject may contain any Unicode text; it is encoded for the wire.
	Subject string
	// Text is the plain-text body, required.
	Text string
	// HTML is an optional HTML alternative of Text.
	HTML string
}

// Sealer encrypts queued messages at rest. The app backs it with a key of
// its own (see KeySealer); keyID names the key that sealed a value so that
// Open can find it after a rotation. The ad parts bind a sealed value to
// its row: Open must be given the same ones.
type Sealer interface {
	Seal(plaintext []byte, ad ...string) (sealed []byte, keyID string, err error)
	Open(sealed []byte, keyID string, ad ...string) ([]byte, error)
}

// Transport delivers a message. It returns an error wrapped by
// jobs.Permanent when retrying cannot help (the recipient does not exist),
// and must keep addresses and bodies out of its errors.
type Transport interface {
	Send(ctx context.Context, m Message) error
}

// Options configure an Outbox.
type Options struct {
	// Sealer seals queued messages; required.
	Sealer Sealer
	// Transport delivers messages; required to deliver (Register), not to
	// queue.
	Transport Transport
	// Clock returns the current time (time.Now when nil).
	Clock func() time.Time
	// Logger receives delivery notes, without addresses or bodies
	// (discarded when nil).
	Logger *slog.Logger
	// MaxAttempts bounds delivery attempts (DefaultMaxAttempts when zero).
	MaxAttempts int
}

// Outbox queues messages and, registered with a job runner, delivers them.
type Outbox struct {
	db          *sqlstore.DB
	sealer      Sealer
	transport   Transport
	clock       func() time.Time
	log         *slog.Logger
	maxAttempts int
}

// New returns an outbox over db's mail_messages table.
func New(db *sqlstore.DB, opts Options) (*Outbox, error) {
	if opts.Sealer == nil {
		return nil, errors.New("mail: an outbox needs a Sealer")
	}
	o := &Outbox{db: db, sealer: opts.Sealer, transport: opts.Transport, clock: opts.Clock,
		log: opts.Logger, maxAttempts: opts.MaxAttempts}
	if o.clock == nil {
		o.clock = time.Now
	}
	if o.log == nil {
		o.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.maxAttempts <= 0 {
		o.maxAttempts = DefaultMaxAttempts
	}
	return o, nil
}

// kindPattern keeps kinds to template names: no "@", no spaces, so an
// address or a sentence cannot end up in the record kept after sending.
var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)

// maxBody bounds a body; gdprd's mails are notices, not newsletters.
const maxBody = 1 << 20

// validate checks m before it is queued, so that a message that can never
// be sent fails its caller at once instead of dying later in the outbox.
// Errors never repeat the offending value: it may be personal data.
func validate(m *Message) error {
	if m.Kind == "" {
		m.Kind = DefaultKind
	}
	if !kindPattern.MatchString(m.Kind) {
		return errcode.Field("kind", "mail kind must be 1-64 lower-case letters, digits, '.', '_' or '-'")
	}
	a, err := mail.ParseAddress(m.To)
	if err != nil || a.Name != "" || a.Address != m.To {
		return errcode.Field("to", "recipient must be a plain e-mail address")
	}
	if strings.TrimSpace(m.Subject) == "" || strings.ContainsAny(m.Subject, "\r\n") {
		return errcode.Field("subject", "subject must be one non-empty line")
	}
	if strings.TrimSpace(m.Text) == "" {
		return errcode.Field("text", "a plain-text body is required")
	}
	if len(m.Text) > maxBody || len(m.HTML) > maxBody {
		return errcode.E(errcode.TooLarge, "mail body is larger than %d bytes", maxBody)
	}
	return nil
}

// payload is the sealed form of a message.
type payload struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
}

// ad is the associated data of a message's payload: the table, the row and
// the kind, so a sealed payload copied to another row does not open.
func ad(id, kind string) []string { return []string{"mail_messages", id, kind} }

// Queue adds m to the outbox inside the caller's transaction and returns
// its ID (also the ID of its delivery job). If the transaction rolls back,
// nothing is queued.
func (o *Outbox) Queue(ctx context.Context, tx *sqlstore.Tx, m Message) (string, error) {
	if err := validate(&m); err != nil {
		return "", err
	}
	now := o.clock()
	id, err := jobs.Enqueue(ctx, tx, jobs.Job{Kind: JobKind, RunAt: now, MaxAttempts: o.maxAttempts})
	if err != nil {
		return "", fmt.Errorf("queue %s mail: %w", m.Kind, err)
	}
	plain, err := json.Marshal(payload{To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML})
	if err != nil {
		return "", fmt.Errorf("queue %s mail: %w", m.Kind, err)
	}
	sealed, keyID, err := o.sealer.Seal(plain, ad(id, m.Kind)...)
	clear(plain)
	if err != nil {
		return "", fmt.Errorf("queue %s mail: seal: %w", m.Kind, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO mail_messages (id, kind, key_id, sealed, created_at)
		VALUES ($1, $2, $3, $4, $5)`, id, m.Kind, keyID, sealed, sqlstore.Micros(now)); err != nil {
		return "", fmt.Errorf("queue %s mail: %w", m.Kind, err)
	}
	return id, nil
}

// Register makes r deliver this outbox's messages.
func (o *Outbox) Register(r *jobs.Runner) error {
	if o.transport == nil {
		return errors.New("mail: an outbox needs a Transport to deliver")
	}
	r.Register(JobKind, deliverer{o})
	return nil
}

// Record is what remains of a message: its kind and times, never its
// content. Pending is true until the message is sent or dropped.
type Record struct {
	ID        string
	Kind      string
	Pending   bool
	CreatedAt time.Time
	SentAt    time.Time // zero unless sent
	FailedAt  time.Time // zero unless given up
}

// Lookup returns the record of a queued message.
func Lookup(ctx context.Context, q sqlstore.Querier, id string) (Record, error) {
	var (
		r            = Record{ID: id}
		created      int64
		sent, failed sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT kind, sealed IS NOT NULL, created_at, sent_at, failed_at
		FROM mail_messages WHERE id = $1`, id).Scan(&r.Kind, &r.Pending, &created, &sent, &failed)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, errcode.E(errcode.NotFound, "no such mail")
	}
	if err != nil {
		return Record{}, fmt.Errorf("look up mail: %w", err)
	}
	r.CreatedAt = sqlstore.FromMicros(created)
	if sent.Valid {
		r.SentAt = sqlstore.FromMicros(sent.Int64)
	}
	if failed.Valid {
		r.FailedAt = sqlstore.FromMicros(failed.Int64)
	}
	return r, nil
}

// deliverer is the "mail.send" job handler.
type deliverer struct{ o *Outbox }

// Run opens the message and hands it to the transport. Problems that no
// retry can fix (the payload is gone or no longer opens) are permanent.
func (d deliverer) Run(ctx context.Context, j jobs.Job) error {
	o := d.o
	var (
		kind, keyID string
		sealed      []byte
	)
	err := o.db.Read().QueryRowContext(ctx, "SELECT kind, key_id, sealed FROM mail_messages WHERE id = $1", j.ID).
		Scan(&kind, &keyID, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return jobs.Permanent(errors.New("mail: no message for this job"))
	}
	if err != nil {
		return fmt.Errorf("mail: read message: %w", err)
	}
	if sealed == nil {
		return jobs.Permanent(errors.New("mail: message already erased"))
	}
	plain, err := o.sealer.Open(sealed, keyID, ad(j.ID, kind)...)
	if err != nil {
		return jobs.Permanent(errors.New("mail: message does not open"))
	}
	var p payload
	err = json.Unmarshal(plain, &p)
	clear(plain)
	if err != nil {
		return jobs.Permanent(errors.New("mail: message does not decode"))
	}
	m := Message{Kind: kind, To: p.To, Subject: p.Subject, Text: p.Text, HTML: p.HTML}
	if err := o.transport.Send(ctx, m); err != nil {
		// Transports promise address-free errors; scrub anyway, since the
		// text is stored and logged.
		return redact(err, m.To)
	}
	o.log.Info("mail: sent", "mail", j.ID, "kind", kind, "attempt", j.Attempts)
	return nil
}

// Finish erases the sealed message once its job is done or dead, in the
// transaction that records that, leaving the record of what happened.
func (d deliverer) Finish(ctx context.Context, tx *sqlstore.Tx, j jobs.Job, final jobs.State) error {
	col := "sent_at"
	if final != jobs.Done {
		col = "failed_at"
	}
	_, err := tx.ExecContext(ctx, "UPDATE mail_messages SET sealed = NULL, "+col+" = $1 WHERE id = $2 AND sealed IS NOT NULL",
		sqlstore.Micros(d.o.clock()), j.ID)
	if err != nil {
		return fmt.Errorf("mail: erase sent message: %w", err)
	}
	return nil
}

// redact replaces the recipient's address in err's text, in any letter
// case (servers echo addresses as they please), keeping whether the error
// is permanent.
func redact(err error, addr string) error {
	re := regexp.MustCompile("(?i)" + regexp.QuoteMeta(addr))
	if addr == "" || !re.MatchString(err.Error()) {
		return err
	}
	r := &redacted{msg: re.ReplaceAllString(err.Error(), "<recipient>")}
	if jobs.IsPermanent(err) {
		return jobs.Permanent(r)
	}
	return r
}

// redacted is an error whose text had an address removed. It deliberately
// does not unwrap to the original, whose text still holds the address.
type redacted struct{ msg string }

func (e *redacted) Error() string { return e.msg }
