package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parse(t *testing.T, args ...string) *Config {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &Config{}
	FlagSet(fs, c)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := parse(t)
	if c.Addr != "127.0.0.1:8080" || c.DataDir != "./gdprd-data" {
		t.Fatalf("defaults: %+v", c)
	}
	if c.DatabaseURL != filepath.Join("gdprd-data", "gdprd.db") || c.KeyStoreURL != filepath.Join("gdprd-data", "keys.db") || c.MasterKeyFile != filepath.Join("gdprd-data", "master.key") {
		t.Fatalf("derived paths: %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	t.Setenv("GDPRD_ADDR", "127.0.0.1:9999")
	t.Setenv("GDPRD_DATA_DIR", "/srv/gdprd")
	t.Setenv("GDPRD_DATABASE_URL", "postgres://gdprd:s3cret@db/gdprd")
	t.Setenv("GDPRD_MASTER_KEY_FILE", "/run/secrets/master")
	c := parse(t)
	if c.Addr != "127.0.0.1:9999" || c.DataDir != "/srv/gdprd" || c.MasterKeyFile != "/run/secrets/master" {
		t.Fatalf("environment not applied: %+v", c)
	}
	if c.KeyStoreURL != c.DatabaseURL {
		t.Fatalf("on PostgreSQL the key store defaults to the database URL, got %q", c.KeyStoreURL)
	}
	c = parse(t, "--addr", "127.0.0.1:7000", "--data", "/tmp/x")
	if c.Addr != "127.0.0.1:7000" || c.DataDir != "/tmp/x" {
		t.Fatalf("flags must win over the environment: %+v", c)
	}
}

func TestSecretFromFileAndMasked(t *testing.T) {
	f := filepath.Join(t.TempDir(), "token")
	os.WriteFile(f, []byte("tok-123\n"), 0o600)
	t.Setenv("GDPRD_METRICS_TOKEN_FILE", f)
	t.Setenv("GDPRD_DATABASE_URL", "postgres://gdprd:s3cret@db/gdprd")
	c := parse(t)
	if c.MetricsToken != "tok-123" {
		t.Fatalf("token from file = %q", c.MetricsToken)
	}
	dump := c.LogValue().String()
	if strings.Contains(dump, "tok-123") || strings.Contains(dump, "s3cret") {
		t.Fatalf("config dump leaks a secret: %s", dump)
	}
}

func TestResolveRejects(t *testing.T) {
	for name, c := range map[string]Config{
		"half TLS":  {DataDir: "d", TLSCert: "c", LogLevel: "info"},
		"bad level": {DataDir: "d", LogLevel: "loud"},
		"no data":   {LogLevel: "info"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := c.Resolve(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSMTPSettings(t *testing.T) {
	f := filepath.Join(t.TempDir(), "smtp")
	os.WriteFile(f, []byte("smtps://mailer:pa55word@mail.example.org:465\n"), 0o600)
	t.Setenv("GDPRD_SMTP_URL_FILE", f)
	t.Setenv("GDPRD_PUBLIC_URL", "https://privacy.example.com")
	c := parse(t)
	if c.SMTPURL != "smtps://mailer:pa55word@mail.example.org:465" {
		t.Fatalf("SMTP URL from file = %q", c.SMTPURL)
	}
	if c.SMTPFrom != "privacy@privacy.example.com" {
		t.Fatalf("default sender = %q, want privacy@ the public host", c.SMTPFrom)
	}
	if dump := c.LogValue().String(); strings.Contains(dump, "pa55word") || !strings.Contains(dump, "mailer:****") {
		t.Fatalf("config dump must mask the SMTP password: %s", dump)
	}
	c = parse(t, "--smtp-url", "smtp://relay:25", "--smtp-from", "DPO <dpo@example.com>", "--public-url", "http://127.0.0.1:8080")
	if c.SMTPURL != "smtp://relay:25" || c.SMTPFrom != "DPO <dpo@example.com>" {
		t.Fatalf("flags must win: %q %q", c.SMTPURL, c.SMTPFrom)
	}
	t.Setenv("GDPRD_SMTP_URL_FILE", "")
	t.Setenv("GDPRD_PUBLIC_URL", "")
	if c := parse(t); c.SMTPURL != "" || c.SMTPFrom != "privacy@localhost" {
		t.Fatalf("unset: %q %q", c.SMTPURL, c.SMTPFrom)
	}
}

func TestEditableFields(t *testing.T) {
	c := parse(t)
	if strings.Join(c.EditableFields, ",") != DefaultEditableFields {
		t.Fatalf("default editable fields: %q", c.EditableFields)
	}
	t.Setenv("GDPRD_EDITABLE_FIELDS", "contact.name, profile.*")
	if c = parse(t); strings.Join(c.EditableFields, ",") != "contact.name,profile.*" {
		t.Fatalf("from the environment: %q", c.EditableFields)
	}
	if c = parse(t, "--editable-fields", ""); len(c.EditableFields) != 0 {
		t.Fatalf("the flag must win and may allow nothing: %q", c.EditableFields)
	}
	for _, bad := range []string{"contact", "contact.", "contact.Name", "*.name", "contact.address.city"} {
		t.Run(bad, func(t *testing.T) {
			c := &Config{DataDir: "x", LogLevel: "info", EditableFields: []string{bad}}
			if err := c.Resolve(); err == nil {
				t.Fatalf("%q accepted", bad)
			}
		})
	}
}
