package export_test

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// download redeems token and streams the package.
func download(t *testing.T, f *fixture, token string) ([]byte, error) {
	t.Helper()
	p, err := f.exp.Download(t.Context(), token)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := p.Stream(&buf); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	return buf.Bytes(), nil
}

func TestLinkSingleUseAndExpiry(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		id := f.newSubject(t, richData)
		l, err := f.exp.CreateLink(t.Context(), staff, id, export.Access, export.Encryption{})
		if err != nil {
			t.Fatalf("CreateLink: %v", err)
		}
		if want := f.clock.Now().Add(24 * time.Hour); !l.ExpiresAt.Equal(want) {
			t.Errorf("expires at %v, want %v (24 h)", l.ExpiresAt, want)
		}
		// Only the token's keyed hash is stored.
		var stored []byte
		if err := f.db.Read().QueryRowContext(t.Context(), "SELECT token_hash FROM export_links WHERE id = $1", l.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(stored, []byte(l.Token)) || !bytes.Equal(stored, f.kr.HashSecret(l.Token)) {
			t.Errorf("the stored token is not its keyed hash")
		}
		if f.auditCount(t, "export.link.create", "ok") != 1 {
			t.Errorf("link creation not audited")
		}

		// Tampered: one character changed.
		bad := []byte(l.Token)
		bad[5] ^= 1
		if bad[5] == '-' || bad[5] == '_' {
			bad[5] = 'A'
		}
		_, err = download(t, f, string(bad))
		wantCode(t, err, errcode.NotFound)
		_, err = download(t, f, "not-a-token")
		wantCode(t, err, errcode.NotFound)

		b, err := download(t, f, l.Token)
		if err != nil {
			t.Fatalf("first download: %v", err)
		}
		checkPackage(t, b, id, richData)
		_, err = download(t, f, l.Token)
		wantCode(t, err, errcode.Gone)

		// Expiry: a fresh link, used one microsecond after it expires.
		l2, err := f.exp.CreateLink(t.Context(), staff, id, export.Portability, export.Encryption{})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.advance(24 * time.Hour)
		_, err = download(t, f, l2.Token)
		wantCode(t, err, errcode.Gone)

		if got := f.auditCount(t, "export.link.use", "ok"); got != 1 {
			t.Errorf("%d successful uses audited, want 1", got)
		}
		if got := f.auditCount(t, "export.link.use", "gone"); got != 2 {
			t.Errorf("%d used/expired refusals audited, want 2", got)
		}
		if got := f.auditCount(t, "export.link.use", "not_found"); got != 2 {
			t.Errorf("%d unknown-token refusals audited, want 2", got)
		}
	})
}

func TestLinkConcurrentDownloadsExactlyOne(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		id := f.newSubject(t, richData)
		l, err := f.exp.CreateLink(t.Context(), staff, id, export.Access, export.Encryption{})
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				p, err := f.exp.Download(t.Context(), l.Token)
				if err == nil {
					err = p.Stream(io.Discard)
				}
				errs[i] = err
			})
		}
		close(start)
		wg.Wait()
		ok, gone := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errcode.Of(err) == errcode.Gone:
				gone++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 || gone != n-1 {
			t.Errorf("%d downloads succeeded and %d were gone, want 1 and %d", ok, gone, n-1)
		}
	})
}

func TestLinkToRecipientKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqlstore.SQLite)
	id := f.newSubject(t, richData)
	ident, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.exp.CreateLink(t.Context(), staff, id, export.Access, export.Encryption{Recipient: ident.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	f.db.Read().QueryRowContext(t.Context(), "SELECT sealed_options FROM export_links WHERE id = $1", l.ID).Scan(&sealed)
	if len(sealed) == 0 || bytes.Contains(sealed, []byte(ident.Recipient().String())) {
		t.Errorf("the recipient is not stored sealed")
	}
	b, err := download(t, f, l.Token)
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(b), ident)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	plain, _ := io.ReadAll(r)
	checkPackage(t, plain, id, richData)
}

func TestRefusedLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqlstore.SQLite)
	id := f.newSubject(t, richData)
	tests := []struct {
		name    string
		subject string
		kind    export.Kind
		enc     export.Encryption
		code    errcode.Code
	}{
		{"unknown subject", "sub_00000000000000000000000000", export.Access, export.Encryption{}, errcode.NotFound},
		{"malformed subject", "x", export.Access, export.Encryption{}, errcode.NotFound},
		{"unknown kind", id, "erasure", export.Encryption{}, errcode.Invalid},
		{"passphrase", id, export.Access, export.Encryption{Passphrase: "a long passphrase here"}, errcode.Invalid},
		{"bad recipient", id, export.Access, export.Encryption{Recipient: "ssh-rsa AAAA"}, errcode.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.exp.CreateLink(t.Context(), staff, tt.subject, tt.kind, tt.enc)
			wantCode(t, err, tt.code)
		})
	}
	var n int
	f.db.Read().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM export_links").Scan(&n)
	if n != 0 {
		t.Errorf("%d links written by refused creations", n)
	}
	if got := f.auditCount(t, "export.link.create", "invalid") + f.auditCount(t, "export.link.create", "not_found"); got != len(tests) {
		t.Errorf("%d refusals audited, want %d", got, len(tests))
	}
}
