package consent

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gdprd/gdprd/internal/ids"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Kind is what a consent record says.
type Kind string

const (
	Grant        Kind = "grant"         // consent given (Art. 6(1)(a), 7)
	Withdraw     Kind = "withdraw"      // consent withdrawn (Art. 7(3))
	Object       Kind = "object"        // objection to processing (Art. 21)
	AcceptNotice Kind = "accept-notice" // a notice version read and accepted
)

// Channel is where a record was collected.
type Channel string

const (
	Portal Channel = "portal"
	API    Channel = "api"
	Widget Channel = "widget"
	Import Channel = "import"
	Staff  Channel = "staff"
)

var channels = map[Channel]bool{Portal: true, API: true, Widget: true, Import: true, Staff: true}

// Action is the control the person used. Consent must be "an unambiguous
// indication … by a clear affirmative action" (Art. 4(11)); the set is
// closed so that nothing else can be recorded as one.
type Action string

const (
	Checkbox       Action = "checkbox"
	Toggle         Action = "toggle"
	Button         Action = "button"
	SignedForm     Action = "signed-form"
	TypedStatement Action = "typed-statement"
	TwoStep        Action = "two-step"
	// BrowserSignal is an automated opt-out such as Global Privacy Control:
	// it may withdraw or object (Art. 21(5)), never grant.
	BrowserSignal Action = "browser-signal"
)

var affirmative = map[Action]bool{Checkbox: true, Toggle: true, Button: true, SignedForm: true, TypedStatement: true, TwoStep: true}

// notAffirmative are the "actions" that EDPB Guidelines 05/2020 (paras
// 79-86) and CJEU C-673/17 Planet49 rule out as consent; they get their
// own message so the caller learns why, not just that the value is unknown.
var notAffirmative = map[Action]bool{"preticked": true, "pre-ticked": true, "prechecked": true, "scroll": true, "silence": true, "inactivity": true}

// Explicit reports whether a is an express statement as explicit consent
// (Arts. 9(2)(a), 22, 49) requires: a signed or typed statement or a
// two-step confirmation, not a mere tick.
func (a Action) Explicit() bool { return a == SignedForm || a == TypedStatement || a == TwoStep }

// Request asks Record to append one consent record.
type Request struct {
	SubjectID string
	Kind      Kind
	// Purpose is required for grant, withdraw and object, and must be
	// empty for accept-notice.
	Purpose string
	// Notice is the notice shown: required for accept-notice; for the
	// other kinds it defaults to the purpose's notice.
	Notice string
	// NoticeVersion is the version the person was shown: required for
	// grant and accept-notice, and then it must be the current one.
	NoticeVersion int
	// NoticeSHA256, when given, must be the hex SHA-256 of that version's
	// body: proof that the text shown was the text stored.
	NoticeSHA256 string
	Channel      Channel
	Action       Action
	// Source optionally names what triggered the record, e.g. "gpc".
	Source string
	// IP and UserAgent are the proof of who clicked; stored sealed.
	IP        string
	UserAgent string
}

// Record is one entry of the consent register.
type Record struct {
	Seq           int64     `json:"seq"`
	ID            string    `json:"id"`
	SubjectID     string    `json:"subject_id"`
	Kind          Kind      `json:"kind"`
	Purpose       string    `json:"purpose,omitempty"`
	Notice        string    `json:"notice,omitempty"`
	NoticeVersion int       `json:"notice_version,omitempty"`
	NoticeSHA256  string    `json:"notice_sha256,omitempty"`
	Channel       Channel   `json:"channel"`
	Action        Action    `json:"action"`
	Source        string    `json:"source,omitempty"`
	RecordedAt    time.Time `json:"recorded_at"`
	// RecordedBy is "subject", "staff:<id>", "apikey:<id>" or "system".
	RecordedBy string `json:"recorded_by"`
	// Proof is the sealed IP address and user agent (nil when none were
	// given); OpenProof reveals it while the subject exists.
	Proof      []byte `json:"-"`
	ProofKeyID string `json:"-"`
	// AuditSeq is the seq of the audit event written with the record.
	AuditSeq int64 `json:"audit_seq"`
}

// Proof is what a record's sealed proof holds.
type Proof struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

var (
	idPattern     = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	sourcePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)
	hashPattern   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

const maxUserAgentLen = 512

// recordedBy derives who recorded a request from the actor. A subject may
// record only for themself, and only a staff member, an API key or the
// system may speak for a staff desk or an import.
func recordedBy(a Actor, req *Request) (string, error) {
	name := a.Name
	var by string
	switch {
	case name == "subject:"+req.SubjectID:
		by = "subject"
	case strings.HasPrefix(name, "subject:"):
		return "", errcode.E(errcode.Forbidden, "a person can record consent only for themself")
	case name == "system",
		strings.HasPrefix(name, "staff:") && len(name) > len("staff:"),
		strings.HasPrefix(name, "apikey:") && len(name) > len("apikey:"):
		by = name
	default:
		return "", fmt.Errorf("consent: actor %q is not a subject, staff member, API key or the system", truncate(name, 64))
	}
	if req.Channel == Staff && !strings.HasPrefix(by, "staff:") {
		return "", errcode.Field("channel", "only a staff member records on the staff channel")
	}
	if req.Channel == Import && by == "subject" {
		return "", errcode.Field("channel", "a person does not record through an import")
	}
	return by, nil
}

// validateRequest checks what needs no database.
func validateRequest(req *Request) error {
	if !idPattern.MatchString(req.SubjectID) {
		return subjectNotFound()
	}
	switch req.Kind {
	case Grant, Withdraw, Object:
		if !slugPattern.MatchString(req.Purpose) {
			return errcode.Field("purpose", "unknown purpose %q", truncate(req.Purpose, 64))
		}
	case AcceptNotice:
		if req.Purpose != "" {
			return errcode.Field("purpose", "accepting a notice names the notice, not a purpose")
		}
		if req.Notice == "" {
			return errcode.Field("notice", "name the notice that was accepted")
		}
	default:
		return errcode.Field("kind", "the kind is grant, withdraw, object or accept-notice")
	}
	if req.Notice != "" && !slugPattern.MatchString(req.Notice) {
		return errcode.Field("notice", "unknown notice %q", truncate(req.Notice, 64))
	}
	if req.NoticeVersion < 0 {
		return errcode.Field("notice_version", "a notice version is a positive number")
	}
	if req.NoticeSHA256 != "" && !hashPattern.MatchString(req.NoticeSHA256) {
		return errcode.Field("notice_sha256", "the notice hash is 64 lower-case hex digits (SHA-256)")
	}
	if req.NoticeSHA256 != "" && req.NoticeVersion == 0 {
		return errcode.Field("notice_version", "a notice hash needs the version it belongs to")
	}
	if !channels[req.Channel] {
		return errcode.Field("channel", "the channel is portal, api, widget, import or staff")
	}
	switch {
	case notAffirmative[req.Action]:
		return errcode.Field("action", "%q is not an affirmative action: consent needs a clear act by the person (no pre-ticked boxes, scrolling, silence or inactivity; GDPR Art. 4(11), Recital 32)", req.Action)
	case req.Action == BrowserSignal:
		if req.Kind == Grant || req.Kind == AcceptNotice {
			return errcode.Field("action", "a browser signal can withdraw or object, never grant or accept")
		}
	case !affirmative[req.Action]:
		return errcode.Field("action", "the action is the control used: checkbox, toggle, button, signed-form, typed-statement, two-step or browser-signal")
	}
	if req.Source != "" && !sourcePattern.MatchString(req.Source) {
		return errcode.Field("source", "a source is a short lower-case name such as gpc")
	}
	if req.IP != "" {
		if _, err := netip.ParseAddr(req.IP); err != nil {
			return errcode.Field("ip", "not an IP address")
		}
	}
	if len(req.UserAgent) > maxUserAgentLen || !validText(req.UserAgent) {
		return errcode.Field("user_agent", "a user agent is at most %d characters of text", maxUserAgentLen)
	}
	return nil
}

// Record appends one record to the register, with its audit event and the
// update of the cached state, in one transaction. It refuses anything that
// would not be valid consent or a valid objection (errcode.Invalid, nothing
// written):
//   - grants and withdrawals only for purposes based on consent;
//   - objections only where Art. 21 gives the right: purposes based on
//     legitimate interests or a public task, and any direct marketing;
//   - grants and notice acceptances must cite the current published
//     version of the notice (the purpose's notice for a grant), so every
//     consent is informed by the text in force;
//   - only affirmative actions, and an express one where the purpose relies
//     on explicit consent (Art. 9(2)(a)).
//
// An objection to direct marketing is absolute (Art. 21(3)): a later grant
// from the person is new consent and lifts it, but an import cannot.
// Restricted subjects may still record (a withdrawal must always be
// possible); Check keeps refusing processing for them.
func (r *Register) Record(ctx context.Context, a Actor, req Request) (Record, error) {
	p, err := r.prepare(ctx, a, req)
	if err != nil {
		return Record{}, err
	}
	err = r.db.Write(ctx, func(tx *sqlstore.Tx) error { return r.write(ctx, tx, a, p) })
	// Even a failed write may have committed (a lost connection after
	// COMMIT): drop cached decisions either way.
	r.Invalidate(req.SubjectID)
	if err != nil {
		return Record{}, err
	}
	return p.rec, nil
}

// MaxRecordMany bounds one RecordMany call.
const MaxRecordMany = 5000

// RecordMany appends many records in one transaction, for imports and for
// seeding the benchmark (`gdprd bench-seed`). Each request goes through
// exactly what Record does (the same validation, sealing, rules, audit
// event and state update, in input order); the only difference is that
// they commit together, and any refusal fails the whole call and writes
// nothing.
func (r *Register) RecordMany(ctx context.Context, a Actor, reqs []Request) ([]Record, error) {
	if len(reqs) > MaxRecordMany {
		return nil, errcode.E(errcode.Invalid, "at most %d records per call", MaxRecordMany)
	}
	ps := make([]*prepared, len(reqs))
	for i, req := range reqs {
		p, err := r.prepare(ctx, a, req)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		ps[i] = p
	}
	err := r.db.Write(ctx, func(tx *sqlstore.Tx) error {
		for i, p := range ps {
			if err := r.write(ctx, tx, a, p); err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
		}
		return nil
	})
	for _, req := range reqs {
		r.Invalidate(req.SubjectID)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(ps))
	for i, p := range ps {
		out[i] = p.rec
	}
	return out, nil
}

// prepared is a validated request with its proof and audit details
// sealed, ready for write.
type prepared struct {
	req        Request
	rec        Record
	details    []byte
	detailsKey string
}

// prepare does what needs no transaction: validation and sealing.
// Sealing happens before the transaction because it may read the key
// store, and SQLite's single writer must not wait on that.
func (r *Register) prepare(ctx context.Context, a Actor, req Request) (*prepared, error) {
	if err := validateRequest(&req); err != nil {
		return nil, err
	}
	by, err := recordedBy(a, &req)
	if err != nil {
		return nil, err
	}
	p := &prepared{req: req, rec: Record{
		ID: ids.New("cr_"), SubjectID: req.SubjectID, Kind: req.Kind, Purpose: req.Purpose,
		Channel: req.Channel, Action: req.Action, Source: req.Source, RecordedBy: by,
	}}
	target := r.subjectTarget(req.SubjectID)
	if req.IP != "" || req.UserAgent != "" {
		b, err := json.Marshal(Proof{IP: req.IP, UserAgent: req.UserAgent})
		if err != nil {
			return nil, err
		}
		if p.rec.Proof, p.rec.ProofKeyID, err = r.sealer.Seal(ctx, req.SubjectID, b, "consent_proof", p.rec.ID); err != nil {
			return nil, fmt.Errorf("seal consent proof: %w", err)
		}
	}
	p.details, p.detailsKey, err = r.sealDetails(ctx, req.SubjectID, target, map[string]any{
		"record": p.rec.ID, "kind": req.Kind, "purpose": req.Purpose, "notice": req.Notice,
		"notice_version": req.NoticeVersion, "channel": req.Channel, "action": req.Action, "source": req.Source,
	})
	if err != nil {
		return nil, fmt.Errorf("seal audit details: %w", err)
	}
	return p, nil
}

// write applies the rules that need the database and appends the record,
// its audit event and the state update in tx; it fills in p.rec.
func (r *Register) write(ctx context.Context, tx *sqlstore.Tx, a Actor, p *prepared) error {
	req, rec := &p.req, &p.rec
	if _, err := lockSubject(ctx, tx, req.SubjectID); err != nil {
		return err
	}
	var sum []byte
	if req.Kind == AcceptNotice {
		v, err := citedVersion(ctx, tx, req.Notice, req.NoticeVersion, req.NoticeSHA256, true)
		if err != nil {
			return err
		}
		rec.Notice, rec.NoticeVersion, sum = req.Notice, v.version, v.sum
	} else {
		pr, err := loadRule(ctx, tx, req.Purpose)
		if err != nil {
			return err
		}
		if err := checkKind(ctx, tx, pr, req); err != nil {
			return err
		}
		if req.Notice != "" && req.Notice != pr.notice {
			return errcode.Field("notice", "consent to %s is given on the %s, not the %s", pr.slug, pr.notice, req.Notice)
		}
		if req.Kind == Grant || req.NoticeVersion != 0 {
			v, err := citedVersion(ctx, tx, pr.notice, req.NoticeVersion, req.NoticeSHA256, req.Kind == Grant)
			if err != nil {
				return err
			}
			rec.Notice, rec.NoticeVersion, sum = pr.notice, v.version, v.sum
		}
	}
	rec.RecordedAt = r.now()
	seq, err := r.audit.Append(ctx, tx, audit.Event{
		Actor: a.Name, Action: "consent." + string(req.Kind), Purpose: a.Purpose, Target: r.subjectTarget(req.SubjectID),
		Result: "ok", KeyID: p.detailsKey, Details: p.details,
	})
	if err != nil {
		return fmt.Errorf("audit consent.%s: %w", req.Kind, err)
	}
	rec.AuditSeq = seq
	if err := tx.QueryRowContext(ctx, `INSERT INTO consent_records (id, subject_id, kind, purpose, notice,
		notice_version, notice_sha256, channel, action, source, recorded_at, recorded_by, proof, proof_key_id, audit_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING seq`,
		rec.ID, rec.SubjectID, string(rec.Kind), nullString(rec.Purpose), nullString(rec.Notice),
		nullInt(rec.NoticeVersion), sum, string(rec.Channel), string(rec.Action), rec.Source,
		sqlstore.Micros(rec.RecordedAt), rec.RecordedBy, rec.Proof, rec.ProofKeyID, rec.AuditSeq).Scan(&rec.Seq); err != nil {
		return fmt.Errorf("insert consent record: %w", err)
	}
	rec.NoticeSHA256 = hex.EncodeToString(sum)
	if rec.Purpose == "" {
		return nil
	}
	// The cache follows the record in the same transaction; the subject
	// row lock above makes seq order the commit order for this subject, so
	// the latest record by seq is the one written last.
	_, err = tx.ExecContext(ctx, `INSERT INTO consent_state (subject_id, purpose, kind, record_seq, record_id, since)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (subject_id, purpose) DO UPDATE SET kind = excluded.kind, record_seq = excluded.record_seq,
		record_id = excluded.record_id, since = excluded.since, decision = ''`,
		rec.SubjectID, rec.Purpose, string(rec.Kind), rec.Seq, rec.ID, sqlstore.Micros(rec.RecordedAt))
	if err != nil {
		return fmt.Errorf("update consent state: %w", err)
	}
	return nil
}

// rule is what Record and the checks need to know about a purpose.
type rule struct {
	slug   string
	basis  LegalBasis
	dm     bool
	art9   Art9Condition
	nec    bool
	notice string
}

func loadRule(ctx context.Context, q sqlstore.Querier, slug string) (rule, error) {
	p := rule{slug: slug}
	var basis, art9 string
	var dm, nec int
	err := q.QueryRowContext(ctx, `SELECT legal_basis, direct_marketing, art9_condition, necessary,
		COALESCE(notice, 'privacy-policy') FROM purposes WHERE slug = $1`, slug).Scan(&basis, &dm, &art9, &nec, &p.notice)
	if errors.Is(err, sql.ErrNoRows) {
		return rule{}, errcode.Field("purpose", "unknown purpose %q", slug)
	}
	if err != nil {
		return rule{}, fmt.Errorf("read purpose: %w", err)
	}
	p.basis, p.dm, p.art9, p.nec = LegalBasis(basis), dm == 1, Art9Condition(art9), nec == 1
	return p, nil
}

// checkKind applies the rules of Arts. 7, 9 and 21 to a grant, withdrawal
// or objection for purpose p.
func checkKind(ctx context.Context, tx *sqlstore.Tx, p rule, req *Request) error {
	switch req.Kind {
	case Grant, Withdraw:
		if p.basis != Consent {
			msg := fmt.Sprintf("%s is processed on the basis %s (%s), not consent: it cannot be granted or withdrawn", p.slug, p.basis, p.basis.Article())
			switch {
			case p.nec:
				msg += "; it is necessary for the service, and stopping it means closing the account"
			case p.basis.Objectable():
				msg += "; object to it instead"
			}
			return errcode.Field("purpose", "%s", msg)
		}
		if req.Kind == Grant && p.art9 == ExplicitConsent && !req.Action.Explicit() {
			return errcode.Field("action", "%s needs explicit consent (Art. 9(2)(a)): a signed or typed statement or a two-step confirmation", p.slug)
		}
		if req.Kind == Grant && p.dm && req.Channel == Import {
			kind, err := latestKind(ctx, tx, req.SubjectID, p.slug)
			if err != nil {
				return err
			}
			if kind == Object {
				return errcode.E(errcode.Conflict, "the person objected to the direct marketing %s; only their own new consent lifts the objection, not an import", p.slug)
			}
		}
	case Object:
		if !p.basis.Objectable() && !p.dm {
			if p.basis == Consent {
				return errcode.Field("kind", "%s is based on consent: withdraw the consent instead of objecting", p.slug)
			}
			return errcode.Field("kind", "there is no right to object to %s, processed on the basis %s (%s)", p.slug, p.basis, p.basis.Article())
		}
	}
	return nil
}

// cited is the notice version a record names.
type cited struct {
	version int
	sum     []byte
}

// citedVersion checks that version of notice exists and is published (and
// is the current one when current is set), and that hash, when given, is
// its body's.
func citedVersion(ctx context.Context, q sqlstore.Querier, notice string, version int, hash string, current bool) (cited, error) {
	if version == 0 {
		return cited{}, errcode.Field("notice_version", "name the version of the %s the person was shown", notice)
	}
	var sum []byte
	var published sql.NullInt64
	err := q.QueryRowContext(ctx, "SELECT body_sha256, published_at FROM notice_versions WHERE notice = $1 AND version = $2",
		notice, version).Scan(&sum, &published)
	if errors.Is(err, sql.ErrNoRows) {
		return cited{}, errcode.Field("notice_version", "there is no version %d of the %s", version, notice)
	}
	if err != nil {
		return cited{}, fmt.Errorf("read notice version: %w", err)
	}
	if !published.Valid {
		return cited{}, errcode.Field("notice_version", "version %d of the %s is not published", version, notice)
	}
	if current {
		cur, err := currentVersion(ctx, q, notice)
		if err != nil {
			return cited{}, err
		}
		if cur != version {
			return cited{}, errcode.Field("notice_version", "version %d of the %s is not the current one (%d): show the current text and ask again", version, notice, cur)
		}
	}
	if hash != "" && hash != hex.EncodeToString(sum) {
		return cited{}, errcode.Field("notice_sha256", "the text hash does not match version %d of the %s", version, notice)
	}
	return cited{version: version, sum: sum}, nil
}

// lockSubject reads whether a subject is restricted, locking its row on
// PostgreSQL until the end of tx so that one subject's consent writes take
// turns (SQLite's single writer already serialises them). FOR NO KEY
// UPDATE still lets other transactions insert rows that reference the
// subject.
func lockSubject(ctx context.Context, tx *sqlstore.Tx, subjectID string) (bool, error) {
	q := "SELECT restricted FROM subjects WHERE id = $1"
	if tx.Engine() == sqlstore.Postgres {
		q += " FOR NO KEY UPDATE"
	}
	var restricted int
	err := tx.QueryRowContext(ctx, q, subjectID).Scan(&restricted)
	if errors.Is(err, sql.ErrNoRows) {
		return false, subjectNotFound()
	}
	if err != nil {
		return false, fmt.Errorf("read subject: %w", err)
	}
	return restricted == 1, nil
}

// subjectRestricted is lockSubject for readers.
func subjectRestricted(ctx context.Context, q sqlstore.Querier, subjectID string) (bool, error) {
	if !idPattern.MatchString(subjectID) {
		return false, subjectNotFound()
	}
	var restricted int
	err := q.QueryRowContext(ctx, "SELECT restricted FROM subjects WHERE id = $1", subjectID).Scan(&restricted)
	if errors.Is(err, sql.ErrNoRows) {
		return false, subjectNotFound()
	}
	if err != nil {
		return false, fmt.Errorf("read subject: %w", err)
	}
	return restricted == 1, nil
}

// latestKind is the kind of the subject's latest record for purpose, ""
// when there is none.
func latestKind(ctx context.Context, q sqlstore.Querier, subjectID, purpose string) (Kind, error) {
	var kind string
	err := q.QueryRowContext(ctx, "SELECT kind FROM consent_state WHERE subject_id = $1 AND purpose = $2", subjectID, purpose).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read consent state: %w", err)
	}
	return Kind(kind), nil
}

// History returns every record of a subject, oldest first.
func (r *Register) History(ctx context.Context, subjectID string) ([]Record, error) {
	var out []Record
	err := r.db.ReadTx(ctx, func(q sqlstore.Querier) error {
		if _, err := subjectRestricted(ctx, q, subjectID); err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, selectRecords+" WHERE subject_id = $1 ORDER BY seq", subjectID)
		if err != nil {
			return fmt.Errorf("read consent records: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			rec, err := scanRecord(rows)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OpenProof reveals a record's proof. It fails once the subject is erased:
// their key, and with it the proof, is gone.
func (r *Register) OpenProof(ctx context.Context, rec Record) (Proof, error) {
	if len(rec.Proof) == 0 {
		return Proof{}, nil
	}
	b, err := r.sealer.Open(ctx, rec.SubjectID, rec.ProofKeyID, rec.Proof, "consent_proof", rec.ID)
	if err != nil {
		return Proof{}, err
	}
	var p Proof
	if err := json.Unmarshal(b, &p); err != nil {
		return Proof{}, fmt.Errorf("consent proof of %s: %w", rec.ID, err)
	}
	return p, nil
}

const selectRecords = `SELECT seq, id, subject_id, kind, COALESCE(purpose, ''), COALESCE(notice, ''),
	COALESCE(notice_version, 0), notice_sha256, channel, action, source, recorded_at, recorded_by, proof,
	proof_key_id, audit_seq FROM consent_records`

func scanRecord(s scanner) (Record, error) {
	var (
		rec                   Record
		kind, channel, action string
		sum                   []byte
		at                    int64
	)
	if err := s.Scan(&rec.Seq, &rec.ID, &rec.SubjectID, &kind, &rec.Purpose, &rec.Notice, &rec.NoticeVersion,
		&sum, &channel, &action, &rec.Source, &at, &rec.RecordedBy, &rec.Proof, &rec.ProofKeyID, &rec.AuditSeq); err != nil {
		return Record{}, fmt.Errorf("read consent record: %w", err)
	}
	rec.Kind, rec.Channel, rec.Action = Kind(kind), Channel(channel), Action(action)
	rec.NoticeSHA256 = hex.EncodeToString(sum)
	rec.RecordedAt = sqlstore.FromMicros(at)
	return rec, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}
