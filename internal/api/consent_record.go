package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// consentInput is the body of POST /subjects/{id}/consents. The kind is
// either named ("kind") or, for the common case, given as "granted": true
// for a grant and false for a withdrawal, as the example has it.
type consentInput struct {
	Kind          consent.Kind   `json:"kind"`
	Granted       *bool          `json:"granted"`
	Purpose       string         `json:"purpose"`
	Notice        string         `json:"notice"`
	NoticeVersion int            `json:"notice_version"`
	NoticeSHA256  string         `json:"notice_sha256"`
	Action        consent.Action `json:"action"`
	Source        string         `json:"source"`
	Proof         *proofInput    `json:"proof"`
}

// proofInput is what the host application relays of the person's own
// request: the register seals it with the subject's key as proof of who
// clicked, and never answers it back.
type proofInput struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// kind resolves "kind" and "granted" into one kind.
func (in consentInput) kind() (consent.Kind, error) {
	switch {
	case in.Granted != nil && in.Kind != "":
		return "", errcode.Field("granted", "give either kind or granted, not both")
	case in.Granted != nil && *in.Granted:
		return consent.Grant, nil
	case in.Granted != nil:
		return consent.Withdraw, nil
	case in.Kind == "":
		return "", errcode.Field("kind", "say what happened: kind grant, withdraw, object or accept-notice (or granted true or false)")
	}
	return in.Kind, nil
}

// consentRecord appends a grant, withdrawal, objection or notice
// acceptance to the register, on the API channel, recorded by the calling
// key. The register refuses anything that is not valid consent (no
// affirmative action, a stale notice version, a purpose not based on
// consent…) and writes nothing then.
func (s *Server) consentRecord(w http.ResponseWriter, r *http.Request) error {
	var in consentInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	kind, err := in.kind()
	if err != nil {
		return err
	}
	req := consent.Request{
		SubjectID: r.PathValue("id"), Kind: kind, Purpose: in.Purpose, Notice: in.Notice,
		NoticeVersion: in.NoticeVersion, NoticeSHA256: in.NoticeSHA256,
		Channel: consent.API, Action: in.Action, Source: in.Source,
	}
	if in.Proof != nil {
		req.IP, req.UserAgent = in.Proof.IP, in.Proof.UserAgent
	}
	rec, err := s.Consent.Record(r.Context(), consentActor(r), req)
	if err != nil {
		return proofField(err)
	}
	web.WriteJSON(w, http.StatusCreated, rec)
	return nil
}

// proofField renames the register's proof fields to where they sit in the
// request body, so a client is pointed at "proof.ip", not "ip".
func proofField(err error) error {
	e, ok := errcode.As(err)
	if !ok || (e.Field != "ip" && e.Field != "user_agent") {
		return err
	}
	return &errcode.Error{Code: e.Code, Field: "proof." + e.Field, Message: e.Message, Err: e.Err}
}
