package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// codeStatus is the public contract of every error code: the status a
// client sees. It is kept by hand on purpose; TestCodeListComplete fails
// when errcode.go gains a code this list lacks.
var codeStatus = map[string]struct {
	code   errcode.Code
	status int
}{
	"Invalid":        {errcode.Invalid, 400},
	"NotFound":       {errcode.NotFound, 404},
	"Conflict":       {errcode.Conflict, 409},
	"Unprocessable":  {errcode.Unprocessable, 422},
	"Unauthorized":   {errcode.Unauthorized, 401},
	"Forbidden":      {errcode.Forbidden, 403},
	"TooLarge":       {errcode.TooLarge, 413},
	"Unsupported":    {errcode.Unsupported, 415},
	"RateLimited":    {errcode.RateLimited, 429},
	"Restricted":     {errcode.Restricted, 423},
	"Gone":           {errcode.Gone, 410},
	"Unavailable":    {errcode.Unavailable, 503},
	"Internal":       {errcode.Internal, 500},
	"MethodNotAllow": {errcode.MethodNotAllow, 405},
}

// declaredCodes returns the names of the constants of type Code declared
// in errcode.go, read from the source so the list cannot drift.
func declaredCodes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../errcode/errcode.go", nil, 0)
	if err != nil {
		t.Fatalf("parse errcode.go: %v", err)
	}
	var names []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Code" {
				for _, n := range vs.Names {
					names = append(names, n.Name)
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

func TestCodeListComplete(t *testing.T) {
	declared := declaredCodes(t)
	if len(declared) == 0 {
		t.Fatal("found no Code constants in errcode.go")
	}
	listed := slices.Sorted(maps.Keys(codeStatus))
	if !slices.Equal(declared, listed) {
		t.Errorf("errcode.go declares %v\nthe test lists     %v", declared, listed)
	}
}

// TestStatusTable checks the one code→status table: every code has its
// documented status, only Internal is a 500, and an unknown code is one.
func TestStatusTable(t *testing.T) {
	for name, cs := range codeStatus {
		t.Run(name, func(t *testing.T) {
			got := web.Status(errcode.E(cs.code, "x"))
			if got != cs.status {
				t.Errorf("Status(%s) = %d, want %d", cs.code, got, cs.status)
			}
			if (got == 500) != (cs.code == errcode.Internal) {
				t.Errorf("Status(%s) = %d: only internal may be a 500", cs.code, got)
			}
			if http.StatusText(got) == "" || got < 400 {
				t.Errorf("Status(%s) = %d is not an error status", cs.code, got)
			}
		})
	}
	t.Run("unknown code", func(t *testing.T) {
		if got := web.Status(errcode.E("made_up", "x")); got != 500 {
			t.Errorf("Status(made_up) = %d, want 500", got)
		}
	})
	t.Run("uncoded error", func(t *testing.T) {
		if got := web.Status(errors.New("x")); got != 500 {
			t.Errorf("Status(uncoded) = %d, want 500", got)
		}
	})
}

// serveError answers err through WithRequestID and WriteError, as the API
// does, and returns the response, its decoded problem and the log.
func serveError(t *testing.T, err error) (*http.Response, web.Problem, string) {
	t.Helper()
	var logBuf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, nil))
	h := web.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, r, log, err)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/x", nil))
	resp := rec.Result()
	var p web.Problem
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if derr := dec.Decode(&p); derr != nil {
		t.Fatalf("problem body %q: %v", rec.Body.String(), derr)
	}
	return resp, p, logBuf.String()
}

func TestWriteError(t *testing.T) {
	const generic = "Something went wrong on our side"
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantField  string
		wantDetail string   // a substring
		hidden     []string // text that must not reach the body
		logged     bool     // whether a log line is written
	}{
		{name: "coded", err: errcode.E(errcode.NotFound, "no such subject"),
			wantStatus: 404, wantCode: "not_found", wantDetail: "no such subject"},
		{name: "field", err: errcode.Field("email", "email must be a string"),
			wantStatus: 400, wantCode: "invalid", wantField: "email", wantDetail: "email must be a string"},
		{name: "wrapped coded", err: fmt.Errorf("handler: %w", errcode.E(errcode.Forbidden, "lacks the scope")),
			wantStatus: 403, wantCode: "forbidden", wantDetail: "lacks the scope", hidden: []string{"handler:"}},
		{name: "coded with an internal cause", err: errcode.Wrap(errors.New("UNIQUE constraint failed: subject_identifiers.blind"), errcode.Conflict, "already taken"),
			wantStatus: 409, wantCode: "conflict", wantDetail: "already taken", hidden: []string{"UNIQUE", "subject_identifiers"}},
		{name: "coded 5xx shows its message and is logged", err: errcode.Wrap(errors.New("dial tcp 10.0.0.5:5432: refused"), errcode.Unavailable, "the database is unavailable"),
			wantStatus: 503, wantCode: "unavailable", wantDetail: "the database is unavailable", hidden: []string{"10.0.0.5"}, logged: true},
		{name: "internal code hides even its message", err: errcode.E(errcode.Internal, "key store row 42 corrupt"),
			wantStatus: 500, wantCode: "internal", wantDetail: generic, hidden: []string{"row 42"}, logged: true},
		{name: "uncoded", err: fmt.Errorf("read subject: %w", errors.New("sql: database is locked at /var/lib/gdprd/gdprd.db")),
			wantStatus: 500, wantCode: "internal", wantDetail: generic, hidden: []string{"sql", "locked", "/var/lib"}, logged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, p, log := serveError(t, tt.err)
			if resp.StatusCode != tt.wantStatus || p.Status != tt.wantStatus {
				t.Errorf("status %d (body %d), want %d", resp.StatusCode, p.Status, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			if p.Code != tt.wantCode || p.Field != tt.wantField {
				t.Errorf("code/field = %q/%q, want %q/%q", p.Code, p.Field, tt.wantCode, tt.wantField)
			}
			if p.Type != web.ProblemTypeBase+tt.wantCode || p.Title != http.StatusText(tt.wantStatus) {
				t.Errorf("type/title = %q/%q", p.Type, p.Title)
			}
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail %q, want it to contain %q", p.Detail, tt.wantDetail)
			}
			if p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-Id") {
				t.Errorf("request_id %q, X-Request-Id %q", p.RequestID, resp.Header.Get("X-Request-Id"))
			}
			body, _ := json.Marshal(p)
			for _, h := range tt.hidden {
				if strings.Contains(string(body), h) {
					t.Errorf("body %s reveals %q", body, h)
				}
				// What the client may not see, the operator must.
				if tt.logged && !strings.Contains(log, h) {
					t.Errorf("log lacks %q:\n%s", h, log)
				}
			}
			if tt.logged != (log != "") {
				t.Errorf("logged = %v, want %v:\n%s", log != "", tt.logged, log)
			}
			if tt.logged && !strings.Contains(log, p.RequestID) {
				t.Errorf("the log line lacks the request id %s:\n%s", p.RequestID, log)
			}
		})
	}
}

// TestWriteErrorTooLargeClosesConnection checks that a body over the limit
// ends the connection, so the client's unread remainder is not parsed as
// the next request.
func TestWriteErrorTooLargeClosesConnection(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"a":"`+strings.Repeat("a", web.MaxBody)+`"}`))
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	var v map[string]string
	err := web.DecodeJSON(rec, r, &v)
	web.WriteError(rec, r, slog.New(slog.DiscardHandler), err)
	if rec.Code != 413 || rec.Header().Get("Connection") != "close" {
		t.Errorf("status %d, Connection %q; want 413 and close", rec.Code, rec.Header().Get("Connection"))
	}

	rec = httptest.NewRecorder()
	web.WriteError(rec, r, slog.New(slog.DiscardHandler), errcode.E(errcode.TooLarge, "too large, but not a body"))
	if rec.Header().Get("Connection") != "" {
		t.Errorf("a TooLarge error not from the body reader closed the connection")
	}
}

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	web.WriteJSON(rec, http.StatusCreated, map[string]string{"id": "sub_x"})
	if rec.Code != 201 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("status %d, headers %v", rec.Code, rec.Header())
	}
	if got := strings.TrimSpace(rec.Body.String()); got != `{"id":"sub_x"}` {
		t.Errorf("body %q", got)
	}
}
