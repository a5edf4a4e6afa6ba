package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Consent is a record to append to the consent register (POST
// /subjects/{id}/consents). Set Kind ("grant", "withdraw", "object",
// "accept-notice"). A grant needs the affirmative Action the person took
// ("checkbox", "button"…) and the NoticeVersion they saw.
type Consent struct {
	Kind          string `json:"kind"`
	Purpose       string `json:"purpose,omitempty"`
	Notice        string `json:"notice,omitempty"`
	NoticeVersion int    `json:"notice_version,omitempty"`
	NoticeSHA256  string `json:"notice_sha256,omitempty"`
	Action        string `json:"action,omitempty"`
	Source        string `json:"source,omitempty"`
	// Proof is the person's own request, relayed by the host application:
	// sealed by the server with the subject's key, never answered back.
	Proof *ConsentProof `json:"proof,omitempty"`
}

// ConsentProof is who clicked: the person's IP address and user agent.
type ConsentProof struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// ConsentRecord is an entry of the register, without its sealed proof.
type ConsentRecord struct {
	Seq           int64     `json:"seq"`
	ID            string    `json:"id"`
	SubjectID     string    `json:"subject_id"`
	Kind          string    `json:"kind"`
	Purpose       string    `json:"purpose,omitempty"`
	Notice        string    `json:"notice,omitempty"`
	NoticeVersion int       `json:"notice_version,omitempty"`
	NoticeSHA256  string    `json:"notice_sha256,omitempty"`
	Channel       string    `json:"channel"`
	Action        string    `json:"action"`
	Source        string    `json:"source,omitempty"`
	RecordedAt    time.Time `json:"recorded_at"`
	RecordedBy    string    `json:"recorded_by"`
	AuditSeq      int64     `json:"audit_seq"`
}

// Decision is the consent check's answer: whether the subject's data may
// be processed for the purpose now, on which legal basis, since when, and
// why (a reason code such as "granted", "no-consent", "withdrawn" or
// "restricted").
type Decision struct {
	SubjectID string     `json:"subject_id,omitempty"`
	Purpose   string     `json:"purpose,omitempty"`
	Allowed   bool       `json:"allowed"`
	Basis     string     `json:"basis,omitempty"`
	Since     *time.Time `json:"since,omitempty"`
	Reason    string     `json:"reason"`
	RecordID  string     `json:"record_id,omitempty"`
}

// ConsentState is one purpose as it stands for a subject, with the record
// that proves the decision.
type ConsentState struct {
	Purpose         string         `json:"purpose"`
	Basis           string         `json:"basis"`
	Necessary       bool           `json:"necessary"`
	DirectMarketing bool           `json:"direct_marketing"`
	Allowed         bool           `json:"allowed"`
	Reason          string         `json:"reason"`
	Since           *time.Time     `json:"since,omitempty"`
	Record          *ConsentRecord `json:"record,omitempty"`
}

// Pair is one subject × purpose of CheckMany.
type Pair struct {
	SubjectID string `json:"subject_id"`
	Purpose   string `json:"purpose"`
}

// PendingNotice is a notice version the subject has not accepted since it
// changed materially.
type PendingNotice struct {
	Notice      string     `json:"notice"`
	Version     int        `json:"version"`
	SHA256      string     `json:"sha256"`
	EffectiveAt time.Time  `json:"effective_at"`
	Summary     string     `json:"summary"`
	PublishedAt *time.Time `json:"published_at"`
}

// RecordConsent appends a grant, withdrawal, objection or notice
// acceptance for subject id, recorded by this client's API key.
func (c *Client) RecordConsent(ctx context.Context, id string, in Consent) (*ConsentRecord, error) {
	p, err := subjectPath(id)
	if err != nil {
		return nil, err
	}
	var out ConsentRecord
	if err := c.do(ctx, http.MethodPost, p+"/consents", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ConsentStates returns every purpose's decision for subject id.
func (c *Client) ConsentStates(ctx context.Context, id string) ([]ConsentState, error) {
	p, err := subjectPath(id)
	if err != nil {
		return nil, err
	}
	var out struct {
		Consents []ConsentState `json:"consents"`
	}
	if err := c.do(ctx, http.MethodGet, p+"/consents", nil, &out); err != nil {
		return nil, err
	}
	return out.Consents, nil
}

// CheckConsent asks whether subject id's data may be processed for
// purpose now. An unknown purpose or subject is a *Error (not_found).
func (c *Client) CheckConsent(ctx context.Context, id, purpose string) (*Decision, error) {
	p, err := subjectPath(id)
	if err != nil {
		return nil, err
	}
	pp, err := segment("purpose", purpose)
	if err != nil {
		return nil, err
	}
	var out Decision
	if err := c.do(ctx, http.MethodGet, p+"/consents/"+pp, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CheckConsents decides many pairs at once (at most 1,000), in the order
// given. An unknown subject or purpose is an answer (reason
// unknown-subject or unknown-purpose), not an error.
func (c *Client) CheckConsents(ctx context.Context, pairs []Pair) ([]Decision, error) {
	var out struct {
		Results []Decision `json:"results"`
	}
	if err := c.do(ctx, http.MethodPost, "/consents/check", map[string]any{"checks": pairs}, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// SubjectsAllowed streams the id of every subject who may be processed for
// purpose now, calling fn for each as it arrives, in constant memory. An
// error from fn stops the stream and is returned. A stream the server cut
// short is an error, never a silently shorter list.
func (c *Client) SubjectsAllowed(ctx context.Context, purpose string, fn func(subjectID string) error) error {
	pp, err := segment("purpose", purpose)
	if err != nil {
		return err
	}
	resp, err := c.send(ctx, http.MethodGet, "/purposes/"+pp+"/subjects?allowed=true", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var line struct {
			SubjectID string `json:"subject_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.SubjectID == "" {
			return fmt.Errorf("gdprd client: subject stream: bad line")
		}
		if err := fn(line.SubjectID); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("gdprd client: subject stream cut short: %w", err)
	}
	return nil
}

// NoticesToAccept returns the notices subject id must accept again after
// a material change; none when the person is up to date.
func (c *Client) NoticesToAccept(ctx context.Context, id string) ([]PendingNotice, error) {
	p, err := subjectPath(id)
	if err != nil {
		return nil, err
	}
	var out struct {
		Notices []PendingNotice `json:"notices"`
	}
	if err := c.do(ctx, http.MethodGet, p+"/notices", nil, &out); err != nil {
		return nil, err
	}
	return out.Notices, nil
}
