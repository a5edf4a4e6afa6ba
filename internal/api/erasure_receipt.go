package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
	"github.com/gdprd/gdprd/internal/webhook"
)

// receiptAnswer is an erasure's receipt and the status of the webhook
// deliveries that told its recipients (Art. 19).
type receiptAnswer struct {
	ID         string             `json:"id"`
	Receipt    string             `json:"receipt"`
	Deliveries []webhook.Delivery `json:"deliveries"`
}

// erasureReceipt answers the signed receipt of an executed erasure, with
// the delivery status of each notice to each recipient. The receipt names
// categories and dates, never data, and outlives the subject, so it can be
// fetched after a whole-account erasure.
func (s *Server) erasureReceipt(w http.ResponseWriter, r *http.Request) error {
	if s.Erasures == nil {
		return errcode.E(errcode.NotFound, "erasure is not configured on this server")
	}
	id := r.PathValue("id")
	jws, err := s.Erasures.Receipt(r.Context(), id)
	if err != nil {
		return err
	}
	out := receiptAnswer{ID: id, Receipt: jws, Deliveries: []webhook.Delivery{}}
	if s.Webhooks != nil {
		msgs, err := s.Erasures.Notices(r.Context(), id)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			ds, err := s.Webhooks.Deliveries(r.Context(), "", m, 1000)
			if err != nil {
				return err
			}
			out.Deliveries = append(out.Deliveries, ds...)
		}
	}
	web.WriteJSON(w, http.StatusOK, out)
	return nil
}
