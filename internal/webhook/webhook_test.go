package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/webhook"
)

// The example of the Standard Webhooks reference libraries: secret,
// message id, timestamp, body and the signature they must give.
func TestSignMatchesStandardWebhooksExample(t *testing.T) {
	got, err := webhook.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if _, err := webhook.Sign("whsec_not base64!", "m", time.Unix(0, 0), nil); err == nil {
		t.Fatal("a malformed secret was accepted")
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

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

const backoffBase = 10 * time.Second

type rig struct {
	db     *sqlstore.DB
	kr     *keys.Keyring
	clock  *fakeClock
	svc    *webhook.Service
	runner *jobs.Runner
}

func newRig(t *testing.T, e sqlstore.Engine, maxAttempts int) *rig {
	t.Helper()
	r := &rig{db: sqltest.Open(t, e, "main"), clock: &fakeClock{now: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}}
	var err error
	if r.kr, err = keys.NewKeyring(bytes.Repeat([]byte{9}, keys.KeySize)); err != nil {
		t.Fatal(err)
	}
	r.svc, err = webhook.New(webhook.Options{DB: r.db, Keyring: r.kr, Audit: audit.New(audit.Options{Clock: r.clock.Now}),
		Clock: r.clock.Now, MaxAttempts: maxAttempts})
	if err != nil {
		t.Fatal(err)
	}
	r.runner, err = jobs.NewRunner(r.db, jobs.Options{Clock: r.clock.Now, Rand: func(int64) int64 { return 0 },
		BackoffBase: backoffBase, BackoffMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r.svc.Register(r.runner)
	return r
}

func (r *rig) runDue(t *testing.T, want int) {
	t.Helper()
	n, err := r.runner.RunDue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("ran %d jobs, want %d", n, want)
	}
}

func (r *rig) auditResults(t *testing.T, action string) []audit.Event {
	t.Helper()
	rows, err := r.db.Read().QueryContext(t.Context(), "SELECT target, result FROM audit_events WHERE action = $1 ORDER BY seq", action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var e audit.Event
		rows.Scan(&e.Target, &e.Result)
		out = append(out, e)
	}
	return out
}

// receiver is an HTTP endpoint that checks every request's signature on
// its own (not with the package's Sign) and answers 500 to the first
// failFirst requests (all requests when failFirst < 0).
type receiver struct {
	t         *testing.T
	srv       *httptest.Server
	secret    string
	failFirst int

	mu   sync.Mutex
	got  []received
	bads int
}

type received struct {
	id, ts string
	body   []byte
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	rc := &receiver{t: t, failFirst: failFirst}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

// verify is an independent Standard Webhooks check: HMAC-SHA256 with the
// base64-decoded secret over id.timestamp.body, any of the
// space-separated v1 signatures matching.
func verify(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)))
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, b64, ok := strings.Cut(sig, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if ok && v == "v1" && err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || !verify(rc.secret, r.Header, body) {
		rc.bads++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	rc.got = append(rc.got, received{id: r.Header.Get("webhook-id"), ts: r.Header.Get("webhook-timestamp"), body: body})
	if rc.failFirst < 0 || len(rc.got) <= rc.failFirst {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) received() ([]received, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...), rc.bads
}

func (r *rig) endpoint(t *testing.T, rc *receiver, events ...string) webhook.Endpoint {
	t.Helper()
	ep, secret, err := r.svc.CreateEndpoint(t.Context(), rc.srv.URL+"/hooks", events, "operator:test")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q lacks the whsec_ prefix", secret)
	}
	rc.secret = secret
	return ep
}

func TestDeliveryRetriesWithBackoffUntilAccepted(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		r := newRig(t, e, 5)
		ctx := t.Context()
		rc := newReceiver(t, 2) // fails twice, then accepts
		ep := r.endpoint(t, rc, webhook.SubjectErased)
		other := newReceiver(t, 0)
		r.endpoint(t, other, "subject.created") // not subscribed to erasures

		subject := ids.New("sub_")
		msgID, err := r.svc.Enqueue(ctx, webhook.SubjectErased, webhook.Payload{SubjectID: subject, Categories: []string{"contact", "orders"}})
		if err != nil {
			t.Fatal(err)
		}
		list, err := r.svc.Deliveries(ctx, "", msgID, 0)
		if err != nil || len(list) != 1 || list[0].EndpointID != ep.ID || list[0].State != webhook.Pending {
			t.Fatalf("deliveries after Enqueue = %+v, %v; want one pending to the subscribed endpoint", list, err)
		}
		id := list[0].ID
		start := r.clock.Now()

		// Attempt 1 fails: retried after the base delay.
		r.runDue(t, 1)
		d, _ := r.svc.Delivery(ctx, id)
		if d.State != webhook.Pending || d.Attempts != 1 || d.LastStatus != 500 || !d.NextAttempt.Equal(start.Add(backoffBase)) {
			t.Fatalf("after attempt 1: %+v, want pending, 1 attempt, 500, next at +%s", d, backoffBase)
		}
		r.runDue(t, 0) // not due yet
		// Attempt 2 fails: the delay doubles.
		r.clock.Advance(backoffBase)
		r.runDue(t, 1)
		d, _ = r.svc.Delivery(ctx, id)
		if d.Attempts != 2 || !d.NextAttempt.Equal(r.clock.Now().Add(2*backoffBase)) {
			t.Fatalf("after attempt 2: %+v, want next attempt at +%s", d, 2*backoffBase)
		}
		r.clock.Advance(2*backoffBase - time.Second)
		r.runDue(t, 0)
		// Attempt 3 is accepted.
		r.clock.Advance(time.Second)
		r.runDue(t, 1)
		d, _ = r.svc.Delivery(ctx, id)
		if d.State != webhook.Delivered || d.Attempts != 3 || d.LastStatus != 204 || d.LastError != "" || !d.NextAttempt.IsZero() || d.FinishedAt.IsZero() {
			t.Fatalf("after attempt 3: %+v, want delivered on the 3rd attempt", d)
		}
		r.clock.Advance(time.Hour)
		r.runDue(t, 0)

		got, bads := rc.received()
		if bads != 0 || len(got) != 3 {
			t.Fatalf("receiver: %d signed requests, %d with bad signatures; want 3 and 0", len(got), bads)
		}
		for i, g := range got {
			if g.id != msgID {
				t.Errorf("attempt %d: webhook-id %q, want the same %q on every retry", i+1, g.id, msgID)
			}
		}
		if ts, _ := strconv.ParseInt(got[2].ts, 10, 64); ts != start.Add(3*backoffBase).Unix() {
			t.Errorf("attempt 3 signed at %d, want the time of sending", ts)
		}
		var body map[string]any
		if err := json.Unmarshal(got[0].body, &body); err != nil {
			t.Fatal(err)
		}
		data, _ := body["data"].(map[string]any)
		if body["type"] != webhook.SubjectErased || data["subject_id"] != subject || len(data) != 2 {
			t.Fatalf("body = %s", got[0].body)
		}
		if g, _ := other.received(); len(g) != 0 {
			t.Fatalf("an endpoint not subscribed to %s got %d requests", webhook.SubjectErased, len(g))
		}
		ev := r.auditResults(t, "webhook.delivered")
		if len(ev) != 1 || ev[0].Target != r.kr.AuditTarget("subject", subject) {
			t.Fatalf("delivery audit = %+v, want one event naming the subject by HMAC", ev)
		}
	})
}

func TestDeliveryFailsAfterMaxAttempts(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		const maxAttempts = 4
		r := newRig(t, e, maxAttempts)
		ctx := t.Context()
		rc := newReceiver(t, -1) // always 500
		r.endpoint(t, rc, "*")
		msgID, err := r.svc.Enqueue(ctx, webhook.SubjectErased, webhook.Payload{SubjectID: ids.New("sub_")})
		if err != nil {
			t.Fatal(err)
		}
		for i := range maxAttempts {
			r.runDue(t, 1)
			r.clock.Advance(backoffBase << i)
		}
		r.clock.Advance(24 * time.Hour)
		r.runDue(t, 0)
		list, _ := r.svc.Deliveries(ctx, "", msgID, 0)
		if len(list) != 1 {
			t.Fatalf("deliveries = %+v", list)
		}
		d := list[0]
		if d.State != webhook.Failed || d.Attempts != maxAttempts || d.LastStatus != 500 || !d.NextAttempt.IsZero() || !strings.Contains(d.LastError, "500") {
			t.Fatalf("delivery = %+v, want failed after %d attempts with status 500", d, maxAttempts)
		}
		if got, _ := rc.received(); len(got) != maxAttempts {
			t.Fatalf("receiver got %d requests, want %d", len(got), maxAttempts)
		}
		if ev := r.auditResults(t, "webhook.failed"); len(ev) != 1 || ev[0].Result != "failed" {
			t.Fatalf("failure audit = %+v", ev)
		}
	})
}

func TestWrongSecretIsRejectedByTheReceiver(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		r := newRig(t, e, 1)
		rc := newReceiver(t, 0)
		r.endpoint(t, rc, "*")
		rc.secret = "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)) // not the endpoint's
		if _, err := r.svc.Enqueue(t.Context(), webhook.SubjectErased, webhook.Payload{SubjectID: ids.New("sub_")}); err != nil {
			t.Fatal(err)
		}
		r.runDue(t, 1)
		if got, bads := rc.received(); len(got) != 0 || bads != 1 {
			t.Fatalf("receiver accepted %d, refused %d: the check would pass any signature", len(got), bads)
		}
	})
}

func TestEndpointsAndBadInput(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		r := newRig(t, e, 0)
		ctx := t.Context()
		rc := newReceiver(t, 0)
		ep := r.endpoint(t, rc, webhook.SubjectErased)

		t.Run("secret stored sealed only", func(t *testing.T) {
			var sealed []byte
			r.db.Read().QueryRowContext(ctx, "SELECT sealed FROM webhook_endpoints WHERE id = $1", ep.ID).Scan(&sealed)
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(rc.secret, "whsec_"))
			if len(sealed) == 0 || bytes.Contains(sealed, []byte(rc.secret)) || bytes.Contains(sealed, raw) {
				t.Fatal("the endpoint secret is stored in clear")
			}
		})
		t.Run("bad endpoints refused", func(t *testing.T) {
			for _, tc := range []struct {
				url    string
				events []string
			}{
				{"ftp://example.org/x", []string{"*"}},
				{"/relative", []string{"*"}},
				{"https://example.org/x", nil},
				{"https://example.org/x", []string{"Subject Erased"}},
			} {
				_, _, err := r.svc.CreateEndpoint(ctx, tc.url, tc.events, "operator:test")
				if errcode.Of(err) != errcode.Invalid {
					t.Errorf("CreateEndpoint(%q, %q) = %v, want invalid", tc.url, tc.events, err)
				}
			}
			if eps, _ := r.svc.Endpoints(ctx); len(eps) != 1 {
				t.Fatalf("%d endpoints stored, want 1", len(eps))
			}
		})
		t.Run("payloads that could carry personal data refused", func(t *testing.T) {
			for name, p := range map[string]webhook.Payload{
				"e-mail as subject id": {SubjectID: "ada@example.org"},
				"name as request id":   {RequestID: "Ada Lovelace"},
				"text as category":     {Categories: []string{"Ada's orders"}},
			} {
				if _, err := r.svc.Enqueue(ctx, webhook.SubjectErased, p); errcode.Of(err) != errcode.Invalid {
					t.Errorf("%s: Enqueue = %v, want invalid", name, err)
				}
			}
			if _, err := r.svc.Enqueue(ctx, "not an event", webhook.Payload{}); errcode.Of(err) != errcode.Invalid {
				t.Errorf("bad event type: %v", err)
			}
			if list, _ := r.svc.Deliveries(ctx, "", "", 0); len(list) != 0 {
				t.Fatalf("bad input queued %d deliveries", len(list))
			}
		})
		t.Run("disabled endpoint gets nothing new", func(t *testing.T) {
			if err := r.svc.DisableEndpoint(ctx, ep.ID, "operator:test"); err != nil {
				t.Fatal(err)
			}
			if err := r.svc.DisableEndpoint(ctx, ep.ID, "operator:test"); errcode.Of(err) != errcode.NotFound {
				t.Fatalf("second disable = %v", err)
			}
			if _, err := r.svc.Enqueue(ctx, webhook.SubjectErased, webhook.Payload{SubjectID: ids.New("sub_")}); err != nil {
				t.Fatal(err)
			}
			if list, _ := r.svc.Deliveries(ctx, ep.ID, "", 0); len(list) != 0 {
				t.Fatalf("disabled endpoint got %d deliveries", len(list))
			}
			if ev := r.auditResults(t, "webhook.endpoint.disable"); len(ev) != 1 {
				t.Fatalf("disable audited %d times", len(ev))
			}
		})
	})
}

func TestUnreachableEndpointErrorKeepsTheURLOut(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		r := newRig(t, e, 1)
		ctx := t.Context()
		rc := newReceiver(t, 0)
		u := rc.srv.URL + "/hook?token=s3cr3t-access-token"
		rc.srv.Close() // nothing listens there any more
		if _, _, err := r.svc.CreateEndpoint(ctx, u, []string{"*"}, "operator:test"); err != nil {
			t.Fatal(err)
		}
		msgID, err := r.svc.Enqueue(ctx, webhook.SubjectErased, webhook.Payload{SubjectID: ids.New("sub_")})
		if err != nil {
			t.Fatal(err)
		}
		r.runDue(t, 1)
		list, _ := r.svc.Deliveries(ctx, "", msgID, 0)
		if len(list) != 1 || list[0].State != webhook.Failed || list[0].LastStatus != 0 || list[0].LastError == "" {
			t.Fatalf("deliveries = %+v, want one failed without an HTTP status", list)
		}
		var jobErr string
		r.db.Read().QueryRowContext(ctx, "SELECT last_error FROM jobs WHERE id = $1", list[0].ID).Scan(&jobErr)
		if strings.Contains(list[0].LastError+jobErr, "s3cr3t") {
			t.Fatalf("the stored error repeats the endpoint URL: %q / %q", list[0].LastError, jobErr)
		}
	})
}
