// Package config turns flags, GDPRD_* environment variables and *_FILE
// secrets into one typed Config. Precedence: a flag set on the command line
// wins over the environment, which wins over the default.
package config

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of gdprd.
type Config struct {
	Addr             string        // GDPRD_ADDR, --addr
	DataDir          string        // GDPRD_DATA_DIR, --data
	DatabaseURL      string        // GDPRD_DATABASE_URL: postgres://… selects PostgreSQL; default <data>/gdprd.db
	KeyStoreURL      string        // GDPRD_KEYSTORE_URL: default <data>/keys.db (SQLite) or the database URL (PostgreSQL)
	MasterKeyFile    string        // GDPRD_MASTER_KEY_FILE: default <data>/master.key
	LogLevel         string        // GDPRD_LOG_LEVEL: debug, info, warn, error
	MetricsToken     string        // GDPRD_METRICS_TOKEN(_FILE): bearer token for /metrics; without it /metrics answers loopback only
	DurableReadAudit bool          // GDPRD_DURABLE_READ_AUDIT: fsync the audit event of every read before answering
	TLSCert, TLSKey  string        // GDPRD_TLS_CERT, GDPRD_TLS_KEY: serve HTTPS
	ShutdownTimeout  time.Duration // GDPRD_SHUTDOWN_TIMEOUT
	PublicURL        string        // GDPRD_PUBLIC_URL: how people reach this server (links in mail, demo output)
	// The controller named in receipts (Kantara piiControllers) and its
	// jurisdiction: GDPRD_CONTROLLER_NAME, GDPRD_CONTROLLER_EMAIL,
	// GDPRD_CONTROLLER_ADDRESS, GDPRD_JURISDICTION (default EU).
	ControllerName, ControllerEmail, ControllerAddress, Jurisdiction string
	// ErasurePolicyFile is a JSON file of legal holds per category and the
	// categories whose erasure needs staff approval (GDPRD_ERASURE_POLICY_FILE);
	// without it nothing is held and security data needs approval.
	ErasurePolicyFile string
	SMTPURL           string   // GDPRD_SMTP_URL(_FILE): smtp[s]://user:pass@host:port; without it mail stays queued
	SMTPFrom          string   // GDPRD_SMTP_FROM: sender address of gdprd's mail
	WidgetOrigins     []string // GDPRD_WIDGET_ORIGINS: comma-separated origins of the sites that embed the consent widget
	WidgetRate        int      // GDPRD_WIDGET_RATE: widget requests per second per client address
	// EditableFields names the data fields a person may correct
	// themself in the privacy portal, as category.field or category.*
	// (GDPRD_EDITABLE_FIELDS); corrections of any other field become a
	// rectification request for staff (Art. 16).
	EditableFields []string
}

// DefaultEditableFields is what people may correct themself unless the
// operator says otherwise: their name and postal address, and their
// language. Identifiers (e-mail, phone) and everything the service
// records about them (billing, security, usage) go through staff.
const DefaultEditableFields = "contact.name,contact.street,contact.city,contact.postal_code,profile.language"

// FlagSet binds every setting to a flag on fs, with defaults taken from the
// environment. Call Resolve after fs.Parse.
func FlagSet(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Addr, "addr", env("GDPRD_ADDR", "127.0.0.1:8080"), "listen address (GDPRD_ADDR)")
	fs.StringVar(&c.DataDir, "data", env("GDPRD_DATA_DIR", "./gdprd-data"), "data directory (GDPRD_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("GDPRD_DATABASE_URL", ""), "postgres:// URL or SQLite file; default <data>/gdprd.db (GDPRD_DATABASE_URL)")
	fs.StringVar(&c.KeyStoreURL, "keystore-url", env("GDPRD_KEYSTORE_URL", ""), "key store database; default <data>/keys.db, or the database URL on PostgreSQL (GDPRD_KEYSTORE_URL)")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", env("GDPRD_MASTER_KEY_FILE", ""), "master key file; default <data>/master.key (GDPRD_MASTER_KEY_FILE)")
	fs.StringVar(&c.LogLevel, "log-level", env("GDPRD_LOG_LEVEL", "info"), "log level: debug, info, warn, error (GDPRD_LOG_LEVEL)")
	fs.StringVar(&c.MetricsToken, "metrics-token", secretEnv("GDPRD_METRICS_TOKEN"), "bearer token for /metrics (GDPRD_METRICS_TOKEN or GDPRD_METRICS_TOKEN_FILE)")
	fs.BoolVar(&c.DurableReadAudit, "durable-read-audit", env("GDPRD_DURABLE_READ_AUDIT", "") == "true", "fsync each read's audit event before answering (GDPRD_DURABLE_READ_AUDIT)")
	fs.StringVar(&c.TLSCert, "tls-cert", env("GDPRD_TLS_CERT", ""), "TLS certificate file (GDPRD_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", env("GDPRD_TLS_KEY", ""), "TLS key file (GDPRD_TLS_KEY)")
	d, _ := time.ParseDuration(env("GDPRD_SHUTDOWN_TIMEOUT", "20s"))
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", d, "graceful shutdown limit (GDPRD_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&c.PublicURL, "public-url", env("GDPRD_PUBLIC_URL", ""), "public base URL (GDPRD_PUBLIC_URL)")
	fs.StringVar(&c.ControllerName, "controller-name", env("GDPRD_CONTROLLER_NAME", "The operator of this service"), "data controller named in receipts (GDPRD_CONTROLLER_NAME)")
	fs.StringVar(&c.ControllerEmail, "controller-email", env("GDPRD_CONTROLLER_EMAIL", ""), "controller's privacy contact e-mail (GDPRD_CONTROLLER_EMAIL)")
	fs.StringVar(&c.ControllerAddress, "controller-address", env("GDPRD_CONTROLLER_ADDRESS", ""), "controller's postal address (GDPRD_CONTROLLER_ADDRESS)")
	fs.StringVar(&c.Jurisdiction, "jurisdiction", env("GDPRD_JURISDICTION", "EU"), "controller's jurisdiction, e.g. DE (GDPRD_JURISDICTION)")
	fs.StringVar(&c.ErasurePolicyFile, "erasure-policy-file", env("GDPRD_ERASURE_POLICY_FILE", ""), "JSON file of legal holds and approval-required categories (GDPRD_ERASURE_POLICY_FILE)")
	fs.StringVar(&c.SMTPURL, "smtp-url", secretEnv("GDPRD_SMTP_URL"), "mail server, smtp://user:pass@host:587 or smtps://…:465; unset = mail stays queued (GDPRD_SMTP_URL or GDPRD_SMTP_URL_FILE)")
	fs.StringVar(&c.SMTPFrom, "smtp-from", env("GDPRD_SMTP_FROM", ""), "sender address of gdprd's mail; default privacy@<public host> (GDPRD_SMTP_FROM)")
	c.WidgetOrigins = splitList(env("GDPRD_WIDGET_ORIGINS", ""))
	wr, _ := strconv.Atoi(env("GDPRD_WIDGET_RATE", "20"))
	fs.IntVar(&c.WidgetRate, "widget-rate", wr, "consent-widget requests per second per client address, burst twice that (GDPRD_WIDGET_RATE)")
	fs.Func("widget-origins", "comma-separated origins allowed to embed the consent widget, e.g. https://shop.example (GDPRD_WIDGET_ORIGINS)",
		func(v string) error { c.WidgetOrigins = splitList(v); return nil })
	c.EditableFields = splitList(env("GDPRD_EDITABLE_FIELDS", DefaultEditableFields))
	fs.Func("editable-fields", "comma-separated data fields people may correct themselves in the portal, category.field or category.*; others become requests for staff (GDPRD_EDITABLE_FIELDS)",
		func(v string) error { c.EditableFields = splitList(v); return nil })
}

// splitList splits a comma-separated setting, dropping blanks and any
// trailing slash (an origin has no path).
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimRight(strings.TrimSpace(s), "/"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Resolve fills the defaults that depend on other settings and checks the
// result.
func (c *Config) Resolve() error {
	if c.DataDir == "" {
		return fmt.Errorf("the data directory must not be empty")
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "gdprd.db")
	}
	if c.KeyStoreURL == "" {
		if strings.HasPrefix(c.DatabaseURL, "postgres") {
			c.KeyStoreURL = c.DatabaseURL
		} else {
			c.KeyStoreURL = filepath.Join(c.DataDir, "keys.db")
		}
	}
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("TLS needs both GDPRD_TLS_CERT and GDPRD_TLS_KEY")
	}
	if c.PublicURL == "" {
		scheme := "http"
		if c.TLSCert != "" {
			scheme = "https"
		}
		c.PublicURL = scheme + "://" + c.Addr
	}
	if c.SMTPFrom == "" {
		host := "localhost"
		if u, err := url.Parse(c.PublicURL); err == nil && u.Hostname() != "" && strings.Contains(u.Hostname(), ".") && net.ParseIP(u.Hostname()) == nil {
			host = u.Hostname()
		}
		c.SMTPFrom = "privacy@" + host
	}
	for _, f := range c.EditableFields {
		if !editablePattern.MatchString(f) {
			return fmt.Errorf("editable field %q: write category.field or category.*", f)
		}
	}
	if _, err := c.Level(); err != nil {
		return err
	}
	return nil
}

// editablePattern is one entry of GDPRD_EDITABLE_FIELDS: a category slug
// and a top-level field name, or * for every field of the category.
var editablePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}\.([a-z][a-z0-9_]{0,62}|\*)$`)

// Level parses LogLevel.
func (c *Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("log level %q: %w", c.LogLevel, err)
	}
	return l, nil
}

// LogValue prints the configuration with secrets masked, for the start-up
// log line.
func (c Config) LogValue() slog.Value {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "[set]"
	}
	return slog.GroupValue(
		slog.String("addr", c.Addr), slog.String("data", c.DataDir),
		slog.String("database", maskURL(c.DatabaseURL)), slog.String("keystore", maskURL(c.KeyStoreURL)),
		slog.String("master_key_file", c.MasterKeyFile), slog.String("metrics_token", mask(c.MetricsToken)),
		slog.Bool("durable_read_audit", c.DurableReadAudit), slog.Bool("tls", c.TLSCert != ""),
		slog.String("smtp", maskURL(c.SMTPURL)),
		slog.Any("widget_origins", c.WidgetOrigins), slog.Any("editable_fields", c.EditableFields),
	)
}

// maskURL hides a password in a database URL.
func maskURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 {
		return u
	}
	creds := u[scheme+3 : at]
	if user, _, ok := strings.Cut(creds, ":"); ok {
		return u[:scheme+3] + user + ":****" + u[at:]
	}
	return u
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// secretEnv reads NAME, or the file named by NAME_FILE, so secrets need not
// sit in the environment.
func secretEnv(name string) string {
	if f := os.Getenv(name + "_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return os.Getenv(name)
}
