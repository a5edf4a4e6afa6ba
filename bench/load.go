package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Phase names, in the order they run. The first is the HTTP-stack
// baseline; create, lookup, get and erase are the vault operations the
// ceiling targets cover; the consent phases run on gdprd alone, before
// erase takes the subjects away.
const (
	phaseHealthz      = "healthz"
	phaseCreate       = "create"
	phaseLookup       = "lookup"
	phaseGet          = "get"
	phaseConsentCheck = "consent-check"
	phaseConsentBatch = "consent-batch"
	phaseErase        = "erase"
)

var (
	phases        = []string{phaseHealthz, phaseCreate, phaseLookup, phaseGet, phaseConsentCheck, phaseConsentBatch, phaseErase}
	consentPhases = []string{phaseConsentCheck, phaseConsentBatch}
)

// phasesFor lists the phases run against a server. The ceiling has no
// consent register, so its consent phases are compared with gdprd's own
// healthz instead.
func phasesFor(kind string) []string {
	if kind == kindCeiling {
		return slices.DeleteFunc(slices.Clone(phases), func(p string) bool { return slices.Contains(consentPhases, p) })
	}
	return phases
}

// The consent phases: every subject grants consentPurpose (set up before
// the clock starts), then consent-check asks GET
// /subjects/{id}/consents/{purpose} once per subject at the run's
// concurrency, and consent-batch sends batchCalls POST /consents/check of
// batchPairs pairs each, one after another from a single client, since
// the batch target is a latency, not a throughput.
const (
	consentPurpose = "bench-newsletter"
	batchCalls     = 50
	batchPairs     = 1000
)

// maxErrorSamples bounds the distinct error messages kept per phase.
const maxErrorSamples = 5

// maxResponse bounds how much of a response body is read.
const maxResponse = 1 << 20

// result is what one phase against one server measured.
type result struct {
	Server      string   `json:"server"`
	Clients     int      `json:"clients"`
	Phase       string   `json:"phase"`
	Requests    int      `json:"requests"`
	Errors      int      `json:"errors"`
	Seconds     float64  `json:"seconds"`
	RPS         float64  `json:"rps"` // successful requests per second
	P50ms       float64  `json:"p50_ms"`
	P99ms       float64  `json:"p99_ms"`
	Maxms       float64  `json:"max_ms"`
	Connections int64    `json:"connections"`  // TCP connections opened during the phase
	ClientCPU   float64  `json:"client_cpu_s"` // CPU seconds the load generator used
	ServerCPU   float64  `json:"server_cpu_s"` // CPU seconds the server used
	Samples     []string `json:"error_samples,omitempty"`
}

// subject is one subject a client created and later reads and erases.
type subject struct {
	id, email string
}

// client is one keep-alive HTTP client with the subjects it created.
type client struct {
	index    int
	subjects []subject
}

// load drives one server with a fixed number of clients through the
// phases.
type load struct {
	srv     *server
	clients []*client
	n       int          // operations per client per phase
	headers http.Header  // extra headers on API requests
	token   string       // random, makes identifiers unique per run
	hc      *http.Client // shared by the clients; one connection each
	dials   atomic.Int64 // connections opened so far
}

// newLoad prepares clients for srv. The transport keeps one idle
// connection per client, so every client reuses its connection.
func newLoad(srv *server, clients, n int, timeout time.Duration, headers http.Header) *load {
	l := &load{srv: srv, n: n, headers: headers, token: randomHex(4)}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			l.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		MaxConnsPerHost:     clients,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	l.hc = &http.Client{Transport: tr, Timeout: timeout}
	for i := range clients {
		l.clients = append(l.clients, &client{index: i})
	}
	return l
}

// close drops the clients' connections.
func (l *load) close() { l.hc.CloseIdleConnections() }

// request is one HTTP request of a phase and how to judge its answer.
type request struct {
	method, path string
	body         []byte
	auth         bool
	// check, if set, inspects a 2xx answer's body; an error makes the
	// request count as failed.
	check func(body []byte) error
}

// run executes one phase: every client runs its requests back to back,
// all clients starting together. Any transport error, non-2xx status or
// failed check counts as an error.
func (l *load) run(ctx context.Context, phase string) result {
	reqs := make([][]request, len(l.clients))
	for i, c := range l.clients {
		reqs[i] = l.requests(phase, c)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    int
		samples = map[string]bool{}
		lats    = make([][]time.Duration, len(l.clients))
		start   = make(chan struct{})
	)
	for i := range l.clients {
		lats[i] = make([]time.Duration, 0, len(reqs[i]))
		wg.Go(func() {
			<-start
			for _, r := range reqs[i] {
				if ctx.Err() != nil || !l.srv.alive() {
					return
				}
				t := time.Now()
				err := l.do(ctx, r)
				lats[i] = append(lats[i], time.Since(t))
				if err != nil {
					mu.Lock()
					errs++
					if len(samples) < maxErrorSamples {
						samples[fmt.Sprintf("%s (%s): %v", phase, r.method, err)] = true
					}
					mu.Unlock()
				}
			}
		})
	}
	dials := l.dials.Load()
	pid := l.srv.cmd.Process.Pid
	cpu0, srvCPU0 := selfCPU(), procCPU(pid)
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	cpu, srvCPU1 := selfCPU()-cpu0, procCPU(pid)
	srvCPU := srvCPU1 - srvCPU0
	if srvCPU0 < 0 || srvCPU1 < 0 {
		srvCPU = 0 // the server died, or its CPU time cannot be read
	}

	var all []time.Duration
	for _, ls := range lats {
		all = append(all, ls...)
	}
	res := result{
		Server:      l.srv.kind,
		Clients:     len(l.clients),
		Phase:       phase,
		Requests:    len(all),
		Errors:      errs,
		Seconds:     elapsed.Seconds(),
		Connections: l.dials.Load() - dials,
		ClientCPU:   cpu.Seconds(),
		ServerCPU:   srvCPU.Seconds(),
	}
	if elapsed > 0 {
		res.RPS = float64(len(all)-errs) / elapsed.Seconds()
	}
	res.P50ms, res.P99ms, res.Maxms = percentiles(all)
	for s := range samples {
		res.Samples = append(res.Samples, s)
	}
	sort.Strings(res.Samples)
	return res
}

// requests builds a client's requests for a phase before the clock starts,
// so that building bodies does not count against the server. Lookup, get
// and erase use the subjects the client created successfully.
func (l *load) requests(phase string, c *client) []request {
	var out []request
	switch phase {
	case phaseHealthz:
		for range l.n {
			out = append(out, request{method: http.MethodGet, path: "/healthz"})
		}
	case phaseCreate:
		c.subjects = make([]subject, 0, l.n)
		for k := range l.n {
			body, email := l.newSubject(c.index, k)
			out = append(out, request{
				method: http.MethodPost, path: "/api/v1/subjects", body: body, auth: true,
				check: func(b []byte) error {
					var v struct {
						ID string `json:"id"`
					}
					if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
						return fmt.Errorf("201 without an id: %q", snippet(b))
					}
					c.subjects = append(c.subjects, subject{id: v.ID, email: email})
					return nil
				},
			})
		}
	case phaseLookup:
		for _, s := range c.subjects {
			body, _ := json.Marshal(map[string]string{"email": s.email})
			out = append(out, request{
				method: http.MethodPost, path: "/api/v1/subjects/lookup", body: body, auth: true,
				check: checkID(s.id),
			})
		}
	case phaseGet:
		for _, s := range c.subjects {
			out = append(out, request{
				method: http.MethodGet, path: "/api/v1/subjects/" + url.PathEscape(s.id), auth: true,
				check: checkID(s.id),
			})
		}
	case phaseConsentCheck:
		for _, s := range c.subjects {
			out = append(out, request{
				method: http.MethodGet, path: "/api/v1/subjects/" + url.PathEscape(s.id) + "/consents/" + consentPurpose, auth: true,
				check: checkAllowed,
			})
		}
	case phaseConsentBatch:
		all := l.subjects()
		if c.index != 0 || len(all) == 0 {
			break
		}
		type pair struct {
			SubjectID string `json:"subject_id"`
			Purpose   string `json:"purpose"`
		}
		for call := range batchCalls {
			pairs := make([]pair, batchPairs)
			for i := range pairs {
				pairs[i] = pair{SubjectID: all[(call*batchPairs+i)%len(all)].id, Purpose: consentPurpose}
			}
			body, err := json.Marshal(map[string]any{"checks": pairs})
			if err != nil {
				panic(err) // cannot happen: plain strings
			}
			out = append(out, request{method: http.MethodPost, path: "/api/v1/consents/check", body: body, auth: true, check: checkBatch(batchPairs)})
		}
	case phaseErase:
		for _, s := range c.subjects {
			out = append(out, request{method: http.MethodDelete, path: "/api/v1/subjects/" + url.PathEscape(s.id), auth: true})
		}
	}
	return out
}

// subjects returns every subject the clients created.
func (l *load) subjects() []subject {
	var all []subject
	for _, c := range l.clients {
		all = append(all, c.subjects...)
	}
	return all
}

// checkAllowed accepts a consent check that allows processing: every
// subject granted the purpose before the phase.
func checkAllowed(b []byte) error {
	var d struct {
		Allowed *bool  `json:"allowed"`
		Reason  string `json:"reason"`
	}
	if err := json.Unmarshal(b, &d); err != nil || d.Allowed == nil {
		return fmt.Errorf("answer is not a consent decision: %q", snippet(b))
	}
	if !*d.Allowed {
		return fmt.Errorf("not allowed (%s), but the subject granted %s", d.Reason, consentPurpose)
	}
	return nil
}

// checkBatch accepts a batch answer of n results, all allowed.
func checkBatch(n int) func([]byte) error {
	return func(b []byte) error {
		var v struct {
			Results []struct {
				Allowed bool   `json:"allowed"`
				Reason  string `json:"reason"`
			} `json:"results"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("answer is not a batch of results: %q", snippet(b))
		}
		if len(v.Results) != n {
			return fmt.Errorf("%d results for %d pairs", len(v.Results), n)
		}
		for i, r := range v.Results {
			if !r.Allowed {
				return fmt.Errorf("pair %d not allowed (%s), but every subject granted %s", i, r.Reason, consentPurpose)
			}
		}
		return nil
	}
}

// prepareConsent readies a gdprd for the consent phases, outside the
// clock: it publishes a privacy policy (grants must cite the current
// version), declares consentPurpose through the API and has every subject
// created so far grant it, the clients' connections working in parallel.
func (l *load) prepareConsent(ctx context.Context) error {
	var draft struct {
		Version int `json:"version"`
	}
	steps := []request{
		{method: http.MethodPost, path: "/api/v1/notices/privacy-policy/versions", auth: true,
			body:  []byte(`{"body": "# Privacy Policy\n\nThe benchmark's newsletter goes only to those who asked for it.", "effective_at": "2026-01-01"}`),
			check: func(b []byte) error { return json.Unmarshal(b, &draft) }},
		{method: http.MethodPost, auth: true}, // publish: the path needs the version
		{method: http.MethodPost, path: "/api/v1/purposes", auth: true, body: []byte(`{"slug": "` + consentPurpose + `",
			"legal_basis": "consent", "direct_marketing": true, "retention": "P2Y",
			"names": {"en": "Newsletter", "de": "Newsletter"},
			"descriptions": {"en": "News about our printers.", "de": "Neuigkeiten über unsere Drucker."}}`)},
	}
	for i, r := range steps {
		if i == 1 {
			r.path = fmt.Sprintf("/api/v1/notices/privacy-policy/versions/%d/publish", draft.Version)
		}
		if err := l.do(ctx, r); err != nil {
			return fmt.Errorf("%s %s: %w", r.method, r.path, err)
		}
	}
	grant := []byte(fmt.Sprintf(`{"purpose": %q, "granted": true, "action": "checkbox", "notice_version": %d}`, consentPurpose, draft.Version))
	errs := make([]error, len(l.clients))
	var wg sync.WaitGroup
	for i, c := range l.clients {
		wg.Go(func() {
			for _, s := range c.subjects {
				r := request{method: http.MethodPost, path: "/api/v1/subjects/" + url.PathEscape(s.id) + "/consents", body: grant, auth: true}
				if err := l.do(ctx, r); err != nil {
					errs[i] = fmt.Errorf("grant for %s: %w", s.id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// checkID accepts a subject document with the given id.
func checkID(id string) func([]byte) error {
	return func(b []byte) error {
		var v struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("answer is not a JSON object: %q", snippet(b))
		}
		if v.ID != id {
			return fmt.Errorf("answer is subject %q, want %q", v.ID, id)
		}
		return nil
	}
}

// do sends one request and judges the answer.
func (l *load) do(ctx context.Context, r request) error {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, l.srv.baseURL()+r.path, body)
	if err != nil {
		return err
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.auth {
		req.Header.Set("Accept", "application/json")
		if l.srv.apiKey != "" {
			req.Header.Set("Authorization", "Bearer "+l.srv.apiKey)
		}
		for k, vs := range l.headers {
			req.Header[k] = vs
		}
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL adds nothing but noise
		}
		return err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	// Drain what the limit left so the connection can be reused.
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, snippet(b))
	}
	if err != nil {
		return fmt.Errorf("reading answer: %w", err)
	}
	if r.check != nil {
		return r.check(b)
	}
	return nil
}

// Made-up personal data for the payloads; cycling through a few values
// keeps payload sizes realistic without repeating one body.
var (
	names     = []string{"Erika Mustermann", "Max Müller", "Sophie Schneider", "Lukas Fischer", "Anna Weber", "Jonas Becker"}
	addresses = []string{"Heidestraße 17", "Lindenallee 4a", "Am Markt 12", "Goethestraße 88", "Schillerplatz 3", "Bahnhofstraße 250"}
	cities    = []string{"51147 Köln", "10115 Berlin", "80331 München", "20095 Hamburg", "60311 Frankfurt am Main", "70173 Stuttgart"}
	printers  = []string{"LaserJet Pro M404dn", "EcoTank ET-2850", "PIXMA TS5350i", "HL-L2350DW", "ColorQube 8580", "B2400dn"}
)

// newSubject returns a create body (about 300 bytes) with identifiers
// unique to this run, client and sequence number, and the e-mail address.
func (l *load) newSubject(c, k int) ([]byte, string) {
	email := fmt.Sprintf("u%s.%s.%d.%d@bench.example.org", randomHex(3), l.token, c, k)
	v := map[string]any{
		"external_id": fmt.Sprintf("cust-%s-%d-%d", l.token, c, k),
		"email":       email,
		"phone":       fmt.Sprintf("+49 %03d %07d", c%1000, k%10_000_000),
		"data": map[string]any{
			"contact": map[string]string{
				"name":    names[(c+k)%len(names)],
				"address": addresses[(c+2*k)%len(addresses)],
				"city":    cities[(c+3*k)%len(cities)],
			},
			"profile": map[string]string{
				"language":      "de",
				"printer_model": printers[(c+5*k)%len(printers)],
				"plan":          "pro",
			},
		},
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // cannot happen: plain maps of strings
	}
	return b, email
}

// percentiles returns the nearest-rank p50, p99 and maximum in
// milliseconds.
func percentiles(d []time.Duration) (p50, p99, worst float64) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return ms(rank(0.50)), ms(rank(0.99)), ms(s[len(s)-1])
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// snippet shortens a response body for an error message.
func snippet(b []byte) string {
	const limit = 200
	b = bytes.TrimSpace(b)
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}
