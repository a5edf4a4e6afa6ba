// Package webhook tells the operator's other systems and recipients what
// happened in gdprd ("subject.erased"), so that an erasure reaches every
// copy of the data (Art. 19). Messages follow Standard Webhooks
// (https://www.standardwebhooks.com): a JSON body signed with
// HMAC-SHA256 under a per-endpoint secret ("whsec_…"), in the headers
// webhook-id, webhook-timestamp and webhook-signature.
//
// Messages are queued inside the caller's transaction and delivered by
// the job runner, with retries and exponential backoff; each delivery to
// each endpoint has a status row (attempts, last HTTP status, next
// attempt, delivered or failed) for the console.
//
// Bodies are stored and sent in clear, so they hold no personal data: the
// Payload type admits only a subject's pseudonymous id, a request id and
// category names.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// JobKind is the kind of the jobs that deliver one message to one endpoint.
const JobKind = "webhook.deliver"

// DefaultMaxAttempts bounds the deliveries of one message to one endpoint.
// With the runner's default backoff (5 s doubling, at most an hour) ten
// attempts span a little over two hours.
const DefaultMaxAttempts = 10

// DefaultTimeout bounds one HTTP delivery.
const DefaultTimeout = 15 * time.Second

// SubjectErased is the event sent when a subject, or some of their
// categories, has been erased.
const SubjectErased = "subject.erased"

// secretPrefix marks a Standard Webhooks signing secret.
const secretPrefix = "whsec_"

// secretBytes is the size of a generated secret: 256 bits.
const secretBytes = 32

// Delivery states.
const (
	Pending   = "pending"
	Delivered = "delivered"
	Failed    = "failed"
)

var (
	eventPattern    = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	categoryPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
)

// Payload is the data of an event. Its fields are all the types of
// information a webhook may carry: identifiers without meaning outside
// gdprd and the operator's own category names, never personal data.
type Payload struct {
	SubjectID  string   `json:"subject_id,omitempty"`
	RequestID  string   `json:"request_id,omitempty"`
	Categories []string `json:"categories,omitempty"`
	// AccountErased says the whole account is gone, not only Categories.
	AccountErased bool `json:"account_erased,omitempty"`
}

func (p Payload) validate() error {
	if p.SubjectID != "" && !ids.Valid("sub_", p.SubjectID) {
		return errcode.Field("subject_id", "not a subject id")
	}
	if p.RequestID != "" && !ids.Valid("req_", p.RequestID) {
		return errcode.Field("request_id", "not a request id")
	}
	for _, c := range p.Categories {
		if !categoryPattern.MatchString(c) {
			return errcode.Field("categories", "not a category name")
		}
	}
	return nil
}

// message is the signed body, in the Standard Webhooks shape.
type message struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Payload   `json:"data"`
}

// Endpoint is a receiver of events. Events lists the event types it gets;
// "*" means all.
type Endpoint struct {
	ID         string     `json:"id"`
	URL        string     `json:"url"`
	Events     []string   `json:"events"`
	CreatedAt  time.Time  `json:"created_at"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

// Delivery is the status of one message to one endpoint.
type Delivery struct {
	ID          string    `json:"id"`
	EndpointID  string    `json:"endpoint_id"`
	MsgID       string    `json:"msg_id"`
	Event       string    `json:"event"`
	State       string    `json:"state"` // Pending, Delivered or Failed
	Attempts    int       `json:"attempts"`
	LastStatus  int       `json:"last_status"` // HTTP status of the last attempt; 0 if none answered
	LastError   string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"` // zero unless pending
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
}

// Options configure a Service.
type Options struct {
	DB      *sqlstore.DB
	Keyring *keys.Keyring
	Audit   *audit.Log
	// Client sends the requests; a client with DefaultTimeout that follows
	// no redirects when nil.
	Client *http.Client
	Clock  func() time.Time
	Logger *slog.Logger
	// MaxAttempts per message and endpoint (DefaultMaxAttempts when zero).
	MaxAttempts int
}

// Service holds the endpoint registry, queues messages and delivers them.
type Service struct {
	db          *sqlstore.DB
	kr          *keys.Keyring
	audit       *audit.Log
	client      *http.Client
	now         func() time.Time
	log         *slog.Logger
	maxAttempts int
}

// New returns the webhook service.
func New(o Options) (*Service, error) {
	if o.DB == nil || o.Keyring == nil || o.Audit == nil {
		return nil, errors.New("webhook: a database, keyring and audit log are required")
	}
	s := &Service{db: o.DB, kr: o.Keyring, audit: o.Audit, client: o.Client, now: o.Clock,
		log: o.Logger, maxAttempts: o.MaxAttempts}
	if s.client == nil {
		s.client = &http.Client{
			Timeout: DefaultTimeout,
			// A redirect is an answer of its own, not a delivery: a
			// receiver that moved must be reconfigured, not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.maxAttempts <= 0 {
		s.maxAttempts = DefaultMaxAttempts
	}
	return s, nil
}

// CreateEndpoint registers a receiver and returns it with its signing
// secret, which is shown once (the receiver needs it to check signatures)
// and stored only sealed.
func (s *Service) CreateEndpoint(ctx context.Context, rawURL string, events []string, actor string) (Endpoint, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || len(rawURL) > 2000 {
		return Endpoint{}, "", errcode.Field("url", "the endpoint needs an absolute http or https URL")
	}
	if len(events) == 0 {
		return Endpoint{}, "", errcode.Field("events", "name at least one event type, or * for all")
	}
	for _, e := range events {
		if e != "*" && !eventPattern.MatchString(e) {
			return Endpoint{}, "", errcode.Field("events", "event types look like subject.erased")
		}
	}
	ep := Endpoint{ID: ids.New("whe_"), URL: u.String(), Events: slices.Compact(slices.Sorted(slices.Values(events))),
		CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	// The key is shown once, as the secret, and from then on used only
	// inside internal/keys.
	raw := make([]byte, secretBytes)
	rand.Read(raw)
	secret := secretPrefix + base64.StdEncoding.EncodeToString(raw)
	sealed, keyID, err := s.kr.SealSharedKey(sharedKeyService, raw, "webhook_endpoints", ep.ID)
	clear(raw)
	if err != nil {
		return Endpoint{}, "", err
	}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, url, events, key_id, sealed, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, ep.ID, ep.URL, strings.Join(ep.Events, " "), keyID, sealed, sqlstore.Micros(ep.CreatedAt)); err != nil {
			return err
		}
		return s.auditEvent(ctx, tx, actor, "webhook.endpoint.create", "webhook:"+ep.ID, "ok")
	})
	if err != nil {
		return Endpoint{}, "", fmt.Errorf("create webhook endpoint: %w", err)
	}
	return ep, secret, nil
}

// DisableEndpoint stops new messages to an endpoint; queued deliveries to
// it fail at their next attempt.
func (s *Service) DisableEndpoint(ctx context.Context, id, actor string) error {
	return s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE webhook_endpoints SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL",
			sqlstore.Micros(s.now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errcode.E(errcode.NotFound, "no active webhook endpoint %q", id)
		}
		return s.auditEvent(ctx, tx, actor, "webhook.endpoint.disable", "webhook:"+id, "ok")
	})
}

// Endpoints lists every endpoint, disabled ones included.
func (s *Service) Endpoints(ctx context.Context) ([]Endpoint, error) {
	rows, err := s.db.Read().QueryContext(ctx, "SELECT id, url, events, created_at, disabled_at FROM webhook_endpoints ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []Endpoint
	for rows.Next() {
		var (
			ep       Endpoint
			events   string
			created  int64
			disabled sql.NullInt64
		)
		if err := rows.Scan(&ep.ID, &ep.URL, &events, &created, &disabled); err != nil {
			return nil, err
		}
		ep.Events = strings.Fields(events)
		ep.CreatedAt = sqlstore.FromMicros(created)
		if disabled.Valid {
			t := sqlstore.FromMicros(disabled.Int64)
			ep.DisabledAt = &t
		}
		out = append(out, ep)
	}
	return out, rows.Err()
}

// Enqueue queues event for every active endpoint subscribed to it, in a
// transaction of its own, and returns the message id (the webhook-id the
// receivers see, the same for all of them and for every retry). With no
// subscribed endpoint, nothing is queued.
func (s *Service) Enqueue(ctx context.Context, event string, p Payload) (msgID string, err error) {
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		msgID, err = s.EnqueueTx(ctx, tx, event, p)
		return err
	})
	return msgID, err
}

// EnqueueTx is Enqueue inside the caller's transaction, so that a change
// and the notice of it commit together: no webhook for an erasure that
// rolled back, no erasure whose webhook is lost.
func (s *Service) EnqueueTx(ctx context.Context, tx *sqlstore.Tx, event string, p Payload) (string, error) {
	msgID, _, err := s.enqueueTx(ctx, tx, event, p)
	return msgID, err
}

// NotifyErasureTx queues a subject.erased message for the erased
// categories inside the erasure's own transaction and returns its
// webhook-id and the recipients it goes to, named by the host of their
// endpoint (never the path or query, which may hold a receiver's token),
// one per endpoint. It makes the Service a dsr.Notifier.
func (s *Service) NotifyErasureTx(ctx context.Context, tx *sqlstore.Tx, subjectID, requestID string, categories []string, account bool) (string, []string, error) {
	msgID, eps, err := s.enqueueTx(ctx, tx, SubjectErased, Payload{SubjectID: subjectID, RequestID: requestID,
		Categories: categories, AccountErased: account})
	if err != nil {
		return "", nil, err
	}
	recipients := make([]string, 0, len(eps))
	for _, ep := range eps {
		recipients = append(recipients, ep.host)
	}
	return msgID, recipients, nil
}

// target is an endpoint a message is queued for.
type target struct{ id, host string }

func (s *Service) enqueueTx(ctx context.Context, tx *sqlstore.Tx, event string, p Payload) (string, []target, error) {
	if !eventPattern.MatchString(event) {
		return "", nil, errcode.Field("event", "event types look like subject.erased")
	}
	if err := p.validate(); err != nil {
		return "", nil, err
	}
	now := s.now().UTC()
	msgID := ids.New("msg_")
	body, err := json.Marshal(message{Type: event, Timestamp: now.Truncate(time.Second), Data: p})
	if err != nil {
		return "", nil, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT id, url, events FROM webhook_endpoints WHERE disabled_at IS NULL ORDER BY id")
	if err != nil {
		return "", nil, fmt.Errorf("enqueue webhook: %w", err)
	}
	var targets []target
	for rows.Next() {
		var id, raw, events string
		if err := rows.Scan(&id, &raw, &events); err != nil {
			rows.Close()
			return "", nil, err
		}
		if ev := strings.Fields(events); slices.Contains(ev, event) || slices.Contains(ev, "*") {
			host := id
			if u, err := url.Parse(raw); err == nil && u.Host != "" {
				host = u.Host
			}
			targets = append(targets, target{id: id, host: host})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", nil, err
	}
	us := sqlstore.Micros(now)
	for _, ep := range targets {
		id, err := jobs.Enqueue(ctx, tx, jobs.Job{Kind: JobKind, RunAt: now, MaxAttempts: s.maxAttempts})
		if err != nil {
			return "", nil, fmt.Errorf("enqueue webhook: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, msg_id, event, body, state, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)`, id, ep.id, msgID, event, string(body), us); err != nil {
			return "", nil, fmt.Errorf("enqueue webhook: %w", err)
		}
	}
	return msgID, targets, nil
}

// Register makes r deliver queued messages.
func (s *Service) Register(r *jobs.Runner) { r.Register(JobKind, deliverer{s}) }

const deliveryColumns = `d.id, d.endpoint_id, d.msg_id, d.event, d.state, d.attempts, d.last_status, d.last_error,
	d.created_at, d.updated_at, d.finished_at, j.state, j.run_at`

func scanDelivery(r interface{ Scan(...any) error }) (Delivery, error) {
	var (
		d                Delivery
		created, updated int64
		finished         sql.NullInt64
		jobState         sql.NullString
		runAt            sql.NullInt64
	)
	if err := r.Scan(&d.ID, &d.EndpointID, &d.MsgID, &d.Event, &d.State, &d.Attempts, &d.LastStatus, &d.LastError,
		&created, &updated, &finished, &jobState, &runAt); err != nil {
		return Delivery{}, err
	}
	d.CreatedAt, d.UpdatedAt = sqlstore.FromMicros(created), sqlstore.FromMicros(updated)
	if finished.Valid {
		d.FinishedAt = sqlstore.FromMicros(finished.Int64)
	}
	if d.State == Pending && runAt.Valid && jobState.String == string(jobs.Queued) {
		d.NextAttempt = sqlstore.FromMicros(runAt.Int64)
	}
	return d, nil
}

// Delivery returns the status of one delivery.
func (s *Service) Delivery(ctx context.Context, id string) (Delivery, error) {
	d, err := scanDelivery(s.db.Read().QueryRowContext(ctx, "SELECT "+deliveryColumns+
		" FROM webhook_deliveries d LEFT JOIN jobs j ON j.id = d.id WHERE d.id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, errcode.E(errcode.NotFound, "no such delivery")
	}
	return d, err
}

// Deliveries lists the newest deliveries, of one endpoint when endpointID
// is not empty, of one message when msgID is not empty.
func (s *Service) Deliveries(ctx context.Context, endpointID, msgID string, limit int) ([]Delivery, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.db.Read().QueryContext(ctx, "SELECT "+deliveryColumns+` FROM webhook_deliveries d LEFT JOIN jobs j ON j.id = d.id
		WHERE ($1 = '' OR d.endpoint_id = $1) AND ($2 = '' OR d.msg_id = $2)
		ORDER BY d.created_at DESC, d.id LIMIT $3`, endpointID, msgID, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// sharedKeyService names the service key that seals endpoint secrets.
const sharedKeyService = "webhook"

// Sign returns the webhook-signature value of a message under a
// Standard Webhooks secret ("whsec_" and the base64 key): "v1," and the
// base64 HMAC-SHA256 of "<id>.<unix seconds>.<body>". gdprd signs its own
// messages with the sealed key inside internal/keys (same content, same
// format); Sign is for receivers written in Go and for checking the
// format against the specification's example.
func Sign(secret, msgID string, ts time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(key) == 0 {
		return "", errors.New("webhook: the secret is not whsec_ and base64")
	}
	defer clear(key)
	m := hmac.New(sha256.New, key)
	for _, part := range signedContent(msgID, ts, body) {
		m.Write(part)
	}
	return signature(m.Sum(nil)), nil
}

// signedContent is what a signature covers: "<id>.<unix seconds>.<body>".
func signedContent(msgID string, ts time.Time, body []byte) [][]byte {
	return [][]byte{[]byte(msgID + "." + strconv.FormatInt(ts.Unix(), 10) + "."), body}
}

// signature formats a MAC as a webhook-signature value.
func signature(mac []byte) string { return "v1," + base64.StdEncoding.EncodeToString(mac) }

// deliverer is the JobKind handler.
type deliverer struct{ s *Service }

// Run sends one attempt and records its outcome on the delivery row.
func (d deliverer) Run(ctx context.Context, j jobs.Job) error {
	s := d.s
	var (
		epID, msgID, event, body, u, keyID string
		sealed                             []byte
		disabled                           sql.NullInt64
	)
	err := s.db.Read().QueryRowContext(ctx, `SELECT d.endpoint_id, d.msg_id, d.event, d.body, e.url, e.key_id, e.sealed, e.disabled_at
		FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1`, j.ID).
		Scan(&epID, &msgID, &event, &body, &u, &keyID, &sealed, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return jobs.Permanent(errors.New("webhook: no delivery for this job"))
	}
	if err != nil {
		return fmt.Errorf("webhook: read delivery: %w", err)
	}
	if disabled.Valid {
		return d.record(ctx, j, 0, jobs.Permanent(errors.New("webhook: endpoint disabled")))
	}
	ts := s.now()
	mac, err := s.kr.SharedKeyMAC(sharedKeyService, keyID, sealed, []string{"webhook_endpoints", epID}, signedContent(msgID, ts, []byte(body))...)
	if err != nil {
		return d.record(ctx, j, 0, jobs.Permanent(errors.New("webhook: endpoint secret does not open")))
	}
	sig := signature(mac)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader([]byte(body)))
	if err != nil {
		return d.record(ctx, j, 0, jobs.Permanent(errors.New("webhook: endpoint URL is not usable")))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gdprd-webhooks")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		// The error is stored and logged: keep the cause, drop the URL,
		// whose query may hold a receiver's access token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return d.record(ctx, j, 0, fmt.Errorf("webhook: %s: %w", epID, err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return d.record(ctx, j, resp.StatusCode, fmt.Errorf("webhook: endpoint answered %d", resp.StatusCode))
	}
	s.log.Info("webhook: delivered", "delivery", j.ID, "endpoint", epID, "event", event, "attempt", j.Attempts)
	return d.record(ctx, j, resp.StatusCode, nil)
}

// record notes an attempt on the delivery row and passes runErr on to the
// runner, which decides between a retry and the end.
func (d deliverer) record(ctx context.Context, j jobs.Job, status int, runErr error) error {
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
		if len(msg) > 500 {
			msg = msg[:500]
		}
	}
	err := d.s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE webhook_deliveries SET attempts = $1, last_status = $2, last_error = $3, updated_at = $4 WHERE id = $5",
			j.Attempts, status, strings.ToValidUTF8(msg, "?"), sqlstore.Micros(d.s.now()), j.ID)
		return err
	})
	if err != nil && runErr == nil {
		// Delivered, but not recorded: the job runs again, and the
		// receiver de-duplicates by webhook-id.
		return fmt.Errorf("webhook: record delivery: %w", err)
	}
	return runErr
}

// Finish settles the delivery row with the job's end, and audits it: the
// record that a recipient was (or could not be) told, which an erasure
// receipt lists (Art. 19).
func (d deliverer) Finish(ctx context.Context, tx *sqlstore.Tx, j jobs.Job, final jobs.State) error {
	state, result := Delivered, "ok"
	if final != jobs.Done {
		state, result = Failed, "failed"
	}
	var (
		epID, body string
	)
	if err := tx.QueryRowContext(ctx, "SELECT endpoint_id, body FROM webhook_deliveries WHERE id = $1", j.ID).Scan(&epID, &body); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE webhook_deliveries SET state = $1, finished_at = $2, updated_at = $2 WHERE id = $3",
		state, sqlstore.Micros(d.s.now()), j.ID); err != nil {
		return fmt.Errorf("webhook: settle delivery: %w", err)
	}
	target := "webhook:" + epID
	var m message
	if json.Unmarshal([]byte(body), &m) == nil && m.Data.SubjectID != "" {
		target = d.s.kr.AuditTarget("subject", m.Data.SubjectID)
	}
	return d.s.auditEvent(ctx, tx, "system:webhook", "webhook."+state, target, result)
}

func (s *Service) auditEvent(ctx context.Context, tx *sqlstore.Tx, actor, action, target, result string) error {
	if actor == "" {
		actor = "system"
	}
	_, err := s.audit.Append(ctx, tx, audit.Event{Actor: actor, Action: action, Purpose: "security", Target: target, Result: result})
	return err
}
