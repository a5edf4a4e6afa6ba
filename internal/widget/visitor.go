package widget

import (
	"encoding/base64"
	"strings"

	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/keys"
)

// A visitor token is "<visitor id>.<mac>": the id is random, the MAC (under
// the keyring's token key) proves gdprd issued it. A forged or altered
// token is refused, so nobody can record choices under an id they made
// up, or guess another visitor's. The token is the only thing the browser
// keeps, and only after a choice.
const visitorPrefix = "vis_"

func (w *Widget) visitorToken(id string) string {
	return id + "." + base64.RawURLEncoding.EncodeToString(w.visitorMAC(id))
}

func (w *Widget) visitorMAC(id string) []byte {
	return w.kr.HashSecret("widget-visitor:" + id)[:16]
}

// parseVisitor returns the visitor id of a token gdprd issued.
func (w *Widget) parseVisitor(token string) (string, bool) {
	id, mac, ok := strings.Cut(token, ".")
	if !ok || !ids.Valid(visitorPrefix, id) {
		return "", false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil {
		return "", false
	}
	return id, keys.Equal(got, w.visitorMAC(id))
}
