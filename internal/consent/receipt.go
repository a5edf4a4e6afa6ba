package consent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// ReceiptVersion is the consent receipt specification the claims follow:
// Kantara Initiative Consent Receipt Specification v1.1.0, the model
// ISO/IEC TS 27560 grew from.
const ReceiptVersion = "KI-CR-v1.1.0"

// ReceiptSigner signs claims as a compact JWS; *receipt.Signer satisfies
// it.
type ReceiptSigner interface {
	Sign(claims any) (string, error)
}

// Controller is one data controller named in receipts (piiControllers).
type Controller struct {
	Name     string `json:"piiController"`
	OnBehalf bool   `json:"onBehalf"`
	Contact  string `json:"contact,omitempty"`
	Address  string `json:"address,omitempty"`
	Email    string `json:"email,omitempty"`
	Phone    string `json:"phone,omitempty"`
	URL      string `json:"piiControllerUrl,omitempty"`
}

// ReceiptOptions configure Receipts.
type ReceiptOptions struct {
	Signer      ReceiptSigner
	Controllers []Controller
	// Jurisdiction is where the controller is established ("DE", "EU").
	Jurisdiction string
	// PublicURL is the base of the /policies pages, for policyUrl.
	PublicURL string
}

// Receipts gives people signed receipts of their consent records (R-18:
// "optional signed receipt to the subject"): one for each grant,
// withdrawal or objection, with the fields of a Kantara consent receipt
// and the register's own proof (record id, notice version and text hash,
// control used).
type Receipts struct {
	reg  *Register
	opts ReceiptOptions
}

// NewReceipts returns Receipts over reg.
func NewReceipts(reg *Register, o ReceiptOptions) (*Receipts, error) {
	if reg == nil || o.Signer == nil {
		return nil, errors.New("consent: receipts need the register and a signer")
	}
	if len(o.Controllers) == 0 || strings.TrimSpace(o.Controllers[0].Name) == "" {
		return nil, errors.New("consent: receipts need the controller's name")
	}
	if o.Jurisdiction == "" {
		o.Jurisdiction = "EU"
	}
	if _, err := url.Parse(o.PublicURL); err != nil || o.PublicURL == "" {
		return nil, fmt.Errorf("consent: receipts need the public URL of the policies")
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	return &Receipts{reg: reg, opts: o}, nil
}

// ReceiptClaims are the signed content of a consent receipt. The field
// names and meanings are Kantara's; iss, iat and jti are JWT's; the gdprd
// member carries the register's proof.
type ReceiptClaims struct {
	Version          string       `json:"version"`
	Jurisdiction     string       `json:"jurisdiction"`
	ConsentTimestamp int64        `json:"consentTimestamp"`
	CollectionMethod string       `json:"collectionMethod"`
	ConsentReceiptID string       `json:"consentReceiptID"`
	Language         string       `json:"language"`
	PIIPrincipalID   string       `json:"piiPrincipalId"`
	PIIControllers   []Controller `json:"piiControllers"`
	PolicyURL        string       `json:"policyUrl"`
	Services         []Service    `json:"services"`
	Sensitive        bool         `json:"sensitive"`
	SPICat           []string     `json:"spiCat"`
	Issuer           string       `json:"iss"`
	IssuedAt         int64        `json:"iat"`
	JTI              string       `json:"jti"`
	Proof            ReceiptProof `json:"gdprd"`
}

// Service groups purposes, as Kantara does.
type Service struct {
	Service  string           `json:"service"`
	Purposes []ReceiptPurpose `json:"purposes"`
}

// ReceiptPurpose is one purpose in a receipt.
type ReceiptPurpose struct {
	Purpose              string   `json:"purpose"`
	PurposeCategory      []string `json:"purposeCategory"`
	ConsentType          string   `json:"consentType"`
	PIICategory          []string `json:"piiCategory"`
	PrimaryPurpose       bool     `json:"primaryPurpose"`
	Termination          string   `json:"termination"`
	ThirdPartyDisclosure bool     `json:"thirdPartyDisclosure"`
	ThirdPartyName       string   `json:"thirdPartyName,omitempty"`
}

// ReceiptProof ties a receipt to the register.
type ReceiptProof struct {
	RecordID      string     `json:"record_id"`
	Kind          Kind       `json:"kind"`
	State         string     `json:"state"` // "granted", "withdrawn" or "objected"
	Purpose       string     `json:"purpose"`
	LegalBasis    LegalBasis `json:"legal_basis"`
	Notice        string     `json:"notice,omitempty"`
	NoticeVersion int        `json:"notice_version,omitempty"`
	NoticeSHA256  string     `json:"notice_sha256,omitempty"`
	Channel       Channel    `json:"channel"`
	Action        Action     `json:"action"`
	Source        string     `json:"source,omitempty"`
	RecordedBy    string     `json:"recorded_by"`
	RecordedAt    time.Time  `json:"recorded_at"`
}

// Receipt is a signed consent receipt.
type Receipt struct {
	JWS    string        `json:"receipt"`
	Claims ReceiptClaims `json:"claims"`
}

// Latest returns the receipt of the subject's latest grant, withdrawal or
// objection for purpose. NotFound when there is none.
func (rs *Receipts) Latest(ctx context.Context, subjectID, purpose string) (Receipt, error) {
	if !idPattern.MatchString(subjectID) {
		return Receipt{}, subjectNotFound()
	}
	if !slugPattern.MatchString(purpose) {
		return Receipt{}, purposeNotFound(purpose)
	}
	rec, err := rs.load(ctx, selectRecords+` WHERE subject_id = $1 AND purpose = $2 ORDER BY seq DESC LIMIT 1`, subjectID, purpose)
	if errors.Is(err, sql.ErrNoRows) {
		return Receipt{}, errcode.E(errcode.NotFound, "this person has no consent record for %s", purpose)
	}
	if err != nil {
		return Receipt{}, err
	}
	return rs.issue(ctx, rec)
}

// ForRecord returns the receipt of one grant, withdrawal or objection
// record of the subject.
func (rs *Receipts) ForRecord(ctx context.Context, subjectID, recordID string) (Receipt, error) {
	if !idPattern.MatchString(subjectID) || !idPattern.MatchString(recordID) {
		return Receipt{}, errcode.E(errcode.NotFound, "no such consent record")
	}
	rec, err := rs.load(ctx, selectRecords+` WHERE subject_id = $1 AND id = $2 AND purpose IS NOT NULL`, subjectID, recordID)
	if errors.Is(err, sql.ErrNoRows) {
		return Receipt{}, errcode.E(errcode.NotFound, "no such consent record")
	}
	if err != nil {
		return Receipt{}, err
	}
	return rs.issue(ctx, rec)
}

func (rs *Receipts) load(ctx context.Context, query string, args ...any) (Record, error) {
	var rec Record
	err := rs.reg.db.ReadTx(ctx, func(q sqlstore.Querier) error {
		if _, err := subjectRestricted(ctx, q, args[0].(string)); err != nil {
			return err
		}
		var err error
		rec, err = scanRecord(q.QueryRowContext(ctx, query, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return sql.ErrNoRows
		}
		if err != nil || rec.NoticeVersion != 0 {
			return err
		}
		// A withdrawal or objection need not cite a notice; its receipt
		// points at the version the consent it ends was given on.
		var v sql.NullInt64
		err = q.QueryRowContext(ctx, `SELECT notice_version FROM consent_records WHERE subject_id = $1 AND purpose = $2
			AND notice_version IS NOT NULL AND seq < $3 ORDER BY seq DESC LIMIT 1`, rec.SubjectID, rec.Purpose, rec.Seq).Scan(&v)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		rec.NoticeVersion = int(v.Int64)
		return nil
	})
	return rec, err
}

// issue builds and signs the receipt of rec.
func (rs *Receipts) issue(ctx context.Context, rec Record) (Receipt, error) {
	p, err := rs.reg.Purpose(ctx, rec.Purpose)
	if err != nil {
		return Receipt{}, err
	}
	notice := rec.Notice
	if notice == "" {
		notice = p.Notice
	}
	policy := rs.opts.PublicURL + "/policies/" + notice
	if rec.NoticeVersion > 0 {
		policy += "/v/" + strconv.Itoa(rec.NoticeVersion)
	}
	state := map[Kind]string{Grant: "granted", Withdraw: "withdrawn", Object: "objected"}[rec.Kind]
	name := p.Names["en"]
	if name == "" {
		name = p.Slug
	}
	c := ReceiptClaims{
		Version:          ReceiptVersion,
		Jurisdiction:     rs.opts.Jurisdiction,
		ConsentTimestamp: rec.RecordedAt.Unix(),
		CollectionMethod: string(rec.Channel) + ": " + string(rec.Action),
		ConsentReceiptID: rec.ID,
		Language:         "en",
		PIIPrincipalID:   rec.SubjectID,
		PIIControllers:   rs.opts.Controllers,
		PolicyURL:        policy,
		Services: []Service{{Service: rs.opts.Controllers[0].Name, Purposes: []ReceiptPurpose{{
			Purpose:         name + ": " + p.Descriptions["en"],
			PurposeCategory: purposeCategories(p),
			ConsentType:     consentType(p, rec),
			PIICategory:     append([]string{}, p.Categories...),
			PrimaryPurpose:  p.Necessary,
			Termination:     termination(p),
			// The register of recipients does not exist yet (issue 5,
			// until it does, no purpose declares a disclosure.
			ThirdPartyDisclosure: false,
		}}}},
		Sensitive: p.SpecialCategories,
		SPICat:    []string{},
		Issuer:    rs.opts.Controllers[0].Name,
		IssuedAt:  rs.reg.now().Unix(),
		JTI:       rec.ID,
		Proof: ReceiptProof{RecordID: rec.ID, Kind: rec.Kind, State: state, Purpose: p.Slug, LegalBasis: p.Basis,
			Notice: notice, NoticeVersion: rec.NoticeVersion, NoticeSHA256: rec.NoticeSHA256, Channel: rec.Channel,
			Action: rec.Action, Source: rec.Source, RecordedBy: rec.RecordedBy, RecordedAt: rec.RecordedAt},
	}
	if p.SpecialCategories {
		c.SPICat = append(c.SPICat, string(p.Art9Condition))
	}
	jws, err := rs.opts.Signer.Sign(c)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{JWS: jws, Claims: c}, nil
}

// purposeCategories maps a purpose onto Kantara's purpose categories
// where one fits, and otherwise names it.
func purposeCategories(p Purpose) []string {
	switch {
	case p.DirectMarketing:
		return []string{"Marketing"}
	case p.Necessary:
		return []string{"Core Function"}
	case p.Basis == LegalObligation:
		return []string{"Legally Required Data Retention"}
	}
	return []string{p.Slug}
}

// consentType is EXPLICIT for an express statement (a signed or typed
// statement, a two-step confirmation) and EXPRESSED for any other clear
// affirmative act; records that are not consent (objections) carry the
// legal basis instead.
func consentType(p Purpose, rec Record) string {
	switch {
	case p.Basis != Consent:
		return strings.ToUpper(string(p.Basis))
	case rec.Action.Explicit():
		return "EXPLICIT"
	}
	return "EXPRESSED"
}

// termination says how the consent ends and what happens to the data.
func termination(p Purpose) string {
	s := "Consent can be withdrawn at any time, as easily as it was given, in the privacy portal (GDPR Art. 7(3))."
	if p.Basis != Consent {
		s = "Processing on the basis " + string(p.Basis) + " (" + p.Basis.Article() + ")."
		if p.Basis.Objectable() || p.DirectMarketing {
			s += " You may object at any time (GDPR Art. 21)."
		}
	}
	if p.Retention != "" {
		s += " Data is kept for " + p.Retention + " (ISO 8601)."
	}
	return s
}
