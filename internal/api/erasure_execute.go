package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// erasureInput is the body of POST /requests/{id}/erasure. Without All or
// Categories the erasure covers what the request asked for; with them it
// may narrow it, never widen it.
type erasureInput struct {
	All        bool     `json:"all"`
	Categories []string `json:"categories"`
	// DryRun answers the plan (what would be erased, kept and why, or
	// wait for approval) and changes nothing.
	DryRun bool `json:"dry_run"`
}

// erasureAnswer is what carrying out an erasure answers.
type erasureAnswer struct {
	ErasureID string              `json:"erasure_id,omitempty"`
	Plan      dsr.Plan            `json:"plan"`
	Receipt   string              `json:"receipt,omitempty"`
	Claims    *dsr.ErasureReceipt `json:"claims,omitempty"`
	Request   dsr.Request         `json:"request"`
}

// erasureExecute answers POST /requests/{id}/erasure: it carries out an
// erasure request the host application submitted on the person's behalf.
// A request still "received" is taken into progress first (the host
// application verified the person when it submitted it). The answer holds
// the plan, the signed receipt (kept categories with reasons and dates,
// categories awaiting a staff approval, the recipients told through the
// webhooks) and the request as it now stands.
func (s *Server) erasureExecute(w http.ResponseWriter, r *http.Request) error {
	if s.Erasures == nil {
		return errcode.E(errcode.NotFound, "erasure is not configured on this server")
	}
	var in erasureInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	id := r.PathValue("id")
	if !dsr.ValidRequestID(id) {
		return errcode.E(errcode.NotFound, "no such request")
	}
	a := dsrActor(r)
	sel := dsr.Selection{All: in.All, Categories: in.Categories}
	plan, req, err := s.Erasures.PlanRequest(r.Context(), s.Requests, a, id, sel)
	if err != nil {
		return err
	}
	if in.DryRun {
		web.WriteJSON(w, http.StatusOK, erasureAnswer{Plan: plan, Request: req})
		return nil
	}
	if req.State == dsr.Received {
		if _, err := s.Requests.Transition(r.Context(), a, id, dsr.InProgress, dsr.Reason{Text: "carried out through the API"}); err != nil {
			return err
		}
	}
	res, req, err := s.Erasures.ExecuteRequestFor(r.Context(), s.Requests, a, id, sel, nil)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/erasure-receipts/"+res.ID)
	web.WriteJSON(w, http.StatusCreated, erasureAnswer{ErasureID: res.ID, Plan: res.Plan, Receipt: res.Receipt,
		Claims: &res.Claims, Request: req})
	return nil
}
