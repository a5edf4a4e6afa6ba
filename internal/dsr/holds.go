package dsr

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// exception reports whether c is one of the Art. 17(3) exceptions (the
// ReasonCodes that only erasure requests use), the grounds a hold may
// rest on.
func exception(c ReasonCode) bool {
	info, ok := reasons[c]
	return ok && info.use == useRefuse && info.only == Erasure
}

// Period is a duration in calendar units, counted with time.AddDate: ten
// years of tax retention end on the same calendar day ten years later.
type Period struct {
	Years  int `json:"years,omitempty"`
	Months int `json:"months,omitempty"`
	Days   int `json:"days,omitempty"`
}

func (p Period) after(t time.Time) time.Time { return t.AddDate(p.Years, p.Months, p.Days) }

func (p Period) zero() bool { return p.Years == 0 && p.Months == 0 && p.Days == 0 }

// Hold is a legal duty to keep one category of data for a while after it
// was recorded, whatever the person asks: invoices kept for the tax
// authorities, data needed for legal claims. The person is told the reason,
// the legal reference and until when the data is kept.
type Hold struct {
	Category string `json:"category"`
	// Reason says in plain words why the data is kept.
	Reason string `json:"reason"`
	// Reference is the legal provision, e.g. "§147 AO (DE) / tax".
	Reference string `json:"reference"`
	// Exception is the Art. 17(3) ground: LegalObligation, LegalClaims…
	Exception ReasonCode `json:"exception"`
	// Duration counts from the time the category was last written.
	Duration Period `json:"duration"`
}

// ErasurePolicy is the operator's configuration of what an erasure may
// not erase at once.
type ErasurePolicy struct {
	Holds []Hold `json:"holds"`
	// ApprovalRequired lists the categories whose erasure waits for a
	// staff approval (security data such as e-mail and IP addresses used
	// against fraud and abuse).
	ApprovalRequired []string `json:"approval_required"`
}

// DefaultErasurePolicy holds nothing and sends the security category
// through approval, as the product promises. Operators add their holds
// (tax, telecom, legal claims) from configuration.
func DefaultErasurePolicy() ErasurePolicy {
	return ErasurePolicy{ApprovalRequired: []string{"security"}}
}

// validate checks what needs no database; category names are checked
// against the vault's catalogue when an Eraser is built.
func (p ErasurePolicy) validate() error {
	for i, h := range p.Holds {
		switch {
		case h.Category == "":
			return fmt.Errorf("dsr: hold %d names no category", i)
		case strings.TrimSpace(h.Reason) == "" || strings.TrimSpace(h.Reference) == "":
			return fmt.Errorf("dsr: the hold on %s needs a reason and a legal reference: the person is told both", h.Category)
		case !exception(h.Exception):
			return fmt.Errorf("dsr: the hold on %s needs an Art. 17(3) exception such as %s or %s, not %q", h.Category, LegalObligation, LegalClaims, h.Exception)
		case h.Duration.zero() || h.Duration.Years < 0 || h.Duration.Months < 0 || h.Duration.Days < 0:
			return fmt.Errorf("dsr: the hold on %s needs a positive duration", h.Category)
		}
	}
	return nil
}

// holdUntil returns the hold on cat that lasts longest for data last
// written at written, and whether one is still running at now.
func (p ErasurePolicy) holdUntil(cat string, written, now time.Time) (Hold, time.Time, bool) {
	var best Hold
	var until time.Time
	for _, h := range p.Holds {
		if h.Category != cat {
			continue
		}
		if u := h.Duration.after(written); u.After(until) {
			best, until = h, u
		}
	}
	return best, until, until.After(now)
}

func (p ErasurePolicy) needsApproval(cat string) bool {
	return slices.Contains(p.ApprovalRequired, cat)
}

// Role is a staff role, as the console knows them.
type Role string

const (
	RoleOwner   Role = "owner"
	RoleDPO     Role = "dpo"
	RoleSupport Role = "support"
	RoleAuditor Role = "auditor" // read-only
)

// mayApproveErasure reports whether a staff member in role r may approve
// or refuse an erasure waiting for approval. Auditors only read.
func (r Role) mayApproveErasure() bool {
	return r == RoleOwner || r == RoleDPO || r == RoleSupport
}
