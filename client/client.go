// Package client is the Go client of gdprd's REST API (/api/v1), for host
// applications and integration tests.
//
// Every call takes a context and returns a *Error when the server answers
// with a problem, so callers can branch on the stable code (see Code,
// IsNotFound, IsConflict) rather than on message text. The package depends
// on nothing inside gdprd: it speaks only the published contract
// (docs/openapi.json).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiPrefix is where the API lives below the server's root URL.
const apiPrefix = "/api/v1"

// maxProblemBytes bounds how much of an error body is read: a problem is a
// few hundred bytes, and a misbehaving proxy must not make us buffer a page.
const maxProblemBytes = 64 << 10

// Client calls one gdprd server with one API key. It is safe for
// concurrent use.
type Client struct {
	base    string // root URL plus apiPrefix, no trailing slash
	key     string
	purpose string
	hc      *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc, for custom
// transports, TLS settings or timeouts.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithPurpose declares the purpose of every request (the Gdprd-Purpose
// header), which goes into the audit log. Without it the server uses the
// API key's purpose.
func WithPurpose(purpose string) Option {
	return func(c *Client) { c.purpose = purpose }
}

// New returns a client of the server at baseURL (e.g.
// "https://gdprd.example.org"; a trailing "/api/v1" is accepted too)
// authenticating with apiKey.
//
// The default HTTP client times out after 30 s and does not follow
// redirects: the API never redirects, so a redirect means a misconfigured
// URL, and following it would resend the body elsewhere.
func New(baseURL, apiKey string, opts ...Option) *Client {
	base := strings.TrimRight(baseURL, "/")
	base = strings.TrimSuffix(base, apiPrefix)
	c := &Client{
		base: base + apiPrefix,
		key:  apiKey,
		hc: &http.Client{
			Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Subject is a data subject with all its data, by category.
type Subject struct {
	ID         string                     `json:"id"`
	ExternalID string                     `json:"external_id,omitempty"`
	Email      string                     `json:"email,omitempty"`
	Phone      string                     `json:"phone,omitempty"`
	Data       map[string]json.RawMessage `json:"data"`
	Restricted bool                       `json:"restricted"`
	CreatedAt  time.Time                  `json:"created_at"`
	UpdatedAt  time.Time                  `json:"updated_at"`
}

// NewSubject is the input of CreateSubject. At least one identifier is
// required; each value of Data must marshal to a JSON object.
type NewSubject struct {
	ExternalID string         `json:"external_id,omitempty"`
	Email      string         `json:"email,omitempty"`
	Phone      string         `json:"phone,omitempty"`
	Data       map[string]any `json:"data,omitempty"`
}

// Patch is a rectification. A nil identifier is left unchanged and a
// pointer to "" removes it, which is why the fields are pointers. Each
// value of Data is an RFC 7396 merge patch of that category: a nil (null)
// field removes the field.
type Patch struct {
	ExternalID *string        `json:"external_id,omitempty"`
	Email      *string        `json:"email,omitempty"`
	Phone      *string        `json:"phone,omitempty"`
	Data       map[string]any `json:"data,omitempty"`
}

// Receipt says what an erasure removed: categories and identifier kinds,
// never values.
type Receipt struct {
	SubjectID     string    `json:"subject_id"`
	ErasedAt      time.Time `json:"erased_at"`
	Scope         string    `json:"scope"` // "subject" or "category"
	Identifiers   []string  `json:"identifiers"`
	Categories    []string  `json:"categories"`
	KeysDestroyed int       `json:"keys_destroyed"`
	AuditSeq      int64     `json:"audit_seq"`
}

// Category is a group of personal data (contact, billing…).
type Category struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Builtin     bool   `json:"builtin"`
}

// Identifier names a subject for Lookup. Set exactly one field; the server
// answers 400 otherwise. Identifiers travel in the request body, never in
// the URL, so they stay out of access logs.
type Identifier struct {
	ExternalID string `json:"external_id,omitempty"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
}

// CreateSubject stores a new subject. A duplicate identifier is a conflict
// (IsConflict) whose Field names the identifier.
func (c *Client) CreateSubject(ctx context.Context, n NewSubject) (*Subject, error) {
	var s Subject
	if err := c.do(ctx, http.MethodPost, "/subjects", n, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Lookup finds the subject with the identifier.
func (c *Client) Lookup(ctx context.Context, id Identifier) (*Subject, error) {
	var s Subject
	if err := c.do(ctx, http.MethodPost, "/subjects/lookup", id, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Subject reads a subject with all its data. Unknown and erased subjects
// are both IsNotFound.
func (c *Client) Subject(ctx context.Context, id string) (*Subject, error) {
	p, err := subjectPath(id)
	if err != nil {
		return nil, err
	}
	var s Subject
	if err := c.do(ctx, http.MethodGet, p, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// UpdateSubject applies a rectification and returns the subject after it.
func (c *Client) UpdateSubject(ctx context.Context, id string, p Patch) (*Subject, error) {
	path, err := subjectPath(id)
	if err != nil {
		return nil, err
	}
	var s Subject
	if err := c.do(ctx, http.MethodPatch, path, p, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// EraseSubject erases a subject and all its data (crypto-shredding).
func (c *Client) EraseSubject(ctx context.Context, id string) (*Receipt, error) {
	p, err := subjectPath(id)
	if err != nil {
		return nil, err
	}
	var r Receipt
	if err := c.do(ctx, http.MethodDelete, p, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// PutData replaces one category of a subject's data with v, which is
// marshalled with encoding/json and must be a JSON object (pass a
// json.RawMessage for data that is already encoded).
func (c *Client) PutData(ctx context.Context, id, category string, v any) error {
	p, err := dataPath(id, category)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPut, p, v, nil)
}

// Data reads one category of a subject's data as the JSON object stored.
func (c *Client) Data(ctx context.Context, id, category string) (json.RawMessage, error) {
	p, err := dataPath(id, category)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, p, nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// EraseData erases one category of a subject's data.
func (c *Client) EraseData(ctx context.Context, id, category string) (*Receipt, error) {
	p, err := dataPath(id, category)
	if err != nil {
		return nil, err
	}
	var r Receipt
	if err := c.do(ctx, http.MethodDelete, p, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Categories lists the data categories the server knows.
func (c *Client) Categories(ctx context.Context) ([]Category, error) {
	var out struct {
		Categories []Category `json:"categories"`
	}
	if err := c.do(ctx, http.MethodGet, "/categories", nil, &out); err != nil {
		return nil, err
	}
	return out.Categories, nil
}

// segment escapes one path segment. Empty and dot segments are refused
// because the server would clean them into a different route.
func segment(what, s string) (string, error) {
	if s == "" || s == "." || s == ".." {
		return "", fmt.Errorf("gdprd client: invalid %s %q", what, s)
	}
	return url.PathEscape(s), nil
}

func subjectPath(id string) (string, error) {
	s, err := segment("subject id", id)
	if err != nil {
		return "", err
	}
	return "/subjects/" + s, nil
}

func dataPath(id, category string) (string, error) {
	p, err := subjectPath(id)
	if err != nil {
		return "", err
	}
	cat, err := segment("category", category)
	if err != nil {
		return "", err
	}
	return p + "/data/" + cat, nil
}

// do sends one request; in (if not nil) is the JSON body and out (if not
// nil) receives the JSON answer. A non-2xx answer becomes a *Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	_, err := c.doWith(ctx, method, path, nil, in, out)
	return err
}

// doWith is do with extra request headers; it returns the status and
// headers of the answer.
func (c *Client) doWith(ctx context.Context, method, path string, hdr http.Header, in, out any) (*http.Response, error) {
	resp, err := c.send(ctx, method, path, hdr, in)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Drain what is left so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxProblemBytes))
		resp.Body.Close()
	}()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return resp, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp, fmt.Errorf("gdprd client: decode %s %s answer: %w", method, path, err)
	}
	return resp, nil
}

// send makes one request and returns a 2xx answer with its body still to
// be read and closed by the caller; any other answer is a *Error.
func (c *Client) send(ctx context.Context, method, path string, hdr http.Header, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("gdprd client: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("gdprd client: %w", err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.purpose != "" {
		req.Header.Set("Gdprd-Purpose", c.purpose)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("gdprd client: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer func() {
			io.Copy(io.Discard, io.LimitReader(resp.Body, maxProblemBytes))
			resp.Body.Close()
		}()
		return nil, parseError(resp)
	}
	return resp, nil
}
