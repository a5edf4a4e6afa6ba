package uitest

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// AddVirtualAuthenticator gives the tab a DevTools virtual authenticator
// (WebAuthn.enable + WebAuthn.addVirtualAuthenticator): a CTAP2 platform
// authenticator (internal transport) with resident keys and user
// verification that always succeeds, so passkey pages can be driven
// without a person or a device. It returns the authenticator's id.
func (tab *Tab) AddVirtualAuthenticator(t testing.TB) string {
	t.Helper()
	var id string
	tab.run(t, "add virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		off := false
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{EnableUI: &off}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		}})
		if err != nil {
			return err
		}
		id = string(res.AuthenticatorID)
		return nil
	}))
	return id
}

// VirtualCredentials returns how many credentials the virtual
// authenticator id holds.
func (tab *Tab) VirtualCredentials(t testing.TB, id string) int {
	t.Helper()
	n := 0
	tab.run(t, "virtual credentials", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: webauthn.AuthenticatorID(id)})
		if err != nil {
			return err
		}
		n = len(res.Credentials)
		return nil
	}))
	return n
}
