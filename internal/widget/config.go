package widget

import (
	"fmt"
	"net/http"
	"regexp"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

var sitePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Config is what the script needs to draw the banner.
type Config struct {
	Site string `json:"site"`
	Lang string `json:"lang"`
	// Notice is the cookie policy the banner links to.
	Notice NoticeRef `json:"notice"`
	// Notices are the current versions of every notice a choice cites
	// (the cookie policy and each purpose's notice); a choice must send
	// them back, so a text that changed meanwhile is shown again.
	Notices  map[string]NoticeRef `json:"notices"`
	Purposes []PurposeView        `json:"purposes"`
	GPC      bool                 `json:"gpc"` // the request carried Sec-GPC: 1
	Texts    map[string]string    `json:"texts"`
}

// NoticeRef names the notice version a choice is made against.
type NoticeRef struct {
	Slug    string `json:"slug"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
	URL     string `json:"url"`
}

// PurposeView is one optional purpose as the banner shows it.
type PurposeView struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Notice is the notice a grant of this purpose cites.
	Notice string `json:"notice"`
	// GPC says a Global Privacy Control signal opts out of this purpose.
	GPC bool `json:"gpc"`
}

// textKeys are the catalog messages the banner uses, sent as
// "widget.<key>" → key.
var textKeys = []string{"title", "body", "accept_all", "reject_all", "choose", "save", "gpc_note",
	"policy_link", "reopen", "saved", "purposes"}

func (w *Widget) config(rw http.ResponseWriter, r *http.Request) error {
	site := r.URL.Query().Get("site")
	if !sitePattern.MatchString(site) {
		return errcode.Field("site", "data-site must be 1 to 63 lower-case letters, digits and dashes")
	}
	lang := r.URL.Query().Get("lang")
	if !w.cat.Supported(lang) {
		lang = w.cat.Negotiate(r.Header.Get("Accept-Language"))
	}
	cfg, err := w.load(r, site, lang)
	if err != nil {
		return err
	}
	web.WriteJSON(rw, http.StatusOK, cfg)
	return nil
}

// load reads the optional purposes and the current cookie notice.
func (w *Widget) load(r *http.Request, site, lang string) (*Config, error) {
	ctx := r.Context()
	nv, err := w.consent.CurrentNotice(ctx, Notice)
	if err != nil {
		if errcode.Of(err) == errcode.NotFound {
			return nil, errcode.E(errcode.Unavailable, "the cookie policy is not published yet: publish it before using the widget")
		}
		return nil, err
	}
	all, err := w.consent.Purposes(ctx)
	if err != nil {
		return nil, err
	}
	l := w.cat.Localizer(lang)
	ref := func(nv consent.NoticeVersion) NoticeRef {
		return NoticeRef{Slug: nv.Notice, Version: nv.Version, SHA256: nv.SHA256,
			URL: sameOrigin(r) + "/policies/" + nv.Notice + "/v/" + itoa(nv.Version)}
	}
	cfg := &Config{Site: site, Lang: l.Tag(), GPC: gpcSignal(r), Texts: map[string]string{},
		Notice: ref(nv), Notices: map[string]NoticeRef{Notice: ref(nv)}}
	for _, p := range all {
		if !optional(p) {
			continue
		}
		if _, ok := cfg.Notices[p.Notice]; !ok {
			pv, err := w.consent.CurrentNotice(ctx, p.Notice)
			if err != nil {
				return nil, fmt.Errorf("widget: notice %s of purpose %s: %w", p.Notice, p.Slug, err)
			}
			cfg.Notices[p.Notice] = ref(pv)
		}
		cfg.Purposes = append(cfg.Purposes, PurposeView{
			Slug: p.Slug, Name: inLang(p.Names, l.Tag()), Description: inLang(p.Descriptions, l.Tag()),
			Notice: p.Notice, GPC: w.gpcCovers(p),
		})
	}
	for _, k := range textKeys {
		cfg.Texts[k] = l.T("widget." + k)
	}
	return cfg, nil
}

// optional purposes are the ones a visitor may grant or refuse: based on
// consent and not necessary for the service.
func optional(p consent.Purpose) bool { return p.Basis == consent.Consent && !p.Necessary }

func (w *Widget) gpcCovers(p consent.Purpose) bool {
	if w.gpc == nil {
		return p.DirectMarketing
	}
	for _, s := range w.gpc {
		if s == p.Slug {
			return true
		}
	}
	return false
}

// gpcSignal reads Global Privacy Control. The header's only valid value is
// exactly "1"; anything else is ignored (GPC spec, S-03).
func gpcSignal(r *http.Request) bool { return r.Header.Get("Sec-GPC") == "1" }

func inLang(m map[string]string, lang string) string {
	if s := m[lang]; s != "" {
		return s
	}
	return m["en"]
}
