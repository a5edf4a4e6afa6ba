package dsr

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

// ReceiptSigner signs a receipt's claims as a compact JWS;
// *receipt.Signer satisfies it.
type ReceiptSigner interface {
	Sign(claims any) (string, error)
}

// Notifier tells the recipients of a subject's data about an erasure
// (Art. 19). NotifyErasureTx queues the notice inside the transaction that
// records the erasure, so that the record and the notice commit together,
// and returns the notice's message id (whose delivery status the caller
// can follow) and the recipients it goes to, which the receipt lists.
// *webhook.Service satisfies it (signed Standard Webhooks deliveries with
// retries). Without a Notifier the caller passes the recipients it told
// itself in ErasureInput.Recipients.
type Notifier interface {
	NotifyErasureTx(ctx context.Context, tx *sqlstore.Tx, subjectID, requestID string, categories []string, account bool) (msgID string, recipients []string, err error)
}

// ErasureOptions configure an Eraser.
type ErasureOptions struct {
	DB       *sqlstore.DB
	Audit    *audit.Log
	Vault    *vault.Vault
	Targets  Targets
	Signer   ReceiptSigner
	Policy   ErasurePolicy
	Notifier Notifier // optional, see Notifier
	// Requests, when set, lets a staff decision on the last category
	// awaiting approval complete the request the erasure answers.
	Requests *Service
	// Issuer names the controller in receipts ("iss").
	Issuer string
	Clock  func() time.Time
}

// Eraser carries out erasures (Art. 17): it plans which categories go now,
// which are kept under a legal hold (and until when) and which wait for a
// staff approval; erases through the vault by crypto-shredding; schedules
// the held categories for the end of their duty; and gives the person a
// signed receipt. It holds no state beyond its options.
type Eraser struct {
	db       *sqlstore.DB
	audit    *audit.Log
	vault    *vault.Vault
	targets  Targets
	signer   ReceiptSigner
	policy   ErasurePolicy
	notifier Notifier
	requests *Service
	issuer   string
	clock    func() time.Time
}

// NewEraser returns an Eraser over o. A policy naming a category the vault
// does not know is refused, so a typo cannot silently hold nothing.
func NewEraser(ctx context.Context, o ErasureOptions) (*Eraser, error) {
	if o.DB == nil || o.Audit == nil || o.Vault == nil || o.Targets == nil || o.Signer == nil {
		return nil, errors.New("dsr: DB, Audit, Vault, Targets and Signer are required")
	}
	if err := o.Policy.validate(); err != nil {
		return nil, err
	}
	known, err := knownCategories(ctx, o.Vault)
	if err != nil {
		return nil, err
	}
	for _, h := range o.Policy.Holds {
		if !known[h.Category] {
			return nil, fmt.Errorf("dsr: the hold names the unknown category %q", h.Category)
		}
	}
	for _, c := range o.Policy.ApprovalRequired {
		if !known[c] {
			return nil, fmt.Errorf("dsr: approval is required for the unknown category %q", c)
		}
	}
	e := &Eraser{db: o.DB, audit: o.Audit, vault: o.Vault, targets: o.Targets, signer: o.Signer,
		policy: o.Policy, notifier: o.Notifier, requests: o.Requests, issuer: o.Issuer, clock: o.Clock}
	if e.clock == nil {
		e.clock = time.Now
	}
	if e.issuer == "" {
		e.issuer = "gdprd"
	}
	return e, nil
}

func knownCategories(ctx context.Context, v *vault.Vault) (map[string]bool, error) {
	cats, err := v.Categories(ctx)
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(cats))
	for _, c := range cats {
		known[c.Name] = true
	}
	return known, nil
}

func (e *Eraser) now() time.Time { return micros(e.clock()) }

// Outcome is what a plan does with one category.
type Outcome string

const (
	Erase         Outcome = "erase"             // erased now
	Keep          Outcome = "keep"              // kept under a legal hold, deletion scheduled
	AwaitApproval Outcome = "awaiting_approval" // waits for a staff approval
	Absent        Outcome = "absent"            // named, but the person has no such data
)

// PlanItem is the fate of one category.
type PlanItem struct {
	Category  string     `json:"category"`
	Outcome   Outcome    `json:"outcome"`
	Reason    string     `json:"reason,omitempty"`
	Reference string     `json:"reference,omitempty"`
	Exception ReasonCode `json:"exception,omitempty"`
	Until     *time.Time `json:"until,omitempty"`
}

// Plan says what an erasure will do, before it does anything.
type Plan struct {
	SubjectID    string     `json:"subject_id"`
	WholeAccount bool       `json:"whole_account"`
	Items        []PlanItem `json:"items"`
}

// complete reports whether nothing is kept or waiting, so that a whole
// account can be shredded at once.
func (p Plan) complete() bool {
	return !slices.ContainsFunc(p.Items, func(i PlanItem) bool { return i.Outcome == Keep || i.Outcome == AwaitApproval })
}

func (p Plan) with(o Outcome) []PlanItem {
	var out []PlanItem
	for _, i := range p.Items {
		if i.Outcome == o {
			out = append(out, i)
		}
	}
	return out
}

// ErasureInput is what to erase.
type ErasureInput struct {
	SubjectID string
	// RequestID links the erasure to the request it answers, if any.
	RequestID string
	// All erases the whole account; otherwise Categories are erased.
	All        bool
	Categories []string
	// Recipients are the recipients the caller told about the erasure,
	// listed in the receipt; ignored when the Eraser has a Notifier.
	Recipients []string
}

// Plan works out what erasing in would do, without changing anything. An
// unknown category, or none at all, is an Invalid error, audited as a
// refused erasure of that subject.
func (e *Eraser) Plan(ctx context.Context, a Actor, in ErasureInput) (Plan, error) {
	if err := checkActor(a); err != nil {
		return Plan{}, err
	}
	if !vault.ValidSubjectID(in.SubjectID) {
		return Plan{}, subjectNotFound()
	}
	target := e.targets.AuditTarget("subject", in.SubjectID)
	if err := e.checkInput(ctx, in); err != nil {
		return Plan{}, e.refused(ctx, a, "erasure.plan", target, err)
	}
	held, err := e.vault.Inventory(ctx, vault.Actor{Name: a.Name, Purpose: "dsr"}, in.SubjectID)
	if err != nil {
		return Plan{}, err
	}
	written := map[string]time.Time{}
	for _, h := range held {
		written[h.Category] = h.UpdatedAt
	}
	cats := slices.Clone(in.Categories)
	if in.All {
		cats = make([]string, 0, len(held))
		for _, h := range held {
			cats = append(cats, h.Category)
		}
	}
	slices.Sort(cats)
	cats = slices.Compact(cats)
	now := e.now()
	p := Plan{SubjectID: in.SubjectID, WholeAccount: in.All, Items: []PlanItem{}}
	for _, c := range cats {
		at, ok := written[c]
		if !ok {
			p.Items = append(p.Items, PlanItem{Category: c, Outcome: Absent})
			continue
		}
		if h, until, running := e.policy.holdUntil(c, at, now); running {
			until = micros(until)
			p.Items = append(p.Items, PlanItem{Category: c, Outcome: Keep, Reason: h.Reason,
				Reference: h.Reference, Exception: h.Exception, Until: &until})
			continue
		}
		if e.policy.needsApproval(c) {
			p.Items = append(p.Items, PlanItem{Category: c, Outcome: AwaitApproval,
				Reason: "security data is erased after a staff member has approved it"})
			continue
		}
		p.Items = append(p.Items, PlanItem{Category: c, Outcome: Erase})
	}
	return p, nil
}

// checkInput refuses an erasure that names nothing or an unknown category.
func (e *Eraser) checkInput(ctx context.Context, in ErasureInput) error {
	if in.All && len(in.Categories) > 0 {
		return errcode.Field("categories", "erase either the whole account or named categories, not both")
	}
	if !in.All && len(in.Categories) == 0 {
		return errcode.Field("categories", "name the categories to erase, or ask to erase the whole account")
	}
	known, err := knownCategories(ctx, e.vault)
	if err != nil {
		return err
	}
	for _, c := range in.Categories {
		if !known[c] {
			return errcode.Field("categories", "unknown category %q: nothing was erased", truncate(c, 64))
		}
	}
	if !validText(in.RequestID) || len(in.RequestID) > 64 {
		return errcode.Field("request_id", "not a request id")
	}
	return nil
}

// refused audits a refused erasure of a subject and returns the refusal.
func (e *Eraser) refused(ctx context.Context, a Actor, action, target string, refusal error) error {
	err := e.db.WriteWith(ctx, sqlstore.Relaxed, func(tx *sqlstore.Tx) error {
		_, err := e.audit.Append(ctx, tx, audit.Event{Actor: a.Name, Action: action, Purpose: a.Purpose,
			Target: target, Result: string(errcode.Of(refusal))})
		return err
	})
	if err != nil {
		return errors.Join(refusal, fmt.Errorf("audit refused %s: %w", action, err))
	}
	return refusal
}

// ErasureReceipt is the signed statement the person gets. It names
// categories, reasons and dates, never the data.
type ErasureReceipt struct {
	Issuer    string `json:"iss"`
	ID        string `json:"jti"`
	IssuedAt  int64  `json:"iat"`
	Subject   string `json:"sub"`
	Type      string `json:"typ"` // "erasure-receipt"
	RequestID string `json:"request_id,omitempty"`
	// Scope is "account" or "categories".
	Scope string `json:"scope"`
	// AccountErased says the whole account, identifiers included, is gone
	// (its key destroyed); false while held categories keep it open.
	AccountErased    bool           `json:"account_erased"`
	Erased           []string       `json:"erased"`
	Kept             []KeptCategory `json:"kept"`
	AwaitingApproval []string       `json:"awaiting_approval"`
	Absent           []string       `json:"absent"`
	// Recipients are the recipients told about the erasure (Art. 19).
	Recipients []string `json:"notified_recipients"`
	// Verification is the read-back of every erased category after the
	// erasure: each must be "not-found".
	Verification []Check `json:"verification"`
	Verified     bool    `json:"verified"`
}

// KeptCategory is a category kept under a hold.
type KeptCategory struct {
	Category  string     `json:"category"`
	Reason    string     `json:"reason"`
	Reference string     `json:"reference"`
	Exception ReasonCode `json:"exception"`
	Until     time.Time  `json:"until"`
}

// Check is the result of reading one erased category back.
type Check struct {
	Category string `json:"category"`
	Result   string `json:"result"` // "not-found", "still-readable", or "error"
}

// ErasureResult is an executed erasure.
type ErasureResult struct {
	ID      string         `json:"id"`
	Plan    Plan           `json:"plan"`
	Receipt string         `json:"receipt"` // compact JWS of Claims
	Claims  ErasureReceipt `json:"claims"`
	// Notice is the webhook-id of the message that told the recipients,
	// empty when none was sent.
	Notice string `json:"notice,omitempty"`
}

// Execute carries out an erasure: it plans it, erases what may go now
// through the vault (the whole account with its key when nothing is held or
// waiting, otherwise each category's key), reads each erased category back
// to verify it is gone, records the held categories for deletion when
// their duty ends and the ones awaiting approval, and returns the signed
// receipt, which is stored and can be fetched again by its id.
//
// The vault's erasures commit one by one before the receipt is written: a
// failure in between leaves data erased (and audited by the vault) without
// a receipt, never a receipt claiming more than was done.
func (e *Eraser) Execute(ctx context.Context, a Actor, in ErasureInput) (ErasureResult, error) {
	p, err := e.Plan(ctx, a, in)
	if err != nil {
		return ErasureResult{}, err
	}
	va := vault.Actor{Name: a.Name, Purpose: "dsr"}
	now := e.now()
	claims := ErasureReceipt{Issuer: e.issuer, ID: ids.New("er_"), IssuedAt: now.Unix(), Subject: in.SubjectID,
		Type: "erasure-receipt", RequestID: in.RequestID, Scope: "categories",
		Erased: []string{}, Kept: []KeptCategory{}, AwaitingApproval: []string{}, Absent: []string{}, Verification: []Check{}}
	if p.WholeAccount {
		claims.Scope = "account"
	}
	for _, i := range p.Items {
		switch i.Outcome {
		case Keep:
			claims.Kept = append(claims.Kept, KeptCategory{Category: i.Category, Reason: i.Reason,
				Reference: i.Reference, Exception: i.Exception, Until: *i.Until})
		case AwaitApproval:
			claims.AwaitingApproval = append(claims.AwaitingApproval, i.Category)
		case Absent:
			claims.Absent = append(claims.Absent, i.Category)
		}
	}
	erase := p.with(Erase)
	if p.WholeAccount && p.complete() {
		if _, err := e.vault.Erase(ctx, va, in.SubjectID); err != nil {
			return ErasureResult{}, fmt.Errorf("erase account: %w", err)
		}
		claims.AccountErased = true
	} else {
		for _, i := range erase {
			if _, err := e.vault.EraseCategory(ctx, va, in.SubjectID, i.Category); err != nil && errcode.Of(err) != errcode.NotFound {
				return ErasureResult{}, fmt.Errorf("erase %s: %w", i.Category, err)
			}
		}
	}
	for _, i := range erase {
		claims.Erased = append(claims.Erased, i.Category)
	}
	claims.Verification, claims.Verified = e.verify(ctx, a, in.SubjectID, claims.Erased, claims.AccountErased)
	target := e.targets.AuditTarget("subject", in.SubjectID)
	var details []byte
	var keyID string
	if !claims.AccountErased {
		b, _ := json.Marshal(map[string]any{"erasure": claims.ID, "erased": claims.Erased,
			"kept": len(claims.Kept), "awaiting_approval": claims.AwaitingApproval})
		if details, keyID, err = e.vault.Seal(ctx, in.SubjectID, b, "audit", target); err != nil {
			return ErasureResult{}, fmt.Errorf("seal audit details: %w", err)
		}
	}
	var jws, msgID string
	err = e.db.Write(ctx, func(tx *sqlstore.Tx) error {
		// The recipients are told in this transaction, and the receipt
		// that lists them is signed here: no receipt naming a recipient
		// whose notice rolled back. (The vault's erasures above have
		// committed already: the notice can only follow them.)
		claims.Recipients, msgID = slices.Clone(in.Recipients), ""
		if e.notifier != nil && len(claims.Erased) > 0 {
			var err error
			if msgID, claims.Recipients, err = e.notifier.NotifyErasureTx(ctx, tx, in.SubjectID, in.RequestID, claims.Erased, claims.AccountErased); err != nil {
				return fmt.Errorf("notify recipients: %w", err)
			}
		}
		if claims.Recipients == nil {
			claims.Recipients = []string{}
		}
		var err error
		if jws, err = e.signer.Sign(claims); err != nil {
			return err
		}
		var subject any = in.SubjectID
		if claims.AccountErased {
			subject = nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO erasures (id, subject_id, request_id, whole_account, receipt, webhook_msg_id, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, claims.ID, subject, in.RequestID, boolInt(p.WholeAccount), jws, msgID, a.Name, sqlstore.Micros(now)); err != nil {
			return fmt.Errorf("insert erasure: %w", err)
		}
		for _, i := range p.Items {
			var state string
			var due any
			switch i.Outcome {
			case Keep:
				state, due = "scheduled", sqlstore.Micros(*i.Until)
			case AwaitApproval:
				state = "awaiting_approval"
			default:
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO erasure_items (erasure_id, subject_id, category, state, reason, reference, exception, due_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, claims.ID, in.SubjectID, i.Category, state, i.Reason, i.Reference, string(i.Exception), due); err != nil {
				return fmt.Errorf("insert erasure item: %w", err)
			}
		}
		_, err = e.audit.Append(ctx, tx, audit.Event{Actor: a.Name, Action: "erasure.execute", Purpose: a.Purpose,
			Target: target, Result: "ok", KeyID: keyID, Details: details})
		return err
	})
	if err != nil {
		return ErasureResult{}, fmt.Errorf("record erasure: %w", err)
	}
	return ErasureResult{ID: claims.ID, Plan: p, Receipt: jws, Claims: claims, Notice: msgID}, nil
}

// verify reads each erased category back through the vault, and the whole
// subject after an account erasure: every read must answer not found. The
// reads run under the purpose storage, which restriction never blocks, so
// a restricted subject's leftovers would be seen too.
func (e *Eraser) verify(ctx context.Context, a Actor, subjectID string, erased []string, account bool) ([]Check, bool) {
	va := vault.Actor{Name: a.Name, Purpose: "storage"}
	result := func(err error) string {
		switch {
		case err == nil:
			return "still-readable"
		case errcode.Of(err) == errcode.NotFound:
			return "not-found"
		default:
			return "error"
		}
	}
	checks := []Check{}
	ok := true
	if account {
		_, err := e.vault.Get(ctx, va, subjectID)
		r := result(err)
		checks = append(checks, Check{Category: "*", Result: r})
		ok = r == "not-found"
	}
	for _, c := range erased {
		_, err := e.vault.GetData(ctx, va, subjectID, c)
		r := result(err)
		checks = append(checks, Check{Category: c, Result: r})
		ok = ok && r == "not-found"
	}
	return checks, ok
}

// ValidErasureID reports whether id has the shape of an erasure id.
func ValidErasureID(id string) bool { return ids.Valid("er_", id) }

// Receipt returns the signed receipt of an erasure.
func (e *Eraser) Receipt(ctx context.Context, id string) (string, error) {
	if !ValidErasureID(id) {
		return "", errcode.E(errcode.NotFound, "no such erasure")
	}
	var jws string
	err := e.db.Read().QueryRowContext(ctx, "SELECT receipt FROM erasures WHERE id = $1", id).Scan(&jws)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errcode.E(errcode.NotFound, "no such erasure")
	}
	if err != nil {
		return "", fmt.Errorf("read erasure receipt: %w", err)
	}
	return jws, nil
}

// Pending is a category of an erasure that is not erased yet.
type Pending struct {
	ErasureID string     `json:"erasure_id"`
	SubjectID string     `json:"subject_id"`
	Category  string     `json:"category"`
	State     string     `json:"state"` // "scheduled" or "awaiting_approval"
	Reason    string     `json:"reason,omitempty"`
	Reference string     `json:"reference,omitempty"`
	DueAt     *time.Time `json:"due_at,omitempty"`
}

// PendingFor lists a subject's held and waiting categories.
func (e *Eraser) PendingFor(ctx context.Context, subjectID string) ([]Pending, error) {
	rows, err := e.db.Read().QueryContext(ctx, `SELECT erasure_id, subject_id, category, state, reason, reference, due_at
		FROM erasure_items WHERE subject_id = $1 AND state IN ('scheduled', 'awaiting_approval') ORDER BY erasure_id, category`, subjectID)
	if err != nil {
		return nil, fmt.Errorf("read pending erasures: %w", err)
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		var p Pending
		var due sql.NullInt64
		if err := rows.Scan(&p.ErasureID, &p.SubjectID, &p.Category, &p.State, &p.Reason, &p.Reference, &due); err != nil {
			return nil, err
		}
		if due.Valid {
			t := sqlstore.FromMicros(due.Int64)
			p.DueAt = &t
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Notices returns the webhook-ids of the messages that told recipients
// about an erasure: the one sent when it was carried out, then one per
// category erased later (after an approval, or when a hold ended).
func (e *Eraser) Notices(ctx context.Context, id string) ([]string, error) {
	if !ValidErasureID(id) {
		return nil, errcode.E(errcode.NotFound, "no such erasure")
	}
	rows, err := e.db.Read().QueryContext(ctx, `SELECT webhook_msg_id, 0 FROM erasures WHERE id = $1
		UNION ALL SELECT webhook_msg_id, 1 FROM erasure_items WHERE erasure_id = $1 AND webhook_msg_id <> ''
		ORDER BY 2, 1`, id)
	if err != nil {
		return nil, fmt.Errorf("read erasure notices: %w", err)
	}
	defer rows.Close()
	found := false
	out := []string{}
	for rows.Next() {
		var msg string
		var tag int
		if err := rows.Scan(&msg, &tag); err != nil {
			return nil, err
		}
		found = found || tag == 0
		if msg != "" {
			out = append(out, msg)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, errcode.E(errcode.NotFound, "no such erasure")
	}
	return out, nil
}
