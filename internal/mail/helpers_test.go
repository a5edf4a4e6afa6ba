package mail_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/mail"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

const testFrom = "Example Privacy Team <privacy@example.org>"

// newSealer returns a real AES-256-GCM sealer: a data key from a keyring
// built on a fixed master key.
func newSealer(t *testing.T) *mail.KeySealer {
	t.Helper()
	return mail.NewKeySealer(newDataKey(t))
}

func newDataKey(t *testing.T) *keys.DataKey {
	t.Helper()
	k, err := keys.NewKeyring(bytes.Repeat([]byte{7}, keys.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	kekID, _, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	_, _, dk, err := k.NewDataKey(kekID)
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

// fakeClock is a settable clock shared by a test, its outbox and runner.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now().Truncate(time.Microsecond)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rig is an outbox wired to a runner and a real SMTP server, as the app
// wires them, with a fake clock and every log line captured.
type rig struct {
	db     *sqlstore.DB
	clock  *fakeClock
	outbox *mail.Outbox
	runner *jobs.Runner
	logs   *syncBuffer
}

func newRig(t *testing.T, db *sqlstore.DB, srv *smtpServer) *rig {
	t.Helper()
	tr, err := mail.NewSMTP(mail.SMTPConfig{URL: "smtp://" + srv.addr, From: testFrom, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rg := &rig{db: db, clock: newFakeClock(), logs: &syncBuffer{}}
	// Debug level, so that even chatty lines are checked for leaks.
	log := slog.New(slog.NewJSONHandler(rg.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rg.outbox, err = mail.New(db, mail.Options{Sealer: newSealer(t), Transport: tr, Clock: rg.clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rg.runner, err = jobs.NewRunner(db, jobs.Options{Clock: rg.clock.Now, Rand: func(int64) int64 { return 0 }, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := rg.outbox.Register(rg.runner); err != nil {
		t.Fatal(err)
	}
	return rg
}

// queue queues messages in one transaction and returns their IDs.
func (rg *rig) queue(t *testing.T, msgs ...mail.Message) []string {
	t.Helper()
	var ids []string
	err := rg.db.Write(context.Background(), func(tx *sqlstore.Tx) error {
		ids = ids[:0]
		for _, m := range msgs {
			id, err := rg.outbox.Queue(context.Background(), tx, m)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("queue: %v", err)
	}
	return ids
}

// runDue runs the due jobs and checks how many ran.
func (rg *rig) runDue(t *testing.T, want int) {
	t.Helper()
	n, err := rg.runner.RunDue(context.Background())
	if err != nil {
		t.Fatalf("RunDue: %v", err)
	}
	if n != want {
		t.Fatalf("RunDue ran %d jobs, want %d", n, want)
	}
}

func (rg *rig) job(t *testing.T, id string) jobs.Job {
	t.Helper()
	j, err := jobs.Get(context.Background(), rg.db.Read(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (rg *rig) record(t *testing.T, id string) mail.Record {
	t.Helper()
	r, err := mail.Lookup(context.Background(), rg.db.Read(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sealed reads a message's sealed payload (nil once erased).
func (rg *rig) sealed(t *testing.T, id string) []byte {
	t.Helper()
	var b []byte
	if err := rg.db.Read().QueryRowContext(context.Background(),
		"SELECT sealed FROM mail_messages WHERE id = $1", id).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

// assertNoLeak fails if any secret occurs in text, in any letter case.
func assertNoLeak(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	low := strings.ToLower(text)
	for _, s := range secrets {
		if strings.Contains(low, strings.ToLower(s)) {
			t.Errorf("%s contains %q:\n%s", where, s, text)
		}
	}
}

// serverOptions shape a test SMTP server.
type serverOptions struct {
	// startTLS offers STARTTLS with this certificate.
	startTLS *tls.Config
	// implicitTLS makes the listener speak TLS from the first byte.
	implicitTLS *tls.Config
	// users enables AUTH PLAIN for these user/password pairs.
	users map[string]string
	// insecureAuth offers AUTH on a connection without TLS.
	insecureAuth bool
}

// smtpServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// keeps what it receives and can be told to refuse.
type smtpServer struct {
	addr string
	opts serverOptions

	mu           sync.Mutex
	received     []received
	tempFailures int            // DATA commands still to answer 451
	reject       string         // recipient answered 550 at RCPT
	rcpts        map[string]int // RCPT commands per address
	authAttempts int
}

// received is one accepted message.
type received struct {
	from string
	to   []string
	data []byte
	user string // authenticated user, "" without AUTH
	tls  bool
}

func startSMTP(t *testing.T, opts serverOptions) *smtpServer {
	t.Helper()
	srv := &smtpServer{opts: opts, rcpts: map[string]int{}}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: srv, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.TLSConfig = opts.startTLS
	s.AllowInsecureAuth = opts.insecureAuth
	s.ErrorLog = log2test{t}
	var l net.Listener
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.implicitTLS != nil {
		l = tls.NewListener(l, opts.implicitTLS)
	}
	srv.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(l)
	}()
	t.Cleanup(func() {
		// Closing the listener ourselves stops Serve even if it had not
		// registered the listener with the server yet.
		l.Close()
		s.Close()
		<-done
	})
	return srv
}

func (srv *smtpServer) messages() []received {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]received(nil), srv.received...)
}

func (srv *smtpServer) rcptCount(addr string) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.rcpts[addr]
}

// log2test sends the server's error log to the test log.
type log2test struct{ t *testing.T }

func (l log2test) Printf(format string, v ...any) { l.t.Logf("smtp server: "+format, v...) }
func (l log2test) Println(v ...any)               { l.t.Log(append([]any{"smtp server:"}, v...)...) }

// session is one SMTP connection to the test server.
type session struct {
	srv  *smtpServer
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (s *session) AuthMechanisms() []string {
	if s.srv.opts.users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s.srv.mu.Lock()
		defer s.srv.mu.Unlock()
		s.srv.authAttempts++
		if want, ok := s.srv.opts.users[username]; !ok || want != password {
			return errors.New("invalid credentials")
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.opts.users != nil && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.rcpts[to]++
	if s.srv.reject != "" && strings.EqualFold(to, s.srv.reject) {
		// Real servers repeat the address, so this checks that it does
		// not travel on into last_error or the logs.
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: mailbox unavailable"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if s.srv.tempFailures > 0 {
		s.srv.tempFailures--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later for " + strings.Join(s.to, ", ")}
	}
	s.srv.received = append(s.srv.received, received{from: s.from, to: s.to, data: data, user: s.user, tls: isTLS})
	return nil
}

func (s *session) Reset() { s.from, s.to = "", nil }

func (s *session) Logout() error { return nil }

// parsed is a received message decoded the way a mail client would.
type parsed struct {
	header     netmail.Header
	rawSubject string
	subject    string
	text, html string
}

func parseMessage(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v", err)
	}
	p := parsed{header: m.Header, rawSubject: m.Header.Get("Subject")}
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(p.rawSubject); err != nil {
		t.Fatalf("subject %q does not decode: %v", p.rawSubject, err)
	}
	ct, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type: %v", err)
	}
	if !strings.HasPrefix(ct, "multipart/") {
		decodeBody(t, ct, m.Header.Get("Content-Transfer-Encoding"), m.Body, &p)
		return p
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		pct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		// NextPart has already undone quoted-printable.
		decodeBody(t, pct, part.Header.Get("Content-Transfer-Encoding"), part, &p)
	}
	return p
}

// decodeBody reads one body part into p.text or p.html by its type.
func decodeBody(t *testing.T, contentType, cte string, r io.Reader, p *parsed) {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	// The line break that ends a body on the wire is not part of the text.
	s := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	switch contentType {
	case "text/plain":
		p.text = s
	case "text/html":
		p.html = s
	default:
		t.Fatalf("unexpected part %s", contentType)
	}
}

// testCA returns a server certificate for 127.0.0.1 and a client config
// that trusts it.
func testCA(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gdprd test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	return server, &tls.Config{RootCAs: pool}
}
