package dsr

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
)

// Kind is the right a request exercises.
type Kind string

const (
	Access        Kind = "access"        // Art. 15
	Export        Kind = "export"        // Art. 20, portability
	Erasure       Kind = "erasure"       // Art. 17
	Rectification Kind = "rectification" // Art. 16
	Restriction   Kind = "restriction"   // Art. 18
	Objection     Kind = "objection"     // Art. 21
)

var kinds = []Kind{Access, Export, Erasure, Rectification, Restriction, Objection}

func (k Kind) valid() bool { return slices.Contains(kinds, k) }

// Channel is how a request reached the organisation. Art. 12 does not
// prescribe a form: a request by letter or phone counts from the moment it
// reaches an official channel, which is why staff channels may back-date.
type Channel string

const (
	Portal      Channel = "portal"       // a signed-in person in the privacy portal
	API         Channel = "api"          // the host application, on the person's behalf
	Form        Channel = "form"         // the public form, for people without an account
	StaffEmail  Channel = "staff-email"  // entered by staff from an e-mail
	StaffLetter Channel = "staff-letter" // entered by staff from a letter
	StaffPhone  Channel = "staff-phone"  // entered by staff from a phone call
)

var channels = []Channel{Portal, API, Form, StaffEmail, StaffLetter, StaffPhone}

func (c Channel) valid() bool { return slices.Contains(channels, c) }

func (c Channel) staff() bool { return c == StaffEmail || c == StaffLetter || c == StaffPhone }

// Details say what a request asks for, depending on its kind. Categories,
// All and Purposes name things in the operator's catalogue and are stored
// in the clear so the queue can show them; Fields and Message are the
// person's own words and values, personal data, and are stored sealed with
// the subject's key (so a request needs a known subject to carry them).
type Details struct {
	// All asks an erasure of everything: the whole account.
	All bool `json:"all,omitempty"`
	// Categories are the data categories an erasure covers, when not All.
	Categories []string `json:"categories,omitempty"`
	// Purposes are the purposes of processing an objection is about.
	Purposes []string `json:"purposes,omitempty"`
	// Fields are the corrections a rectification asks for: field name to
	// the value the person says is right. Sealed.
	Fields map[string]string `json:"fields,omitempty"`
	// Message is anything else the person wrote. Sealed.
	Message string `json:"message,omitempty"`
}

// scope is the part of d stored in the clear.
func (d Details) scope() Details {
	return Details{All: d.All, Categories: d.Categories, Purposes: d.Purposes}
}

// personal is the part of d stored sealed, nil when there is none.
func (d Details) personal() *Details {
	if len(d.Fields) == 0 && d.Message == "" {
		return nil
	}
	return &Details{Fields: d.Fields, Message: d.Message}
}

// with returns d with the sealed part p filled in.
func (d Details) with(p *Details) Details {
	if p != nil {
		d.Fields, d.Message = p.Fields, p.Message
	}
	return d
}

// union returns the scope of a merged request: what either asked for.
func (d Details) union(e Details) Details {
	out := Details{All: d.All || e.All, Purposes: sortedUnion(d.Purposes, e.Purposes)}
	if !out.All {
		out.Categories = sortedUnion(d.Categories, e.Categories)
	}
	return out
}

func sortedUnion(a, b []string) []string {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

const (
	maxFields       = 32
	maxFieldValue   = 1024
	maxMessage      = 4000
	maxReasonText   = 4000
	maxIdempotency  = 255
	maxScopeEntries = 64
)

var (
	slugPattern  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	fieldPattern = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,63}$`)
	// An Idempotency-Key is an opaque string (draft-ietf-httpapi-
	// idempotency-key-header); printable ASCII keeps it safe to store and
	// to log.
	idempotencyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
)

// normalise checks d against what kind k may ask and returns it with
// sorted, de-duplicated lists. It needs no database; whether the
// categories and purposes exist is checked against the catalogue later.
func (d Details) normalise(k Kind) (Details, error) {
	d.Categories = sortedUnion(d.Categories, nil)
	d.Purposes = sortedUnion(d.Purposes, nil)
	d.Fields = maps.Clone(d.Fields)
	if len(d.Fields) == 0 {
		d.Fields = nil
	}
	if len(d.Message) > maxMessage || !validText(d.Message) {
		return Details{}, errcode.Field("details.message", "a message is at most %d bytes of text", maxMessage)
	}
	if d.All && k != Erasure {
		return Details{}, errcode.Field("details.all", "only an erasure asks for everything to go")
	}
	if len(d.Categories) > 0 && k != Erasure {
		return Details{}, errcode.Field("details.categories", "only an erasure names data categories")
	}
	if len(d.Purposes) > 0 && k != Objection {
		return Details{}, errcode.Field("details.purposes", "only an objection names purposes")
	}
	if len(d.Fields) > 0 && k != Rectification {
		return Details{}, errcode.Field("details.fields", "only a rectification names fields to correct")
	}
	switch k {
	case Erasure:
		if d.All == (len(d.Categories) > 0) {
			return Details{}, errcode.Field("details.categories", `an erasure names the data categories to erase, or "all" for the whole account`)
		}
	case Objection:
		if len(d.Purposes) == 0 {
			return Details{}, errcode.Field("details.purposes", "an objection names the purposes it objects to")
		}
	case Rectification:
		if len(d.Fields) == 0 {
			return Details{}, errcode.Field("details.fields", "a rectification names the fields to correct and their right values")
		}
	}
	if len(d.Categories) > maxScopeEntries || len(d.Purposes) > maxScopeEntries {
		return Details{}, errcode.Field("details", "at most %d categories or purposes", maxScopeEntries)
	}
	for _, c := range d.Categories {
		if !slugPattern.MatchString(c) {
			return Details{}, errcode.Field("details.categories", "unknown data category %q", truncate(c, 64))
		}
	}
	for _, p := range d.Purposes {
		if !slugPattern.MatchString(p) {
			return Details{}, errcode.Field("details.purposes", "unknown purpose %q", truncate(p, 64))
		}
	}
	if len(d.Fields) > maxFields {
		return Details{}, errcode.Field("details.fields", "at most %d fields per rectification", maxFields)
	}
	for name, v := range d.Fields {
		if !fieldPattern.MatchString(name) {
			return Details{}, errcode.Field("details.fields", "a field name is lower-case letters, digits, dots and underscores")
		}
		// The value is personal data: the message never repeats it.
		if len(v) > maxFieldValue || !validText(v) {
			return Details{}, errcode.Field("details.fields", "the value of %s is not text of at most %d bytes", name, maxFieldValue)
		}
	}
	return d, nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// NewRequest is the input of Submit.
type NewRequest struct {
	// SubjectID is the person, when known. It is required on the portal
	// and the API, and empty on the public form until the person's
	// identity is established (see Link).
	SubjectID string
	Kind      Kind
	Channel   Channel
	Details   Details
	// ReceivedAt is when the request reached an official channel, which
	// starts the Art. 12(3) period. Zero means now. Only the API and staff
	// channels may give an earlier time (a letter opened today that
	// arrived on Monday counts from Monday); it can never be in the future.
	ReceivedAt time.Time
	// IdempotencyKey, when not empty, makes Submit safe to retry: the same
	// key from the same actor returns what the first call returned.
	IdempotencyKey string
}

// Request is a data-subject request as stored. Personal parts of Details
// (Fields, Message) are not included; OpenDetails returns them.
type Request struct {
	ID        string  `json:"id"`
	SubjectID string  `json:"subject_id,omitempty"`
	Kind      Kind    `json:"kind"`
	Channel   Channel `json:"channel"`
	Details   Details `json:"details"`
	// SealedDetails reports that the request carries personal details,
	// readable through OpenDetails while the subject exists.
	SealedDetails bool      `json:"sealed_details,omitempty"`
	State         State     `json:"state"`
	ReceivedAt    time.Time `json:"received_at"`
	// LegalDueAt is the last instant of legal_due_at's day in the
	// operator's zone (Regulation 1182/71 with roll-forward).
	LegalDueAt time.Time `json:"legal_due_at"`
	// TargetDueAt is the stricter internal target the queue is sorted by.
	TargetDueAt     time.Time  `json:"target_due_at"`
	Extended        bool       `json:"extended"`
	ExtensionReason ReasonCode `json:"extension_reason,omitempty"`
	AssignedTo      string     `json:"assigned_to,omitempty"`
	// IdentityWait is the time spent in awaiting_identity so far,
	// including a wait still going on. It is shown, never subtracted:
	// the deadlines stay counted from ReceivedAt.
	IdentityWait time.Duration `json:"-"`
	// AwaitingIdentitySince is when the current wait began (zero when not
	// waiting).
	AwaitingIdentitySince time.Time `json:"awaiting_identity_since,omitzero"`
	// Version counts the changes: it is the version of the request's
	// latest event.
	Version   int64     `json:"version"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`

	identityWait time.Duration // closed intervals only, as stored
}

// Submitted is what Submit returns: the request, and how the submission
// was taken in.
type Submitted struct {
	Request
	// Merged reports that the submission duplicated an open request of
	// the same person and kind, and was merged into it.
	Merged bool `json:"merged,omitempty"`
	// Replayed reports that the idempotency key had been seen: nothing
	// was written, and Request is the current state of the request the
	// first call returned.
	Replayed bool `json:"-"`
}

// scopeJSON encodes the clear part of details for storage.
func scopeJSON(d Details) (string, error) {
	b, err := json.Marshal(d.scope())
	return string(b), err
}
