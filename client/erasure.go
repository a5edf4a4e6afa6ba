package client

import (
	"context"
	"net/http"
	"time"
)

// ErasureSelection narrows what CarryOutErasure erases: the whole account
// (only when the request asked for it) or some of the categories the
// request named. The zero value erases what the request asked for.
type ErasureSelection struct {
	All        bool     `json:"all,omitempty"`
	Categories []string `json:"categories,omitempty"`
	// DryRun answers the plan only: nothing is erased.
	DryRun bool `json:"dry_run,omitempty"`
}

// ErasurePlanItem is the fate of one category: "erase", "keep" (under a
// legal hold, with Reason, Reference, Exception and Until),
// "awaiting_approval" or "absent".
type ErasurePlanItem struct {
	Category  string     `json:"category"`
	Outcome   string     `json:"outcome"`
	Reason    string     `json:"reason,omitempty"`
	Reference string     `json:"reference,omitempty"`
	Exception string     `json:"exception,omitempty"`
	Until     *time.Time `json:"until,omitempty"`
}

// Erasure is what carrying out an erasure request answers: the plan, the
// signed receipt (a JWS, verifiable with the server's
// /.well-known/jwks.json) and the request as it now stands. ErasureID and
// Receipt are empty after a dry run.
type Erasure struct {
	ErasureID string `json:"erasure_id,omitempty"`
	Plan      struct {
		SubjectID    string            `json:"subject_id"`
		WholeAccount bool              `json:"whole_account"`
		Items        []ErasurePlanItem `json:"items"`
	} `json:"plan"`
	Receipt string  `json:"receipt,omitempty"`
	Request Request `json:"request"`
}

// WebhookDelivery is the status of one notice of an erasure to one
// recipient (Art. 19).
type WebhookDelivery struct {
	ID         string    `json:"id"`
	EndpointID string    `json:"endpoint_id"`
	MsgID      string    `json:"msg_id"`
	Event      string    `json:"event"`
	State      string    `json:"state"` // pending, delivered or failed
	Attempts   int       `json:"attempts"`
	LastStatus int       `json:"last_status"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// ErasureReceipt is a stored receipt with the delivery status of the
// notices to the recipients.
type ErasureReceipt struct {
	ID         string            `json:"id"`
	Receipt    string            `json:"receipt"`
	Deliveries []WebhookDelivery `json:"deliveries"`
}

// CarryOutErasure carries out the erasure request requestID (a request
// still "received" is taken into progress first).
func (c *Client) CarryOutErasure(ctx context.Context, requestID string, sel ErasureSelection) (*Erasure, error) {
	s, err := segment("request id", requestID)
	if err != nil {
		return nil, err
	}
	var out Erasure
	if err := c.do(ctx, http.MethodPost, "/requests/"+s+"/erasure", sel, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ErasureReceiptOf returns the receipt of erasure id and the status of
// its notices.
func (c *Client) ErasureReceiptOf(ctx context.Context, id string) (*ErasureReceipt, error) {
	s, err := segment("erasure id", id)
	if err != nil {
		return nil, err
	}
	var out ErasureReceipt
	if err := c.do(ctx, http.MethodGet, "/erasure-receipts/"+s, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Restriction changes a subject's restriction of processing (Art. 18).
type Restriction struct {
	Restricted bool   `json:"restricted"`
	Reason     string `json:"reason"`
	// NotifiedBy is how a person without an e-mail address was told
	// before the restriction is lifted.
	NotifiedBy string `json:"notified_by,omitempty"`
	// Language of the notice mailed before a lifting (en by default).
	Language string `json:"language,omitempty"`
}

// RestrictionResult is the subject's restriction after the call.
type RestrictionResult struct {
	SubjectID  string `json:"subject_id"`
	Restricted bool   `json:"restricted"`
	Changed    bool   `json:"changed"`
	Notified   string `json:"notified,omitempty"` // "email" or "other" after a lifting
}

// SetRestriction restricts subject id's processing or lifts the
// restriction; lifting mails the person first, or needs NotifiedBy.
func (c *Client) SetRestriction(ctx context.Context, id string, r Restriction) (*RestrictionResult, error) {
	p, err := subjectPath(id)
	if err != nil {
		return nil, err
	}
	var out RestrictionResult
	if err := c.do(ctx, http.MethodPost, p+"/restriction", r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
