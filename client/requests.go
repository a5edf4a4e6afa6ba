package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// NewRequest is a data-subject request the host application submits on
// the person's behalf. Kind is access, export, erasure, rectification,
// restriction or objection.
type NewRequest struct {
	SubjectID string          `json:"subject_id"`
	Kind      string          `json:"kind"`
	Details   *RequestDetails `json:"details,omitempty"`
	// ReceivedAt back-dates a request received earlier; zero is now.
	ReceivedAt *time.Time `json:"received_at,omitempty"`
}

// RequestDetails is what a request covers.
type RequestDetails struct {
	All        bool              `json:"all,omitempty"`
	Categories []string          `json:"categories,omitempty"`
	Purposes   []string          `json:"purposes,omitempty"`
	Fields     map[string]string `json:"fields,omitempty"`
	Message    string            `json:"message,omitempty"`
}

// Request is a data-subject request with its deadlines.
type Request struct {
	ID                    string         `json:"id"`
	SubjectID             string         `json:"subject_id,omitempty"`
	Kind                  string         `json:"kind"`
	Channel               string         `json:"channel"`
	Details               RequestDetails `json:"details"`
	SealedDetails         bool           `json:"sealed_details,omitempty"`
	State                 string         `json:"state"`
	ReceivedAt            time.Time      `json:"received_at"`
	LegalDueAt            time.Time      `json:"legal_due_at"`
	TargetDueAt           time.Time      `json:"target_due_at"`
	Extended              bool           `json:"extended"`
	ExtensionReason       string         `json:"extension_reason,omitempty"`
	AssignedTo            string         `json:"assigned_to,omitempty"`
	AwaitingIdentitySince time.Time      `json:"awaiting_identity_since,omitzero"`
	Version               int64          `json:"version"`
	CreatedBy             string         `json:"created_by"`
	CreatedAt             time.Time      `json:"created_at"`
	UpdatedAt             time.Time      `json:"updated_at"`
	ClosedAt              time.Time      `json:"closed_at,omitzero"`
	// Merged: the submission duplicated an open request of the same
	// person and kind and was merged into it.
	Merged bool `json:"merged,omitempty"`
	// Replayed: the idempotency key had been used; the answer is the
	// first call's request, and nothing was written.
	Replayed bool `json:"-"`
}

// RequestFilter narrows ListRequests; zero values mean all.
type RequestFilter struct {
	Kinds  []string
	States []string
	Limit  int
	Cursor string // NextCursor of the previous page
}

// RequestPage is one page of requests, soonest target first.
type RequestPage struct {
	Requests   []Request `json:"requests"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// ExportLink is where to fetch an access package: once, until ExpiresAt.
type ExportLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	Kind      string    `json:"kind"`
}

// SubmitRequest submits a request under idempotencyKey: retrying with the
// same key and input returns the first answer (Replayed) and writes
// nothing, so a network error can always be retried. The key is required.
func (c *Client) SubmitRequest(ctx context.Context, idempotencyKey string, in NewRequest) (*Request, error) {
	var out Request
	resp, err := c.doWith(ctx, http.MethodPost, "/requests", http.Header{"Idempotency-Key": {idempotencyKey}}, in, &out)
	if err != nil {
		return nil, err
	}
	out.Replayed = resp.Header.Get("Idempotent-Replayed") == "true"
	return &out, nil
}

// Request returns one request.
func (c *Client) Request(ctx context.Context, id string) (*Request, error) {
	s, err := segment("request id", id)
	if err != nil {
		return nil, err
	}
	var out Request
	if err := c.do(ctx, http.MethodGet, "/requests/"+s, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListRequests returns one page of requests.
func (c *Client) ListRequests(ctx context.Context, f RequestFilter) (*RequestPage, error) {
	q := url.Values{}
	if len(f.Kinds) > 0 {
		q.Set("kind", strings.Join(f.Kinds, ","))
	}
	if len(f.States) > 0 {
		q.Set("state", strings.Join(f.States, ","))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	path := "/requests"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out RequestPage
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateExport returns a single-use, expiring link to subject id's
// package: kind "access" (Art. 15) or "export" (Art. 20); recipient, when
// not empty, is the person's age public key the package is encrypted to.
func (c *Client) CreateExport(ctx context.Context, id, kind, recipient string) (*ExportLink, error) {
	p, err := subjectPath(id)
	if err != nil {
		return nil, err
	}
	var out ExportLink
	in := map[string]string{"kind": kind}
	if recipient != "" {
		in["recipient"] = recipient
	}
	if err := c.do(ctx, http.MethodPost, p+"/exports", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
