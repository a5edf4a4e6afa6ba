package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gdprd/gdprd/internal/errcode"
)

// MaxBody is the largest request body the API accepts.
const MaxBody = 1 << 20

var errTooLarge = errors.New("body too large")

// DecodeJSON reads one JSON object from r's body into v, strictly: only
// application/json, at most MaxBody bytes, valid UTF-8, no unknown fields,
// nothing after the object. Each failure is a coded error the client can
// act on.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return errcode.E(errcode.Unsupported, "the body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &errcode.Error{Code: errcode.TooLarge, Message: fmt.Sprintf("the body is larger than %d bytes", MaxBody), Err: errTooLarge}
		}
		return errcode.Wrap(err, errcode.Invalid, "the body could not be read")
	}
	if !utf8.Valid(body) {
		return errcode.E(errcode.Invalid, "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return errcode.E(errcode.Invalid, "the body must hold exactly one JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errcode.E(errcode.Invalid, "the body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errcode.E(errcode.Invalid, "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errcode.E(errcode.Invalid, "the body must be a JSON object")
		}
		return errcode.Field(field, "%s must be a %s", field, jsonType(typ.Type.Kind().String()))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errcode.E(errcode.Invalid, "the body is empty or cut short")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errcode.Field(name, "unknown field %q", name)
	}
	return errcode.Wrap(err, errcode.Invalid, "the body is not valid JSON for this request")
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "map", "struct":
		return "JSON object"
	case "slice", "array":
		return "JSON array"
	case "bool":
		return "boolean"
	}
	return "number"
}
