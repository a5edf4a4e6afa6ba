package api

import (
	"context"
	"fmt"

	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/webhook"
)

// propagate tells the webhook endpoints about an erasure made directly in
// the vault (DELETE /subjects/{id}, DELETE /subjects/{id}/data/{category})
// as a signed subject.erased message (Art. 19). The vault's erasure has
// committed by then, so the message is queued in a transaction of its
// own: if that fails, the answer is an error saying the recipients were
// not told, although the data is gone. (Erasures carried out through
// POST /requests/{id}/erasure queue the message with the erasure record.)
func (s *Server) propagate(ctx context.Context, rec *vault.Receipt) error {
	if s.Webhooks == nil || rec == nil {
		return nil
	}
	account := rec.Scope == "subject"
	if len(rec.Categories) == 0 && !account {
		return nil
	}
	if _, err := s.Webhooks.Enqueue(ctx, webhook.SubjectErased, webhook.Payload{SubjectID: rec.SubjectID,
		Categories: rec.Categories, AccountErased: account}); err != nil {
		return fmt.Errorf("erased, but the webhook endpoints were not told: %w", err)
	}
	return nil
}
