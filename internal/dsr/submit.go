package dsr

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/vault"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Submit takes in a request and computes its deadlines from its receipt
// time with the configured calendar.
//
// A request for a person who already has an open request of the same kind
// is merged into that one (what either asks for is combined, the deadlines
// stay those of the first receipt, and a merge event records the
// submission): the answer is the open request with Merged set. With an
// idempotency key, a repeated call by the same actor returns what the
// first returned and writes nothing; the key reused for a different
// submission is a Conflict. Both rules are enforced by unique indexes, so
// they hold across concurrent callers and replicas.
//
// A request whose subject is not known yet starts in awaiting_identity;
// the others start in received. Refusals (bad input, a receipt time in the
// future, a person submitting for someone else) change nothing and are
// audited.
func (s *Service) Submit(ctx context.Context, a Actor, n NewRequest) (Submitted, error) {
	if err := checkActor(a); err != nil {
		return Submitted{}, err
	}
	out, err := s.submit(ctx, a, n)
	if _, coded := errcode.As(err); coded {
		target := ""
		if vault.ValidSubjectID(n.SubjectID) {
			target = s.targets.AuditTarget("subject", n.SubjectID)
		}
		return Submitted{}, s.auditRefusal(ctx, a, "dsr.request.submit", target, err)
	}
	return out, err
}

func (s *Service) submit(ctx context.Context, a Actor, n NewRequest) (Submitted, error) {
	d, err := checkNew(a, &n)
	if err != nil {
		return Submitted{}, err
	}
	fp, err := s.fingerprint(&n, d)
	if err != nil {
		return Submitted{}, err
	}
	for range maxAttempts {
		now := s.now()
		received := now
		if !n.ReceivedAt.IsZero() {
			received = micros(n.ReceivedAt)
		}
		if received.After(now) {
			return Submitted{}, errcode.Field("received_at", "the receipt time cannot be in the future")
		}
		if n.IdempotencyKey != "" {
			out, seen, err := s.replay(ctx, a, n.IdempotencyKey, fp, now)
			if err != nil || seen {
				return out, err
			}
		}
		if err := checkCatalogue(ctx, s.db.Read(), d); err != nil {
			return Submitted{}, err
		}
		var dup *Request
		if n.SubjectID != "" {
			if dup, err = openDuplicate(ctx, s.db.Read(), n.SubjectID, n.Kind); err != nil {
				return Submitted{}, err
			}
		}
		var out Submitted
		if dup != nil {
			out, err = s.merge(ctx, a, &n, d, *dup, fp, received, now)
		} else {
			out, err = s.create(ctx, a, &n, d, fp, received, now)
		}
		// Another caller got there first (the same idempotency key, or an
		// open request of the same person and kind): plan again, which
		// finds what it wrote.
		if errors.Is(err, errStale) || sqlstore.IsUniqueViolation(err) {
			continue
		}
		return out, err
	}
	return Submitted{}, errcode.E(errcode.Conflict, "too many concurrent submissions; try again")
}

// checkNew checks a submission without the database: the kind, the
// channel and who may use it, the receipt time, and the details.
func checkNew(a Actor, n *NewRequest) (Details, error) {
	if !n.Kind.valid() {
		return Details{}, errcode.Field("kind", "the kind is access, export, erasure, rectification, restriction or objection")
	}
	if !n.Channel.valid() {
		return Details{}, errcode.Field("channel", "the channel is portal, api, form, staff-email, staff-letter or staff-phone")
	}
	if n.SubjectID != "" && !vault.ValidSubjectID(n.SubjectID) {
		return Details{}, subjectNotFound()
	}
	switch {
	case n.Channel == Portal || n.Channel == API:
		if n.SubjectID == "" {
			return Details{}, errcode.Field("subject_id", "a %s request names its subject", n.Channel)
		}
		if id, ok := a.subjectID(); n.Channel == Portal && (!ok || id != n.SubjectID) {
			return Details{}, errcode.E(errcode.Forbidden, "in the portal a person makes requests only for themself")
		}
		if n.Channel == API && !a.isAPIKey() {
			return Details{}, errcode.E(errcode.Forbidden, "only the host application's API key submits on the api channel")
		}
	case n.Channel == Form:
		if n.SubjectID != "" {
			return Details{}, errcode.Field("subject_id", "a request from the public form is linked to its subject once the person's identity is established")
		}
	case n.Channel.staff():
		if !a.isStaff() {
			return Details{}, errcode.E(errcode.Forbidden, "only staff enter requests received by e-mail, letter or phone")
		}
	}
	if !n.ReceivedAt.IsZero() && (n.Channel == Portal || n.Channel == Form) {
		return Details{}, errcode.Field("received_at", "a %s request is received when it is submitted", n.Channel)
	}
	if n.IdempotencyKey != "" && !idempotencyPattern.MatchString(n.IdempotencyKey) {
		return Details{}, errcode.Field("idempotency_key", "an idempotency key is 1 to %d printable ASCII characters", maxIdempotency)
	}
	d, err := n.Details.normalise(n.Kind)
	if err != nil {
		return Details{}, err
	}
	if d.personal() != nil && n.SubjectID == "" {
		return Details{}, errcode.Field("details", "fields and messages are taken once the person is identified: they are sealed with that person's key")
	}
	return d, nil
}

// checkCatalogue refuses categories and purposes the operator has not
// declared: an erasure of an unknown category would otherwise "succeed"
// while erasing nothing.
func checkCatalogue(ctx context.Context, q sqlstore.Querier, d Details) error {
	check := func(query, field, what string, names []string) error {
		for _, name := range names {
			var one int
			err := q.QueryRowContext(ctx, query, name).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return errcode.Field(field, "unknown %s %q", what, name)
			}
			if err != nil {
				return fmt.Errorf("dsr: check %s: %w", what, err)
			}
		}
		return nil
	}
	if err := check("SELECT 1 FROM categories WHERE name = $1", "details.categories", "data category", d.Categories); err != nil {
		return err
	}
	return check("SELECT 1 FROM purposes WHERE slug = $1", "details.purposes", "purpose", d.Purposes)
}

// fingerprint identifies a submission for its idempotency key: an HMAC
// (the audit-target key) over everything it says, so that reusing a key
// for a different submission is caught without storing personal data.
func (s *Service) fingerprint(n *NewRequest, d Details) (string, error) {
	var received int64
	if !n.ReceivedAt.IsZero() {
		received = sqlstore.Micros(n.ReceivedAt)
	}
	b, err := json.Marshal(struct {
		Subject  string  `json:"s"`
		Kind     Kind    `json:"k"`
		Channel  Channel `json:"c"`
		Details  Details `json:"d"`
		Received int64   `json:"r"`
	}{n.SubjectID, n.Kind, n.Channel, d, received})
	if err != nil {
		return "", err
	}
	return s.targets.AuditTarget("dsr.idempotency", string(b)), nil
}

// replay answers a submission whose idempotency key was seen before.
func (s *Service) replay(ctx context.Context, a Actor, key, fp string, now time.Time) (Submitted, bool, error) {
	var (
		requestID, stored string
		merged            int
	)
	err := s.db.Read().QueryRowContext(ctx, `SELECT request_id, fingerprint, merged FROM request_idempotency
		WHERE actor = $1 AND idempotency_key = $2`, a.Name, key).Scan(&requestID, &stored, &merged)
	if errors.Is(err, sql.ErrNoRows) {
		return Submitted{}, false, nil
	}
	if err != nil {
		return Submitted{}, false, fmt.Errorf("dsr: read idempotency key: %w", err)
	}
	if stored != fp {
		return Submitted{}, true, &errcode.Error{Code: errcode.Conflict, Field: "idempotency_key",
			Message: "this idempotency key was already used for a different request"}
	}
	r, err := loadRequest(ctx, s.db.Read(), requestID)
	if err != nil {
		return Submitted{}, true, err
	}
	r.present(now)
	return Submitted{Request: r, Merged: merged == 1, Replayed: true}, true, nil
}

// create writes a new request with its submit event.
func (s *Service) create(ctx context.Context, a Actor, n *NewRequest, d Details, fp string, received, now time.Time) (Submitted, error) {
	r := Request{
		ID: ids.New("req_"), SubjectID: n.SubjectID, Kind: n.Kind, Channel: n.Channel,
		Details: d.scope(), SealedDetails: d.personal() != nil, State: Received, ReceivedAt: received,
		Version: 1, CreatedBy: a.Name, CreatedAt: now, UpdatedAt: now,
	}
	r.LegalDueAt, r.TargetDueAt = s.due(received, 1)
	if r.SubjectID == "" {
		r.moveTo(AwaitingIdentity, now)
	}
	var sealed []byte
	var keyID string
	if p := d.personal(); p != nil {
		b, err := json.Marshal(p)
		if err != nil {
			return Submitted{}, err
		}
		if sealed, keyID, err = s.sealer.Seal(ctx, r.SubjectID, b, detailsAD(r.ID)...); err != nil {
			return Submitted{}, fmt.Errorf("seal request details: %w", err)
		}
	}
	ev := &eventRow{version: 1, at: now, actor: a.Name, kind: EventSubmit, to: r.State}
	target := s.requestTarget(&r)
	details, detailsKey, err := s.auditDetails(ctx, &r, target, auditFacts(&r, ev))
	if err != nil {
		return Submitted{}, err
	}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if err := insertRequest(ctx, tx, &r, sealed, keyID); err != nil {
			return err
		}
		if err := s.record(ctx, tx, a, "dsr.request.submit", target, details, detailsKey, r.ID, ev, ""); err != nil {
			return err
		}
		return rememberKey(ctx, tx, a, n.IdempotencyKey, r.ID, fp, false, now)
	})
	if err != nil {
		return Submitted{}, err
	}
	r.present(now)
	return Submitted{Request: r}, nil
}

// merge folds a duplicate submission into the open request dup.
func (s *Service) merge(ctx context.Context, a Actor, n *NewRequest, d Details, dup Request, fp string, received, now time.Time) (Submitted, error) {
	next := dup
	next.Details = dup.Details.union(d.scope())
	next.Version = dup.Version + 1
	next.UpdatedAt = now
	ev := &eventRow{version: next.Version, at: now, actor: a.Name, kind: EventMerge, from: dup.State, to: dup.State,
		facts: map[string]any{"channel": n.Channel, "received_at": received, "details": d.scope()}}
	if err := s.sealEvent(ctx, &next, ev, payload{Personal: d.personal()}); err != nil {
		return Submitted{}, err
	}
	target := s.requestTarget(&next)
	details, keyID, err := s.auditDetails(ctx, &next, target, auditFacts(&next, ev))
	if err != nil {
		return Submitted{}, err
	}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if err := updateRequest(ctx, tx, dup.Version, &next); err != nil {
			return err
		}
		if err := s.record(ctx, tx, a, "dsr.request.merge", target, details, keyID, next.ID, ev, ""); err != nil {
			return err
		}
		return rememberKey(ctx, tx, a, n.IdempotencyKey, next.ID, fp, true, now)
	})
	if err != nil {
		return Submitted{}, err
	}
	next.present(now)
	return Submitted{Request: next, Merged: true}, nil
}

// rememberKey stores an idempotency key with the request it answered. The
// primary key makes a concurrent second use fail, and Submit then replays.
func rememberKey(ctx context.Context, tx *sqlstore.Tx, a Actor, key, requestID, fp string, merged bool, now time.Time) error {
	if key == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO request_idempotency (actor, idempotency_key, request_id, fingerprint, merged, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, a.Name, key, requestID, fp, boolInt(merged), sqlstore.Micros(now))
	if err != nil {
		return fmt.Errorf("dsr: store idempotency key: %w", err)
	}
	return nil
}
