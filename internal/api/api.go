// Package api is gdprd's REST API for the host application: /api/v1, JSON
// only, bearer API keys with scopes, never cookies. Every route is declared
// in one table with the scope it needs, so the OpenAPI document and the
// access-control tests can be checked against the router itself.
package api

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/i18n"
	"github.com/gdprd/gdprd/internal/mail"
	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/web"
	"github.com/gdprd/gdprd/internal/webhook"
	"github.com/gdprd/gdprd/internal/widget"
)

// Handler is an API handler; returning an error answers it as a problem.
type Handler func(w http.ResponseWriter, r *http.Request) error

// Route is one API endpoint.
type Route struct {
	Method  string
	Path    string // ServeMux pattern below /api/v1, e.g. /subjects/{id}
	Scope   string // "" = public (the OpenAPI document)
	handler Handler
}

// Server holds what the handlers need.
type Server struct {
	Vault   *vault.Vault
	Consent *consent.Register
	// Widget links consent-widget visitors to subjects; nil disables it.
	Widget  *widget.Widget
	APIKeys *auth.APIKeys
	// Requests is the data-subject request lifecycle; Exports builds
	// access packages and their download links.
	Requests *dsr.Service
	Exports  *export.Exporter
	// PublicURL is how people reach this server, for download links.
	PublicURL string
	Log       *slog.Logger
	Spec      []byte // docs/openapi.json
	// ConsentMetrics counts consent checks; nil counts nothing.
	ConsentMetrics *ConsentMetrics
	// ConsentReceipts signs consent receipts; Erasures holds the erasure
	// receipts. Their routes answer 404 when nil.
	ConsentReceipts *consent.Receipts
	Erasures        *dsr.Eraser
	// Webhooks reports the delivery status of erasure notices; nil
	// leaves it out of the receipt's answer.
	Webhooks *webhook.Service
	// Outbox and Catalog mail the person the notice that their
	// restriction ends; without them a lifting needs notified_by.
	Outbox  *mail.Outbox
	Catalog *i18n.Catalog

	limiters sync.Map // key id -> *rate.Limiter
}

// Prefix is where the API lives.
const Prefix = "/api/v1"

// Routes lists every API route. Tests walk this table.
func (s *Server) Routes() []Route {
	return []Route{
		{"GET", "/openapi.json", "", s.openAPI},
		{"POST", "/subjects", auth.ScopeVaultWrite, s.subjectCreate},
		{"POST", "/subjects/lookup", auth.ScopeVaultRead, s.subjectLookup},
		{"GET", "/subjects/{id}", auth.ScopeVaultRead, s.subjectGet},
		{"PATCH", "/subjects/{id}", auth.ScopeVaultWrite, s.subjectUpdate},
		{"DELETE", "/subjects/{id}", auth.ScopeVaultWrite, s.subjectErase},
		{"POST", "/subjects/{id}/restriction", auth.ScopeVaultWrite, s.subjectRestriction},
		{"GET", "/subjects/{id}/data/{category}", auth.ScopeVaultRead, s.dataGet},
		{"PUT", "/subjects/{id}/data/{category}", auth.ScopeVaultWrite, s.dataPut},
		{"DELETE", "/subjects/{id}/data/{category}", auth.ScopeVaultWrite, s.dataErase},
		{"GET", "/categories", auth.ScopeVaultRead, s.categoryList},
		{"POST", "/categories", auth.ScopeVaultWrite, s.categoryCreate},
		{"GET", "/purposes", auth.ScopeConsentRead, s.purposeList},
		{"POST", "/purposes", auth.ScopeConsentWrite, s.purposeCreate},
		{"GET", "/purposes/{slug}", auth.ScopeConsentRead, s.purposeGet},
		{"PATCH", "/purposes/{slug}", auth.ScopeConsentWrite, s.purposeUpdate},
		{"GET", "/purposes/{purpose}/subjects", auth.ScopeConsentRead, s.purposeSubjects},
		{"POST", "/subjects/{id}/consents", auth.ScopeConsentWrite, s.consentRecord},
		{"GET", "/subjects/{id}/consents", auth.ScopeConsentRead, s.consentState},
		{"GET", "/subjects/{id}/consents/{purpose}", auth.ScopeConsentRead, s.consentCheck},
		{"GET", "/subjects/{id}/consents/{purpose}/receipt", auth.ScopeConsentRead, s.consentReceipt},
		{"POST", "/consents/check", auth.ScopeConsentRead, s.consentCheckMany},
		{"GET", "/subjects/{id}/notices", auth.ScopeConsentRead, s.subjectNotices},
		{"POST", "/subjects/{id}/visitors", auth.ScopeConsentWrite, s.visitorLink},
		{"GET", "/notices", auth.ScopeConsentRead, s.noticeList},
		{"POST", "/notices/{slug}/versions", auth.ScopeConsentWrite, s.noticeDraft},
		{"GET", "/notices/{slug}/versions/{version}", auth.ScopeConsentRead, s.noticeGet},
		{"POST", "/notices/{slug}/versions/{version}/publish", auth.ScopeConsentWrite, s.noticePublish},
		{"GET", "/erasure-receipts/{id}", auth.ScopeDSRRead, s.erasureReceipt},
		{"POST", "/requests", auth.ScopeDSRWrite, s.requestSubmit},
		{"GET", "/requests", auth.ScopeDSRRead, s.requestList},
		{"GET", "/requests/{id}", auth.ScopeDSRRead, s.requestGet},
		{"POST", "/requests/{id}/transitions", auth.ScopeDSRWrite, s.requestTransition},
		{"POST", "/requests/{id}/erasure", auth.ScopeDSRWrite, s.erasureExecute},
		{"POST", "/subjects/{id}/exports", auth.ScopeDSRWrite, s.exportCreate},
	}
}

// Handler returns the API's mux with its middleware chain. It reads no
// cookie and accepts no form body.
func (s *Server) Handler(m *web.Metrics) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		mux.Handle(rt.Method+" "+Prefix+rt.Path, s.wrap(rt))
	}
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, r, s.Log, errcode.E(errcode.NotFound, "no such API endpoint"))
	})
	return web.Chain(mux, web.WithRequestID, web.AccessLog(s.Log, m), web.Recover(s.Log), web.APIHeaders)
}

type keyCtx struct{}

// caller returns the authenticated key of the request.
func caller(r *http.Request) *auth.APIKey {
	k, _ := r.Context().Value(keyCtx{}).(*auth.APIKey)
	return k
}

// wrap authenticates, authorises, rate-limits and runs a route's handler,
// mapping any error to a problem in one place.
func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.serve(w, r, rt); err != nil {
			web.WriteError(w, r, s.Log, err)
		}
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt Route) error {
	if rt.Scope == "" {
		return rt.handler(w, r)
	}
	secret, ok := web.BearerToken(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gdprd"`)
		return errcode.E(errcode.Unauthorized, "a valid API key is required: Authorization: Bearer <key>")
	}
	key, err := s.APIKeys.Authenticate(r.Context(), secret)
	if err != nil {
		if errcode.Of(err) == errcode.Unauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gdprd", error="invalid_token"`)
		}
		return err
	}
	if err := s.limit(w, key); err != nil {
		return err
	}
	if !key.Has(rt.Scope) {
		return errcode.E(errcode.Forbidden, "this API key lacks the scope %s", rt.Scope)
	}
	// A purpose named in the header must be declared. The vault checks it
	// on reads only; writes would record an undeclared purpose in the audit
	// log. (A key's own purpose was checked when the key was made.)
	if p := r.Header.Get("Gdprd-Purpose"); p != "" {
		if err := s.Vault.CheckPurpose(r.Context(), p); err != nil {
			return err
		}
	}
	return rt.handler(w, r.WithContext(context.WithValue(r.Context(), keyCtx{}, key)))
}

// limit applies the key's per-second rate (a token bucket with a burst of
// twice the rate) and sets the RateLimit headers of the IETF draft. The
// buckets live in this process: each replica limits on its own.
func (s *Server) limit(w http.ResponseWriter, key *auth.APIKey) error {
	if key.Rate == 0 {
		return nil
	}
	v, ok := s.limiters.Load(key.ID)
	if !ok {
		v, _ = s.limiters.LoadOrStore(key.ID, rate.NewLimiter(rate.Limit(key.Rate), 2*key.Rate))
	}
	lim := v.(*rate.Limiter)
	if lim.Limit() != rate.Limit(key.Rate) {
		lim.SetLimit(rate.Limit(key.Rate))
		lim.SetBurst(2 * key.Rate)
	}
	now := time.Now()
	res := lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	remaining := int(math.Max(0, math.Floor(lim.TokensAt(now))))
	w.Header().Set("RateLimit-Policy", strconv.Itoa(2*key.Rate)+";w=1")
	if delay > 0 {
		res.CancelAt(now)
		secs := int(math.Ceil(delay.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		w.Header().Set("RateLimit", "limit="+strconv.Itoa(2*key.Rate)+", remaining=0, reset="+strconv.Itoa(secs))
		return errcode.E(errcode.RateLimited, "too many requests for this API key; retry after %d s", secs)
	}
	w.Header().Set("RateLimit", "limit="+strconv.Itoa(2*key.Rate)+", remaining="+strconv.Itoa(remaining)+", reset=1")
	return nil
}

// actor returns who is calling and for which purpose: the Gdprd-Purpose
// header, or the key's configured purpose.
func actor(r *http.Request) vault.Actor {
	k := caller(r)
	purpose := r.Header.Get("Gdprd-Purpose")
	if purpose == "" {
		purpose = k.Purpose
	}
	return vault.Actor{Name: k.Actor(), Purpose: purpose}
}

// dsrActor is the caller as the request lifecycle records it: the key,
// acting for the purpose of answering a data-subject request.
func dsrActor(r *http.Request) dsr.Actor {
	return dsr.Actor{Name: caller(r).Actor(), Purpose: "dsr"}
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(s.Spec)
	return nil
}
