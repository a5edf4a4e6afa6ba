package cli

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gdprd/gdprd/internal/keys"
)

// demoHost plays the host application in `gdprd demo`: the page where
// PrintFarm Cloud's own customers would be signed in. It embeds the
// consent widget and has a "Manage my privacy" link per demo customer that
// signs a hand-off token exactly as a real host application would (HS256
// with the key `gdprd handoff create` made) and sends the person to the
// privacy portal. It exists only in demo mode: a real deployment has its
// own application in this role.
type demoHost struct {
	issuer, audience string
	secret           []byte
	people           []demoPerson
}

type demoPerson struct{ Name, ExternalID string }

const demoHostPrefix = "/demo/"

var demoHostPage = template.Must(template.New("host").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PrintFarm Cloud (demo host application)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/widget.css"></head>
<body><header><p><strong>PrintFarm Cloud</strong>: this page stands in for the host application that runs beside gdprd.</p></header>
<main><h1>Your printers, anywhere</h1>
<p>The consent banner below is gdprd's widget, embedded with one script tag. Each link signs a hand-off token
as the host application would and opens the privacy portal for that customer.</p>
<h2>Manage my privacy</h2>
<ul>{{range $i, $p := .}}<li><a href="/demo/privacy?person={{$i}}">{{$p.Name}}: Manage my privacy</a></li>{{end}}</ul>
</main>
<script src="/widget.js" data-site="printfarm" defer></script>
</body></html>`))

func (h *demoHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case demoHostPrefix:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		demoHostPage.Execute(w, h.people)
	case demoHostPrefix + "privacy":
		i, err := strconv.Atoi(r.URL.Query().Get("person"))
		if err != nil || i < 0 || i >= len(h.people) {
			http.Error(w, "no such demo customer", http.StatusNotFound)
			return
		}
		token, err := h.token(h.people[i].ExternalID)
		if err != nil {
			http.Error(w, "could not sign the hand-off token", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/privacy/handoff?token="+token, http.StatusSeeOther)
	default:
		http.NotFound(w, r)
	}
}

// token signs a hand-off token for one customer, valid two minutes.
func (h *demoHost) token(externalID string) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: h.secret}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jti, err := keys.RandomToken(16)
	if err != nil {
		return "", err
	}
	now := time.Now()
	return jwt.Signed(s).Claims(jwt.Claims{
		Issuer: h.issuer, Subject: externalID, Audience: jwt.Audience{h.audience}, ID: jti,
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute)),
	}).Serialize()
}

func newDemoHost(issuer, publicURL, secret string) *demoHost {
	h := &demoHost{issuer: issuer, audience: strings.TrimRight(publicURL, "/") + "/privacy", secret: []byte(secret)}
	for i := 0; i < 6; i++ {
		first, last := demoFirst[i%len(demoFirst)], demoLast[(i*7)%len(demoLast)]
		if i == 0 {
			first, last = "Ada", "Lovelace"
		}
		h.people = append(h.people, demoPerson{Name: first + " " + last, ExternalID: demoExternalID(i)})
	}
	return h
}
