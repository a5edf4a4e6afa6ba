package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// maxBatchChecks bounds one POST /consents/check. The register could take
// more, but a thousand pairs answer in a few milliseconds, keep the body
// far below the API's size limit, and keep one caller from holding a read
// snapshot for long.
const maxBatchChecks = 1000

// checkManyInput is the body of POST /consents/check.
type checkManyInput struct {
	Checks []consent.Pair `json:"checks"`
}

// checkResult is one answer of a batch: the pair asked about and its
// decision.
type checkResult struct {
	consent.Pair
	consent.Decision
}

// consentCheckMany decides many subject × purpose pairs from one snapshot,
// in the order given. An unknown subject or purpose is an answer (reason
// unknown-subject or unknown-purpose), not an error, so one stale id does
// not sink a mailing.
func (s *Server) consentCheckMany(w http.ResponseWriter, r *http.Request) error {
	var in checkManyInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if len(in.Checks) == 0 {
		return errcode.Field("checks", "give 1 to %d subject × purpose pairs in checks", maxBatchChecks)
	}
	if len(in.Checks) > maxBatchChecks {
		return errcode.Field("checks", "%d pairs given; at most %d per call: split the batch", len(in.Checks), maxBatchChecks)
	}
	ds, err := s.Consent.CheckMany(r.Context(), in.Checks)
	if err != nil {
		return err
	}
	key := caller(r).ID
	out := make([]checkResult, len(ds))
	for i, d := range ds {
		out[i] = checkResult{Pair: in.Checks[i], Decision: d}
		if d.Reason != consent.ReasonUnknownPurpose {
			s.ConsentMetrics.countCheck(key, in.Checks[i].Purpose, d.Allowed)
		}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"results": out})
	return nil
}
