package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/client"
)

const testKey = "gdprd_ak_0123456789abcdef_secret"

// recorded is what the fake server saw of one request.
type recorded struct {
	Method, Path, RawPath string
	Header                http.Header
	Body                  []byte
}

// fake is a stand-in for gdprd that records requests and answers each with
// the configured status, headers and body. The client's contract with the
// real server is tested in internal/api; here we test the client alone.
type fake struct {
	mu       sync.Mutex
	requests []recorded

	status int
	header map[string]string
	body   string
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, recorded{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: b})
	f.mu.Unlock()
	for k, v := range f.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(f.status)
	io.WriteString(w, f.body)
}

func (f *fake) only(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(f.requests))
	}
	return f.requests[0]
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// newFake starts a fake answering status with a JSON body.
func newFake(t *testing.T, status int, body string) (*fake, string) {
	t.Helper()
	f := &fake{status: status, body: body, header: map[string]string{"Content-Type": "application/json"}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	if want == "" {
		if len(got) != 0 {
			t.Errorf("body = %s, want none", got)
		}
		return
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("request body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func ptr(s string) *string { return &s }

const subjectJSON = `{"id":"sub_aaaaaaaaaaaaaaaaaaaaaaaaaa","email":"ada@example.org","data":{"contact":{"name":"Ada"}},"restricted":false,"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`

const receiptJSON = `{"subject_id":"sub_aaaaaaaaaaaaaaaaaaaaaaaaaa","erased_at":"2026-01-02T03:04:05Z","scope":"subject","identifiers":["email"],"categories":["contact"],"keys_destroyed":2,"audit_seq":7}`

// TestMethods checks that each method sends the documented request and
// decodes the documented answer.
func TestMethods(t *testing.T) {
	const id = "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	wantSubject := func(t *testing.T, got any) {
		t.Helper()
		s, ok := got.(*client.Subject)
		if !ok || s == nil || s.ID != id || s.Email != "ada@example.org" || string(s.Data["contact"]) != `{"name":"Ada"}` ||
			!s.CreatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("subject = %+v", got)
		}
	}
	wantReceipt := func(t *testing.T, got any) {
		t.Helper()
		r, ok := got.(*client.Receipt)
		if !ok || r == nil || r.SubjectID != id || r.KeysDestroyed != 2 || r.AuditSeq != 7 || !reflect.DeepEqual(r.Categories, []string{"contact"}) {
			t.Errorf("receipt = %+v", got)
		}
	}
	tests := []struct {
		name       string
		call       func(ctx context.Context, c *client.Client) (any, error)
		status     int
		answer     string
		wantMethod string
		wantPath   string
		wantBody   string // JSON, "" for no body
		check      func(t *testing.T, got any)
	}{
		{
			name: "create subject",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.CreateSubject(ctx, client.NewSubject{Email: "ada@example.org", Data: map[string]any{"contact": map[string]string{"name": "Ada"}}})
			},
			status: 201, answer: subjectJSON,
			wantMethod: "POST", wantPath: "/api/v1/subjects",
			wantBody: `{"email":"ada@example.org","data":{"contact":{"name":"Ada"}}}`,
			check:    wantSubject,
		},
		{
			name: "lookup sends the identifier in the body",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Lookup(ctx, client.Identifier{Phone: "+49 30 1234567"})
			},
			status: 200, answer: subjectJSON,
			wantMethod: "POST", wantPath: "/api/v1/subjects/lookup", wantBody: `{"phone":"+49 30 1234567"}`,
			check: wantSubject,
		},
		{
			name:   "get subject",
			call:   func(ctx context.Context, c *client.Client) (any, error) { return c.Subject(ctx, id) },
			status: 200, answer: subjectJSON,
			wantMethod: "GET", wantPath: "/api/v1/subjects/" + id,
			check: wantSubject,
		},
		{
			name: "update sends only the fields set, and empty strings to remove",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.UpdateSubject(ctx, id, client.Patch{Phone: ptr(""), Data: map[string]any{"contact": map[string]any{"city": nil}}})
			},
			status: 200, answer: subjectJSON,
			wantMethod: "PATCH", wantPath: "/api/v1/subjects/" + id, wantBody: `{"phone":"","data":{"contact":{"city":null}}}`,
			check: wantSubject,
		},
		{
			name:   "erase subject",
			call:   func(ctx context.Context, c *client.Client) (any, error) { return c.EraseSubject(ctx, id) },
			status: 200, answer: receiptJSON,
			wantMethod: "DELETE", wantPath: "/api/v1/subjects/" + id,
			check: wantReceipt,
		},
		{
			name: "put data",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return nil, c.PutData(ctx, id, "contact", json.RawMessage(`{"name":"Ada"}`))
			},
			status: 204, answer: "",
			wantMethod: "PUT", wantPath: "/api/v1/subjects/" + id + "/data/contact", wantBody: `{"name":"Ada"}`,
		},
		{
			name:   "get data returns the object without the trailing newline",
			call:   func(ctx context.Context, c *client.Client) (any, error) { return c.Data(ctx, id, "contact") },
			status: 200, answer: "{\"name\":\"Ada\"}\n",
			wantMethod: "GET", wantPath: "/api/v1/subjects/" + id + "/data/contact",
			check: func(t *testing.T, got any) {
				if raw, _ := got.(json.RawMessage); string(raw) != `{"name":"Ada"}` {
					t.Errorf("data = %q", got)
				}
			},
		},
		{
			name:   "erase data",
			call:   func(ctx context.Context, c *client.Client) (any, error) { return c.EraseData(ctx, id, "contact") },
			status: 200, answer: receiptJSON,
			wantMethod: "DELETE", wantPath: "/api/v1/subjects/" + id + "/data/contact",
			check: wantReceipt,
		},
		{
			name:   "categories",
			call:   func(ctx context.Context, c *client.Client) (any, error) { return c.Categories(ctx) },
			status: 200, answer: `{"categories":[{"name":"billing","description":"Invoices","builtin":true}]}`,
			wantMethod: "GET", wantPath: "/api/v1/categories",
			check: func(t *testing.T, got any) {
				want := []client.Category{{Name: "billing", Description: "Invoices", Builtin: true}}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("categories = %+v, want %+v", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, base := newFake(t, tt.status, tt.answer)
			c := client.New(base, testKey, client.WithPurpose("support"))
			got, err := tt.call(t.Context(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			req := f.only(t)
			if req.Method != tt.wantMethod || req.Path != tt.wantPath {
				t.Errorf("request = %s %s, want %s %s", req.Method, req.Path, tt.wantMethod, tt.wantPath)
			}
			if h := req.Header.Get("Authorization"); h != "Bearer "+testKey {
				t.Errorf("Authorization = %q", h)
			}
			if h := req.Header.Get("Gdprd-Purpose"); h != "support" {
				t.Errorf("Gdprd-Purpose = %q, want support", h)
			}
			wantCT := ""
			if tt.wantBody != "" {
				wantCT = "application/json"
			}
			if ct := req.Header.Get("Content-Type"); ct != wantCT {
				t.Errorf("Content-Type = %q, want %q", ct, wantCT)
			}
			jsonEqual(t, req.Body, tt.wantBody)
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

// TestNoPurposeHeader checks that without WithPurpose no header is sent, so
// the server falls back to the key's purpose.
func TestNoPurposeHeader(t *testing.T) {
	f, base := newFake(t, 200, `{"categories":[]}`)
	if _, err := client.New(base, testKey).Categories(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h, ok := f.only(t).Header["Gdprd-Purpose"]; ok {
		t.Errorf("Gdprd-Purpose sent: %q", h)
	}
}

func TestBaseURL(t *testing.T) {
	for _, suffix := range []string{"", "/", "/api/v1", "/api/v1/"} {
		t.Run(fmt.Sprintf("%q", suffix), func(t *testing.T) {
			f, base := newFake(t, 200, `{"categories":[]}`)
			if _, err := client.New(base+suffix, testKey).Categories(t.Context()); err != nil {
				t.Fatal(err)
			}
			if p := f.only(t).Path; p != "/api/v1/categories" {
				t.Errorf("path = %q, want /api/v1/categories", p)
			}
		})
	}
}

// TestPathEscaping checks that an id cannot change the route it is sent to.
func TestPathEscaping(t *testing.T) {
	f, base := newFake(t, 200, subjectJSON)
	if _, err := client.New(base, testKey).Subject(t.Context(), "a/b?c#d"); err != nil {
		t.Fatal(err)
	}
	if p := f.only(t).RawPath; p != "/api/v1/subjects/a%2Fb%3Fc%23d" {
		t.Errorf("escaped path = %q", p)
	}
}

// TestInvalidSegments checks that ids the server would clean into another
// route are refused before anything is sent.
func TestInvalidSegments(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, c *client.Client) error
	}{
		{"empty id", func(ctx context.Context, c *client.Client) error { _, err := c.Subject(ctx, ""); return err }},
		{"dot-dot id", func(ctx context.Context, c *client.Client) error { _, err := c.EraseSubject(ctx, ".."); return err }},
		{"dot id", func(ctx context.Context, c *client.Client) error {
			_, err := c.UpdateSubject(ctx, ".", client.Patch{Email: ptr("x@example.org")})
			return err
		}},
		{"empty category", func(ctx context.Context, c *client.Client) error { _, err := c.Data(ctx, "sub_x", ""); return err }},
		{"dot-dot category", func(ctx context.Context, c *client.Client) error {
			return c.PutData(ctx, "sub_x", "..", map[string]any{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, base := newFake(t, 200, subjectJSON)
			err := tt.call(t.Context(), client.New(base, testKey))
			if err == nil {
				t.Fatal("no error")
			}
			var ce *client.Error
			if errors.As(err, &ce) {
				t.Errorf("got a server error %v, want a local one", err)
			}
			if n := f.count(); n != 0 {
				t.Errorf("%d requests sent, want 0", n)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   client.Error
	}{
		{
			name:   "problem",
			status: 409,
			header: map[string]string{"Content-Type": "application/problem+json", "X-Request-Id": "hdr"},
			body:   `{"type":"https://gdprd.dev/problems/conflict","title":"Conflict","status":409,"detail":"another subject already has this email","code":"conflict","field":"email","request_id":"0123"}`,
			want:   client.Error{Status: 409, Type: "https://gdprd.dev/problems/conflict", Title: "Conflict", Detail: "another subject already has this email", Code: "conflict", Field: "email", RequestID: "0123"},
		},
		{
			name:   "rate limited with delay seconds",
			status: 429,
			header: map[string]string{"Content-Type": "application/problem+json; charset=utf-8", "Retry-After": "3"},
			body:   `{"title":"Too Many Requests","status":429,"code":"rate_limited"}`,
			want:   client.Error{Status: 429, Title: "Too Many Requests", Code: "rate_limited", RetryAfter: 3 * time.Second},
		},
		{
			name:   "not a problem: status only, request id from the header",
			status: 502,
			header: map[string]string{"Content-Type": "text/html", "X-Request-Id": "abc"},
			body:   `<html>{"code":"conflict"}</html>`,
			want:   client.Error{Status: 502, Title: "Bad Gateway", RequestID: "abc"},
		},
		{
			name:   "broken problem body",
			status: 500,
			header: map[string]string{"Content-Type": "application/problem+json"},
			body:   `{"code":`,
			want:   client.Error{Status: 500, Title: "Internal Server Error"},
		},
		{
			name:   "redirects are not followed",
			status: 301,
			header: map[string]string{"Location": "/elsewhere"},
			want:   client.Error{Status: 301, Title: "Moved Permanently"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{status: tt.status, header: tt.header, body: tt.body}
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			_, err := client.New(srv.URL, testKey).Categories(t.Context())
			var got *client.Error
			if !errors.As(err, &got) {
				t.Fatalf("err = %v (%T), want *client.Error", err, err)
			}
			if *got != tt.want {
				t.Errorf("error = %+v\nwant    %+v", *got, tt.want)
			}
			if n := f.count(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestRetryAfterDate(t *testing.T) {
	f := &fake{status: 503, header: map[string]string{"Retry-After": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	_, err := client.New(srv.URL, testKey).Categories(t.Context())
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	if e.RetryAfter < 58*time.Minute || e.RetryAfter > time.Hour {
		t.Errorf("RetryAfter = %v, want about an hour", e.RetryAfter)
	}
}

func TestErrorString(t *testing.T) {
	e := &client.Error{Status: 409, Code: "conflict", Title: "Conflict", Detail: "another subject already has this email", Field: "email", RequestID: "r1"}
	want := "gdprd: 409 conflict: another subject already has this email (field email) [request r1]"
	if got := e.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := (&client.Error{Status: 502, Title: "Bad Gateway"}).Error(); got != "gdprd: 502: Bad Gateway" {
		t.Errorf("Error() = %q", got)
	}
}

func TestHelpers(t *testing.T) {
	notFound := &client.Error{Status: 404, Code: "not_found"}
	conflict := &client.Error{Status: 409, Code: "conflict"}
	tests := []struct {
		name               string
		err                error
		notFound, conflict bool
		code               string
	}{
		{"nil", nil, false, false, ""},
		{"plain error", errors.New("not_found"), false, false, ""},
		{"not found", notFound, true, false, "not_found"},
		{"wrapped not found", fmt.Errorf("load user: %w", notFound), true, false, "not_found"},
		{"conflict", conflict, false, true, "conflict"},
		{"404 without a code", &client.Error{Status: 404}, true, false, ""},
		{"the code wins over the status", &client.Error{Status: 404, Code: "gone"}, false, false, "gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := client.IsNotFound(tt.err); got != tt.notFound {
				t.Errorf("IsNotFound = %v, want %v", got, tt.notFound)
			}
			if got := client.IsConflict(tt.err); got != tt.conflict {
				t.Errorf("IsConflict = %v, want %v", got, tt.conflict)
			}
			if got := client.Code(tt.err); got != tt.code {
				t.Errorf("Code = %q, want %q", got, tt.code)
			}
		})
	}
}

func TestContextCanceled(t *testing.T) {
	f, base := newFake(t, 200, `{"categories":[]}`)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := client.New(base, testKey).Categories(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := f.count(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

// TestWithHTTPClient checks that the given client carries the requests.
func TestWithHTTPClient(t *testing.T) {
	_, base := newFake(t, 200, `{"categories":[]}`)
	var used bool
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	if _, err := client.New(base, testKey, client.WithHTTPClient(hc)).Categories(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !used {
		t.Error("the custom HTTP client was not used")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestKeyNotInErrors checks that a transport failure does not echo the API
// key (the URL carries none; the message must not either).
func TestKeyNotInErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	_, err := client.New(base, testKey).Categories(t.Context())
	if err == nil {
		t.Fatal("no error from a closed server")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error mentions the key: %v", err)
	}
}
