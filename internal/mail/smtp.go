package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/gdprd/gdprd/internal/jobs"
)

// DefaultSMTPTimeout bounds one delivery (connect, TLS, AUTH, send) when
// SMTPConfig.Timeout is zero; the job runner's deadline may cut it shorter.
const DefaultSMTPTimeout = 30 * time.Second

// SMTPConfig configures the SMTP transport.
type SMTPConfig struct {
	// URL is GDPRD_SMTP_URL:
	//
	//	smtp://[user:password@]host[:port][?starttls=opportunistic|required]
	//	smtps://[user:password@]host[:port]
	//
	// smtp:// (port 587 by default) upgrades with STARTTLS when the server
	// offers it, or refuses to send without it when starttls=required;
	// smtps:// (port 465 by default) speaks TLS from the first byte.
	// Credentials are only sent over TLS, so a server that offers no TLS
	// and only plain-text AUTH mechanisms gets no password.
	URL string
	// From is the sender address, optionally with a display name
	// ("Example Privacy Team <privacy@example.com>").
	From string
	// Timeout bounds one delivery (DefaultSMTPTimeout when zero).
	Timeout time.Duration
	// TLSConfig, when set, replaces the default TLS settings, for a
	// server whose certificate comes from a private CA. ServerName is
	// filled in from the URL when empty.
	TLSConfig *tls.Config
}

// SMTP is a Transport that submits mail to one SMTP server.
type SMTP struct {
	host        string
	port        int
	implicitTLS bool
	requireTLS  bool
	user, pass  string
	from        string
	timeout     time.Duration
	tlsConfig   *tls.Config
}

// NewSMTP checks cfg and returns the transport. Errors never repeat the
// URL, which may hold a password.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, errors.New("mail: SMTP URL must look like smtp://user:password@host:port")
	}
	s := &SMTP{host: u.Hostname(), timeout: cfg.Timeout}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicitTLS = 465, true
	default:
		return nil, errors.New("mail: SMTP URL scheme must be smtp or smtps")
	}
	if s.host == "" {
		return nil, errors.New("mail: SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port < 1 || s.port > 65535 {
			return nil, errors.New("mail: SMTP URL port must be 1-65535")
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		if s.user == "" || s.pass == "" {
			return nil, errors.New("mail: SMTP URL needs both a user and a password, or neither")
		}
	}
	for k, v := range u.Query() {
		if k != "starttls" || len(v) != 1 {
			return nil, fmt.Errorf("mail: unknown SMTP URL parameter %q", k)
		}
		if s.implicitTLS {
			return nil, errors.New("mail: starttls does not apply to smtps://, which is always TLS")
		}
		switch v[0] {
		case "opportunistic":
		case "required":
			s.requireTLS = true
		default:
			return nil, errors.New("mail: starttls must be opportunistic or required")
		}
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, errors.New("mail: the From address is not valid")
	}
	s.from = from.String()
	if s.timeout <= 0 {
		s.timeout = DefaultSMTPTimeout
	}
	if cfg.TLSConfig != nil {
		s.tlsConfig = cfg.TLSConfig.Clone()
	} else {
		s.tlsConfig = &tls.Config{}
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = s.host
	}
	s.tlsConfig.MinVersion = max(s.tlsConfig.MinVersion, tls.VersionTLS12)
	return s, nil
}

// String describes the server for logs and config dumps, without the
// password.
func (s *SMTP) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(s.host, strconv.Itoa(s.port))}
	if s.implicitTLS {
		u.Scheme = "smtps"
	}
	if s.user != "" {
		u.User = url.User(s.user)
	}
	if s.requireTLS {
		u.RawQuery = "starttls=required"
	}
	return u.String()
}

// Send delivers m over one SMTP session. A reply of 5xx to the recipient
// or to the message itself is permanent; everything else (4xx replies,
// connection, TLS or AUTH trouble, which a fixed configuration or a
// recovered server cures) is worth a retry.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return errors.New("mail: the From address is not valid")
	}
	if err := msg.To(m.To); err != nil {
		return jobs.Permanent(errors.New("mail: the recipient address is not valid"))
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}

	timeout := s.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return context.DeadlineExceeded
	}
	opts := []gomail.Option{gomail.WithPort(s.port), gomail.WithTimeout(timeout), gomail.WithTLSConfig(s.tlsConfig)}
	switch {
	case s.implicitTLS:
		opts = append(opts, gomail.WithSSL())
	case s.requireTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("mail: smtp client: %w", err)
	}
	err = c.DialAndSendWithContext(ctx, msg)
	if err == nil || msg.IsDelivered() {
		// Delivered means the server accepted the message; a failure after
		// that (RSET, QUIT) must not send it again.
		return nil
	}
	return deliveryError(err)
}

// DeliveryError is a refusal by the SMTP server during a transaction. Its
// text carries the reply code, enhanced status code and the command it
// answered, never the server's free text, which often repeats the
// recipient's address.
type DeliveryError struct {
	Code     int    // 421, 451, 550…; 0 if the server gave none
	Enhanced string // "5.1.1", or "" if the server does not send them
	Stage    string // the command the server refused
}

func (e *DeliveryError) Error() string {
	s := "mail: smtp " + strconv.Itoa(e.Code)
	if e.Enhanced != "" {
		s += " " + e.Enhanced
	}
	return s + " while " + e.Stage
}

// deliveryError maps go-mail's error to ours. go-mail's SendError text
// lists the affected recipients, so only its codes are kept.
func deliveryError(err error) error {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		// Connecting, TLS or AUTH: before any recipient was named.
		return fmt.Errorf("mail: smtp: %w", err)
	}
	de := &DeliveryError{Code: se.ErrorCode(), Enhanced: se.EnhancedStatusCode(), Stage: se.Reason.String()}
	switch se.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		// About this message or recipient: retrying cannot change a 5xx.
		if !se.IsTemp() && de.Code >= 500 && de.Code < 600 {
			return jobs.Permanent(de)
		}
	}
	// A 5xx to MAIL FROM usually means our sender address or account is
	// misconfigured, which an operator can fix before the retries run out.
	return de
}
