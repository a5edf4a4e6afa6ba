package vault_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/vault"
)

func TestPersonalDataTypesRedactThemselvesInLogs(t *testing.T) {
	t.Parallel()
	const (
		id    = "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa"
		email = "ada.lovelace@example.org"
		phone = "+442079460958"
		name  = "Ada Lovelace"
		ext   = "cust-8151"
	)
	data := map[string]json.RawMessage{"contact": raw(`{"name":"` + name + `"}`)}
	subject := vault.Subject{ID: id, ExternalID: ext, Email: email, Phone: phone, Data: data, CreatedAt: time.Now()}
	newSubject := vault.NewSubject{ExternalID: ext, Email: email, Phone: phone, Data: data}
	patch := vault.Patch{ExternalID: ptr(ext), Email: ptr(email), Phone: ptr(phone), Data: data}

	tests := []struct {
		name string
		attr slog.Attr
		want string // what the redacted output must still say
	}{
		{"Subject", slog.Any("subject", subject), id},
		{"*Subject", slog.Any("subject", &subject), id},
		{"NewSubject", slog.Any("input", newSubject), "[redacted]"},
		{"*NewSubject", slog.Any("input", &newSubject), "[redacted]"},
		{"Patch", slog.Any("patch", patch), "[redacted]"},
		{"*Patch", slog.Any("patch", &patch), "[redacted]"},
		{"Subject in a group", slog.Group("req", slog.Any("subject", subject)), id},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).LogAttrs(t.Context(), slog.LevelInfo, "vault call", tt.attr)
			out := buf.String()
			if !json.Valid(buf.Bytes()) {
				t.Fatalf("log line is not JSON: %s", out)
			}
			for _, secret := range []string{email, phone, name, ext, "lovelace", "2079460958"} {
				if strings.Contains(strings.ToLower(out), strings.ToLower(secret)) {
					t.Errorf("log line contains %q: %s", secret, out)
				}
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("log line lacks %q: %s", tt.want, out)
			}
		})
	}
}
