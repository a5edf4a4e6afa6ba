package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// input is a typical request body: strings, a number, a list, an object.
type input struct {
	Email string                     `json:"email"`
	Age   int                        `json:"age"`
	Tags  []string                   `json:"tags"`
	Data  map[string]json.RawMessage `json:"data"`
}

// padded returns a valid body of exactly n bytes.
func padded(n int) []byte {
	const obj = `{"email":"a@example.org"}`
	return []byte(obj + strings.Repeat(" ", n-len(obj)))
}

func TestDecodeJSON(t *testing.T) {
	ok := input{Email: "a@example.org"}
	tests := []struct {
		name        string
		contentType string // "" sends none
		body        []byte
		want        input        // when wantCode is ""
		wantCode    errcode.Code // "" = success
		wantField   string       // for coded failures
		wantMessage string       // a substring of the client message
	}{
		{name: "object", contentType: "application/json", body: []byte(`{"email":"a@example.org","age":3,"tags":["x"],"data":{"contact":{"n":1}}}`),
			want: input{Email: "a@example.org", Age: 3, Tags: []string{"x"}, Data: map[string]json.RawMessage{"contact": json.RawMessage(`{"n":1}`)}}},
		{name: "charset parameter", contentType: "application/json; charset=utf-8", body: []byte(`{"email":"a@example.org"}`), want: ok},
		{name: "media type is case-insensitive", contentType: "Application/JSON", body: []byte(`{"email":"a@example.org"}`), want: ok},
		{name: "white space around the object", contentType: "application/json", body: []byte(" \n\t{\"email\":\"a@example.org\"}\r\n "), want: ok},
		{name: "exactly the limit", contentType: "application/json", body: padded(web.MaxBody), want: ok},

		{name: "no Content-Type", body: []byte(`{}`), wantCode: errcode.Unsupported, wantMessage: "application/json"},
		{name: "text/plain", contentType: "text/plain", body: []byte(`{}`), wantCode: errcode.Unsupported},
		{name: "form", contentType: "application/x-www-form-urlencoded", body: []byte(`email=a`), wantCode: errcode.Unsupported},
		{name: "multipart", contentType: "multipart/form-data; boundary=x", body: []byte(`--x--`), wantCode: errcode.Unsupported},
		{name: "a JSON-like type", contentType: "application/merge-patch+json", body: []byte(`{}`), wantCode: errcode.Unsupported},
		{name: "unparsable Content-Type", contentType: "application/json; charset", body: []byte(`{}`), wantCode: errcode.Unsupported},

		{name: "one byte over the limit", contentType: "application/json", body: padded(web.MaxBody + 1), wantCode: errcode.TooLarge, wantMessage: "larger than"},
		{name: "invalid UTF-8", contentType: "application/json", body: []byte("{\"email\":\"\xc3\x28\"}"), wantCode: errcode.Invalid, wantMessage: "UTF-8"},
		{name: "malformed", contentType: "application/json", body: []byte(`{"email":}`), wantCode: errcode.Invalid, wantMessage: "malformed JSON at byte 10"},
		{name: "cut short", contentType: "application/json", body: []byte(`{"email":"a@example.org"`), wantCode: errcode.Invalid, wantMessage: "cut short"},
		{name: "empty", contentType: "application/json", body: nil, wantCode: errcode.Invalid, wantMessage: "empty"},
		{name: "array", contentType: "application/json", body: []byte(`[]`), wantCode: errcode.Invalid, wantMessage: "must be a JSON object"},
		{name: "string", contentType: "application/json", body: []byte(`"a@example.org"`), wantCode: errcode.Invalid, wantMessage: "must be a JSON object"},
		{name: "number for a string", contentType: "application/json", body: []byte(`{"email":42}`), wantCode: errcode.Invalid, wantField: "email", wantMessage: "email must be a string"},
		{name: "string for a number", contentType: "application/json", body: []byte(`{"age":"3"}`), wantCode: errcode.Invalid, wantField: "age", wantMessage: "age must be a number"},
		{name: "object for a list", contentType: "application/json", body: []byte(`{"tags":{}}`), wantCode: errcode.Invalid, wantField: "tags", wantMessage: "tags must be a JSON array"},
		{name: "list for an object", contentType: "application/json", body: []byte(`{"data":[]}`), wantCode: errcode.Invalid, wantField: "data", wantMessage: "data must be a JSON object"},
		{name: "unknown field", contentType: "application/json", body: []byte(`{"email":"a@example.org","nickname":"x"}`), wantCode: errcode.Invalid, wantField: "nickname", wantMessage: `unknown field "nickname"`},
		{name: "second object", contentType: "application/json", body: []byte(`{"email":"a@example.org"}{"email":"b@example.org"}`), wantCode: errcode.Invalid, wantMessage: "exactly one JSON object"},
		{name: "garbage after", contentType: "application/json", body: []byte(`{"email":"a@example.org"} x`), wantCode: errcode.Invalid, wantMessage: "exactly one JSON object"},
		{name: "stray brace after", contentType: "application/json", body: []byte(`{"email":"a@example.org"}}`), wantCode: errcode.Invalid, wantMessage: "exactly one JSON object"},
		{name: "second value after", contentType: "application/json", body: []byte(`{"email":"a@example.org"} 1`), wantCode: errcode.Invalid, wantMessage: "exactly one JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(tt.body)))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			var got input
			err := web.DecodeJSON(httptest.NewRecorder(), r, &got)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("decoded %+v, want %+v", got, tt.want)
				}
				return
			}
			e, ok := errcode.As(err)
			if !ok {
				t.Fatalf("err = %v (%T), want a coded error", err, err)
			}
			if e.Code != tt.wantCode || e.Field != tt.wantField {
				t.Errorf("code/field = %q/%q, want %q/%q (message %q)", e.Code, e.Field, tt.wantCode, tt.wantField, e.Message)
			}
			if !strings.Contains(e.Message, tt.wantMessage) {
				t.Errorf("message %q, want it to contain %q", e.Message, tt.wantMessage)
			}
			// The message goes to the client: no decoder internals.
			for _, bad := range []string{"json:", "Go struct", "Go value", "unmarshal", "web.", "input", "jsontext"} {
				if strings.Contains(e.Message, bad) {
					t.Errorf("message %q leaks %q", e.Message, bad)
				}
			}
		})
	}
}
