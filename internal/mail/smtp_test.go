package mail_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/mail"
)

func TestNewSMTPParsesTheURL(t *testing.T) {
	t.Parallel()
	const password = "s3cr3t-Passw0rd"
	tests := []struct {
		name    string
		url     string
		from    string
		want    string // String(), "" when NewSMTP must fail
		wantErr string
	}{
		{"defaults to submission", "smtp://mail.example.com", testFrom, "smtp://mail.example.com:587", ""},
		{"credentials and port", "smtp://ops:" + password + "@mail.example.com:2525", testFrom, "smtp://ops@mail.example.com:2525", ""},
		{"starttls required", "smtp://mail.example.com?starttls=required", testFrom, "smtp://mail.example.com:587?starttls=required", ""},
		{"starttls opportunistic", "smtp://mail.example.com?starttls=opportunistic", testFrom, "smtp://mail.example.com:587", ""},
		{"implicit TLS", "smtps://ops:" + password + "@mail.example.com", testFrom, "smtps://ops@mail.example.com:465", ""},
		{"IPv6 host", "smtp://[::1]:25", testFrom, "smtp://[::1]:25", ""},
		{"bare From", "smtp://mail.example.com", "privacy@example.com", "smtp://mail.example.com:587", ""},
		{"unknown scheme", "http://mail.example.com", testFrom, "", "scheme"},
		{"no host", "smtp://:25", testFrom, "", "no host"},
		{"bad port", "smtp://mail.example.com:70000", testFrom, "", "port"},
		{"user without password", "smtp://ops@mail.example.com", testFrom, "", "user and a password"},
		{"starttls typo", "smtp://mail.example.com?starttls=require", testFrom, "", "starttls"},
		{"starttls on smtps", "smtps://mail.example.com?starttls=required", testFrom, "", "smtps"},
		{"unknown parameter", "smtp://mail.example.com?tls=on", testFrom, "", "parameter"},
		{"path", "smtp://mail.example.com/inbox", testFrom, "", "must look like"},
		{"unparsable URL with a password", "smtp://ops:" + password + "@mail.example.com:port", testFrom, "", "must look like"},
		{"no From", "smtp://mail.example.com", "", "", "From"},
		{"bad From", "smtp://mail.example.com", "privacy at example.com", "", "From"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mail.NewSMTP(mail.SMTPConfig{URL: tt.url, From: tt.from})
			if tt.want == "" {
				if err == nil {
					t.Fatalf("NewSMTP accepted %q", tt.url)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not mention %q", err, tt.wantErr)
				}
				assertNoLeak(t, "error", err.Error(), password)
				return
			}
			if err != nil {
				t.Fatalf("NewSMTP: %v", err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSMTPTransportSecurity(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testCA(t)
	users := map[string]string{"ops": "correct-horse"}
	msg := mail.Message{Kind: "notice", To: "frank@example.com", Subject: "Hello", Text: "Body"}
	tests := []struct {
		name      string
		server    serverOptions
		url       string // %s is the server address
		delivered bool
		viaTLS    bool
		user      string
		auths     int    // AUTH attempts the server saw
		errHas    string // in the error when not delivered
	}{
		{name: "opportunistic without TLS on offer", url: "smtp://%s",
			delivered: true},
		{name: "opportunistic upgrades when offered", server: serverOptions{startTLS: serverTLS}, url: "smtp://%s",
			delivered: true, viaTLS: true},
		{name: "STARTTLS required and offered, with AUTH", server: serverOptions{startTLS: serverTLS, users: users},
			url: "smtp://ops:correct-horse@%s?starttls=required", delivered: true, viaTLS: true, user: "ops", auths: 1},
		{name: "STARTTLS required but not offered", url: "smtp://%s?starttls=required",
			errHas: "STARTTLS"},
		{name: "implicit TLS with AUTH", server: serverOptions{implicitTLS: serverTLS, users: users},
			url: "smtps://ops:correct-horse@%s", delivered: true, viaTLS: true, user: "ops", auths: 1},
		{name: "wrong password", server: serverOptions{startTLS: serverTLS, users: users},
			url: "smtp://ops:wrong-horse@%s?starttls=required", auths: 1, errHas: "AUTH failed"},
		{name: "no password over a connection in clear", server: serverOptions{users: users, insecureAuth: true},
			url: "smtp://ops:correct-horse@%s", auths: 0, errHas: "auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, tt.server)
			tr, err := mail.NewSMTP(mail.SMTPConfig{URL: strings.Replace(tt.url, "%s", srv.addr, 1), From: testFrom,
				Timeout: 5 * time.Second, TLSConfig: clientTLS.Clone()})
			if err != nil {
				t.Fatal(err)
			}
			err = tr.Send(context.Background(), msg)
			got := srv.messages()
			if tt.delivered {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if len(got) != 1 || got[0].tls != tt.viaTLS || got[0].user != tt.user {
					t.Fatalf("received %+v, want one message (TLS %v, user %q)", got, tt.viaTLS, tt.user)
				}
			} else {
				if err == nil || len(got) != 0 {
					t.Fatalf("Send = %v with %d messages received, want a failure", err, len(got))
				}
				if jobs.IsPermanent(err) {
					t.Errorf("%v is permanent; a configuration problem must leave time to fix it", err)
				}
				if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.errHas)) {
					t.Errorf("error %q does not mention %q", err, tt.errHas)
				}
				assertNoLeak(t, "error", err.Error(), "correct-horse", "wrong-horse", msg.To)
			}
			srv.mu.Lock()
			auths := srv.authAttempts
			srv.mu.Unlock()
			if auths != tt.auths {
				t.Errorf("server saw %d AUTH attempts, want %d", auths, tt.auths)
			}
		})
	}
}

func TestSMTPErrorsKeepCodesNotAddresses(t *testing.T) {
	t.Parallel()
	const rejected = "Nobody.Here@example.com"
	tests := []struct {
		name      string
		setup     func(*smtpServer)
		permanent bool
		codes     []string
	}{
		{"recipient rejected", func(s *smtpServer) { s.reject = rejected }, true, []string{"550", "5.1.1"}},
		{"try again later", func(s *smtpServer) { s.tempFailures = 1 }, false, []string{"451", "4.3.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, serverOptions{})
			tt.setup(srv)
			tr, err := mail.NewSMTP(mail.SMTPConfig{URL: "smtp://" + srv.addr, From: testFrom, TLSConfig: &tls.Config{}})
			if err != nil {
				t.Fatal(err)
			}
			err = tr.Send(context.Background(), mail.Message{To: rejected, Subject: "S", Text: "T"})
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if jobs.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v (%v)", jobs.IsPermanent(err), tt.permanent, err)
			}
			for _, c := range tt.codes {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("error %q lacks %s", err, c)
				}
			}
			assertNoLeak(t, "error", err.Error(), rejected)
		})
	}
}
