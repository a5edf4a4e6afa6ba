package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/docs"
	"github.com/gdprd/gdprd/internal/api"
	"github.com/gdprd/gdprd/internal/auth"
)

// openAPIDoc is the part of docs/openapi.json these tests read.
type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

// operation is the part of an OpenAPI operation these tests read.
type operation struct {
	Scope       *string                    `json:"x-gdprd-scope"`
	Security    []map[string][]string      `json:"security"`
	RequestBody json.RawMessage            `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

// httpMethods are the keys of an OpenAPI path item that name operations;
// the others (summary, parameters…) do not.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// specPath turns a ServeMux pattern into an OpenAPI path: {rest...}
// becomes {rest}.
func specPath(pattern string) string { return strings.ReplaceAll(pattern, "...}", "}") }

// specMismatches compares the route table with an OpenAPI document, both
// ways: every route must be documented with its method, path and scope, and
// every documented operation must be routed. A scoped route must require
// the apiKey security scheme and a public one must require none. It
// returns one line per mismatch.
func specMismatches(routes []api.Route, spec []byte) ([]string, error) {
	var doc openAPIDoc
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, err
	}
	documented := map[string]operation{}
	for path, item := range doc.Paths {
		for key, raw := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", key, path, err)
			}
			documented[strings.ToUpper(key)+" "+path] = op
		}
	}
	var out []string
	routed := map[string]bool{}
	for _, rt := range routes {
		key := rt.Method + " " + specPath(rt.Path)
		if routed[key] {
			out = append(out, key+": routed twice")
		}
		routed[key] = true
		op, ok := documented[key]
		if !ok {
			out = append(out, key+": in Routes() but not in the spec")
			continue
		}
		scope := ""
		if op.Scope != nil {
			scope = *op.Scope
		}
		if scope != rt.Scope {
			out = append(out, fmt.Sprintf("%s: x-gdprd-scope %q in the spec, %q in Routes()", key, scope, rt.Scope))
		}
		needsKey := slices.ContainsFunc(op.Security, func(req map[string][]string) bool { _, ok := req["apiKey"]; return ok })
		if needsKey != (rt.Scope != "") {
			out = append(out, fmt.Sprintf("%s: spec security requires apiKey = %v, but the route's scope is %q", key, needsKey, rt.Scope))
		}
	}
	for key := range documented {
		if !routed[key] {
			out = append(out, key+": in the spec but not in Routes()")
		}
	}
	sort.Strings(out)
	return out, nil
}

// TestRoutesMatchSpec is the contract check: Routes() and the OpenAPI
// document the binary embeds and serves agree exactly.
func TestRoutesMatchSpec(t *testing.T) {
	routes := (&api.Server{}).Routes()
	if len(routes) == 0 {
		t.Fatal("Routes() is empty")
	}
	got, err := specMismatches(routes, docs.OpenAPI)
	if err != nil {
		t.Fatalf("parse docs/openapi.json: %v", err)
	}
	for _, m := range got {
		t.Error(m)
	}
}

// TestSpecMismatchesFindsDrift proves the contract check can fail: each
// kind of drift between routes and spec is reported.
func TestSpecMismatchesFindsDrift(t *testing.T) {
	routes := []api.Route{
		{Method: "GET", Path: "/openapi.json"},
		{Method: "GET", Path: "/things/{id}", Scope: "vault:read"},
		{Method: "GET", Path: "/files/{rest...}", Scope: "vault:read"},
	}
	const pub = `"security": []`
	const key = `"security": [{"apiKey": []}]`
	spec := func(openapi, things, files string) []byte {
		return []byte(`{"openapi": "3.1.0", "paths": {
			"/openapi.json": {"get": {` + openapi + `}},
			"/things/{id}": {"parameters": [], "summary": "x", ` + things + `},
			"/files/{rest}": {` + files + `}}}`)
	}
	tests := []struct {
		name string
		spec []byte
		want []string
	}{
		{"in agreement",
			spec(pub, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`),
			nil},
		{"an empty scope is public",
			spec(pub+`, "x-gdprd-scope": ""`, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`),
			nil},
		{"scope differs",
			spec(pub, `"get": {`+key+`, "x-gdprd-scope": "vault:write"}`, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`),
			[]string{`GET /things/{id}: x-gdprd-scope "vault:write" in the spec, "vault:read" in Routes()`}},
		{"scope missing",
			spec(pub, `"get": {`+key+`}`, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`),
			[]string{`GET /things/{id}: x-gdprd-scope "" in the spec, "vault:read" in Routes()`}},
		{"public route given a scope",
			spec(key+`, "x-gdprd-scope": "vault:read"`, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`),
			[]string{
				`GET /openapi.json: spec security requires apiKey = true, but the route's scope is ""`,
				`GET /openapi.json: x-gdprd-scope "vault:read" in the spec, "" in Routes()`,
			}},
		{"scoped route without security",
			spec(pub, `"get": {"x-gdprd-scope": "vault:read"}`, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`),
			[]string{`GET /things/{id}: spec security requires apiKey = false, but the route's scope is "vault:read"`}},
		{"method differs",
			spec(pub, `"post": {`+key+`, "x-gdprd-scope": "vault:read"}`, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`),
			[]string{
				"GET /things/{id}: in Routes() but not in the spec",
				"POST /things/{id}: in the spec but not in Routes()",
			}},
		{"extra operation in the spec",
			spec(pub, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}, "delete": {`+key+`, "x-gdprd-scope": "vault:write"}`, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`),
			[]string{"DELETE /things/{id}: in the spec but not in Routes()"}},
		{"route missing from the spec",
			spec(pub, `"get": {`+key+`, "x-gdprd-scope": "vault:read"}`, ``),
			[]string{"GET /files/{rest}: in Routes() but not in the spec"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := specMismatches(routes, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("mismatches:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	if _, err := specMismatches(routes, []byte(`{"paths": [`)); err == nil {
		t.Error("a broken document parsed")
	}
}

// TestSpecDocument checks the document itself: JSON, OpenAPI 3.1.0, a
// version, every operation's scope is a scope keys can hold, and every
// operation documents the problems the server's common path can answer:
// a scoped one 400 (undeclared purpose), 401, 403 and 429; one with a
// body 400, 413 and 415.
func TestSpecDocument(t *testing.T) {
	var doc struct {
		openAPIDoc
		Info struct {
			Title, Version string
		} `json:"info"`
	}
	dec := json.NewDecoder(bytes.NewReader(docs.OpenAPI))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("docs/openapi.json is not JSON: %v", err)
	}
	if dec.More() {
		t.Error("docs/openapi.json has content after the document")
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if doc.Info.Title == "" || doc.Info.Version == "" {
		t.Errorf("info = %+v, want a title and a version", doc.Info)
	}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			var want []string
			if op.Scope != nil && *op.Scope != "" {
				if !slices.Contains(auth.AllScopes, *op.Scope) {
					t.Errorf("%s %s: x-gdprd-scope %q is not a scope", method, path, *op.Scope)
				}
				want = append(want, "400", "401", "403", "429")
			}
			if op.RequestBody != nil {
				want = append(want, "400", "413", "415")
			}
			for _, status := range want {
				if _, ok := op.Responses[status]; !ok {
					t.Errorf("%s %s: response %s is not documented", method, path, status)
				}
			}
		}
	}
}

// TestScopesEnforced checks every scoped route of Routes() on the real
// server: without a key it answers 401, and with a key that holds every
// scope but the one the route needs it answers 403; neither writes. The
// public OpenAPI document is served as embedded.
func TestScopesEnforced(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, rt := range (&api.Server{}).Routes() {
		if rt.Scope == "" {
			continue
		}
		if _, ok := f.vars["lacking "+rt.Scope]; !ok {
			others := slices.DeleteFunc(slices.Clone(auth.AllScopes), func(s string) bool { return s == rt.Scope })
			f.vars["lacking "+rt.Scope] = apiKey(t, f.dataDir, others, 0)
		}
		path := strings.NewReplacer("{id}", "{ada}", "{category}", "contact").Replace(rt.Path)
		body := ""
		if rt.Method == "POST" || rt.Method == "PUT" || rt.Method == "PATCH" {
			// A body that would succeed, so only the missing right stops it.
			body = map[string]string{
				"/subjects":                      `{"email":"scoped@example.org"}`,
				"/subjects/lookup":               `{"email":"ada@example.org"}`,
				"/subjects/{id}":                 `{"email":"scoped@example.org"}`,
				"/subjects/{id}/data/{category}": `{"name":"Scoped"}`,
			}[rt.Path]
		}
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			for _, sc := range []scenario{
				{name: "no key", headers: headers("", "Content-Type", jsonCT), wantStatus: 401, wantCode: "unauthorized",
					wantHeaders: map[string]string{"WWW-Authenticate": `Bearer realm="gdprd"`}},
				{name: "key lacking " + rt.Scope, headers: headers("Bearer {lacking "+rt.Scope+"}", "Content-Type", jsonCT),
					wantStatus: 403, wantCode: "forbidden", wantDetail: rt.Scope},
			} {
				sc.method, sc.path, sc.body = rt.Method, path, body
				t.Run(sc.name, func(t *testing.T) { sc.run(t, f) })
			}
		})
	}
	t.Run("the served document is the embedded one", func(t *testing.T) {
		resp, body := send(t, f.hc, "GET", f.base+"/api/v1/openapi.json", nil, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, docs.OpenAPI) {
			t.Errorf("GET /api/v1/openapi.json: %d, %d bytes; want 200 and docs/openapi.json (%d bytes)", resp.StatusCode, len(body), len(docs.OpenAPI))
		}
	})
}

// TestRouteScopeMatrix sends every scoped route of Routes() with a key of
// each single scope. A key without the route's scope must be refused with
// 403 every time, writing nothing: zero successes. The key holding exactly
// the route's scope must get past authorisation (any answer but 401 or
// 403), so the table's scope is also the one the route needs.
func TestRouteScopeMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, s := range auth.AllScopes {
		f.vars["only "+s] = apiKey(t, f.dataDir, []string{s}, 0)
	}
	bodies := map[string]string{
		"/subjects":                      `{"email":"matrix@example.org"}`,
		"/subjects/lookup":               `{"email":"ada@example.org"}`,
		"/subjects/{id}":                 `{"email":"matrix2@example.org"}`,
		"/subjects/{id}/data/{category}": `{"name":"Matrix"}`,
		"/subjects/{id}/restriction":     `{"restricted":true,"reason":"matrix"}`,
		"/requests":                      `{"subject_id":"{ada}","kind":"access"}`,
		"/consents/check":                `{"checks":[{"subject_id":"{ada}","purpose":"storage"}]}`,
		"/requests/{id}/transitions":     `{"to":"withdrawn"}`,
	}
	successes := 0
	for _, rt := range (&api.Server{}).Routes() {
		if rt.Scope == "" {
			continue
		}
		path := strings.NewReplacer("{id}", "{ada}", "{category}", "contact", "{purpose}", "storage",
			"{slug}", "privacy-policy", "{version}", "1").Replace(rt.Path)
		body := ""
		if rt.Method == "POST" || rt.Method == "PUT" || rt.Method == "PATCH" {
			body = bodies[rt.Path]
			if body == "" {
				body = "{}"
			}
		}
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			for _, s := range auth.AllScopes {
				hdr := headers("Bearer {only "+s+"}", "Content-Type", jsonCT, "Idempotency-Key", "matrix-"+s)
				if s != rt.Scope {
					sc := scenario{name: "only " + s, method: rt.Method, path: path, headers: hdr, body: body,
						wantStatus: 403, wantCode: "forbidden", wantDetail: rt.Scope}
					t.Run(sc.name, func(t *testing.T) {
						if p := sc.run(t, f); p.Status >= 200 && p.Status < 300 {
							successes++
						}
					})
					continue
				}
				h := map[string]string{}
				for k, v := range hdr {
					h[k] = f.expand(v)
				}
				var b []byte
				if body != "" {
					b = []byte(f.expand(body))
				}
				resp, rb := send(t, f.hc, rt.Method, f.base+"/api/v1"+f.expand(path), h, b)
				if resp.StatusCode == 401 || resp.StatusCode == 403 && bytes.Contains(rb, []byte("lacks the scope")) {
					t.Errorf("only %s, the route's own scope: %d %s", s, resp.StatusCode, rb)
				}
			}
		})
	}
	if successes != 0 {
		t.Errorf("%d requests succeeded without the route's scope", successes)
	}
}
