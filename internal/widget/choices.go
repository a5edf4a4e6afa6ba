package widget

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/tcf"
	"github.com/gdprd/gdprd/internal/web"
)

// Choice actions: which control of the banner the visitor used.
const (
	AcceptAll = "accept-all"
	RejectAll = "reject-all"
	Save      = "save" // the "Choose" panel, one switch per purpose
)

// ChoiceInput is the body of POST /widget/choices.
type ChoiceInput struct {
	// Visitor is the token of an earlier choice; empty for a first one.
	Visitor string `json:"visitor"`
	Site    string `json:"site"`
	Action  string `json:"action"`
	// Notices are the notice versions the visitor was shown, as the config
	// listed them: the cookie policy and each purpose's notice.
	Notices map[string]int  `json:"notices"`
	Choices map[string]bool `json:"choices"`
	// GPC is navigator.globalPrivacyControl, for browsers that expose the
	// signal to scripts but do not send the header.
	GPC bool `json:"gpc"`
	// TCF and GPP optionally carry the strings of the operator's own CMP,
	// kept (sealed) as evidence; they must decode.
	TCF string `json:"tcf"`
	GPP string `json:"gpp"`
}

// ChoiceResult is the answer: the token to keep and what was recorded.
type ChoiceResult struct {
	Visitor     string          `json:"visitor"`
	Choices     map[string]bool `json:"choices"`
	GPCHonoured []string        `json:"gpc_honoured"`
	Notices     map[string]int  `json:"notices"`
	RecordedAt  time.Time       `json:"recorded_at"`
}

// proof is the evidence sealed with each choice: a truncated address (the
// network, not the device) and the user agent.
type proof struct {
	Network   string `json:"network,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

func (w *Widget) choices(rw http.ResponseWriter, r *http.Request) error {
	if r.ContentLength > MaxBody {
		return errcode.E(errcode.TooLarge, "a widget choice is at most %d bytes", MaxBody)
	}
	r.Body = http.MaxBytesReader(rw, r.Body, MaxBody)
	var in ChoiceInput
	if err := web.DecodeJSON(rw, r, &in); err != nil {
		if errcode.Of(err) == errcode.TooLarge {
			return errcode.E(errcode.TooLarge, "a widget choice is at most %d bytes", MaxBody)
		}
		return err
	}
	p := proof{Network: network(clientIP(r)), UserAgent: truncate(r.UserAgent(), 512)}
	res, err := w.Record(r.Context(), in, gpcSignal(r) || in.GPC, p)
	if err != nil {
		return err
	}
	web.WriteJSON(rw, http.StatusOK, res)
	return nil
}

// decision is one purpose's outcome of a choice.
type decision struct {
	purpose string
	notice  string
	kind    consent.Kind
	action  consent.Action
	source  string
}

// Record validates a choice and appends it, with an audit event, in one
// transaction. Bad input changes nothing.
func (w *Widget) Record(ctx context.Context, in ChoiceInput, gpc bool, p proof) (*ChoiceResult, error) {
	if !sitePattern.MatchString(in.Site) {
		return nil, errcode.Field("site", "site must be 1 to 63 lower-case letters, digits and dashes")
	}
	visitor := ""
	if in.Visitor != "" {
		id, ok := w.parseVisitor(in.Visitor)
		if !ok {
			return nil, errcode.Field("visitor", "this visitor token was not issued by this gdprd")
		}
		visitor = id
	}
	all, err := w.consent.Purposes(ctx)
	if err != nil {
		return nil, err
	}
	decisions, honoured, err := w.decide(in, gpc, all)
	if err != nil {
		return nil, err
	}
	shown, err := w.checkNotices(ctx, in.Notices, decisions)
	if err != nil {
		return nil, err
	}
	signals, err := decodeSignals(in)
	if err != nil {
		return nil, err
	}
	now := w.clock().UTC().Truncate(time.Microsecond)
	isNew := visitor == ""
	if isNew {
		visitor = ids.New(visitorPrefix)
	}
	proofJSON, _ := json.Marshal(p)
	sealedProof, err := w.proof.Seal(proofJSON, "widget_proof", visitor, strconv.FormatInt(now.UnixMicro(), 10))
	if err != nil {
		return nil, err
	}
	type sealedSignal struct {
		kind  string
		value []byte
	}
	var sealed []sealedSignal
	for _, s := range signals {
		v, err := w.proof.Seal([]byte(s.value), "widget_signal", visitor, s.kind)
		if err != nil {
			return nil, err
		}
		sealed = append(sealed, sealedSignal{s.kind, v})
	}
	err = w.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if isNew {
			if _, err := tx.ExecContext(ctx, `INSERT INTO widget_visitors (id, site, created_at, updated_at) VALUES ($1, $2, $3, $3)`,
				visitor, in.Site, sqlstore.Micros(now)); err != nil {
				return fmt.Errorf("widget: new visitor: %w", err)
			}
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE widget_visitors SET updated_at = $2 WHERE id = $1`, visitor, sqlstore.Micros(now))
			if err != nil {
				return fmt.Errorf("widget: visitor: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				// Issued by us, but gone: the visitor was erased with
				// the subject they were linked to, or expired.
				return errcode.Field("visitor", "this visitor is no longer known: choose again without a token")
			}
		}
		for _, d := range decisions {
			if _, err := tx.ExecContext(ctx, `INSERT INTO widget_choices (visitor_id, purpose, kind, action, source,
				notice, notice_version, notice_sha256, recorded_at, proof, proof_key_id)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				visitor, d.purpose, string(d.kind), string(d.action), d.source, d.notice, shown[d.notice].version,
				shown[d.notice].sum, sqlstore.Micros(now), sealedProof, w.proof.ID()); err != nil {
				return fmt.Errorf("widget: record choice: %w", err)
			}
		}
		for _, s := range sealed {
			if _, err := tx.ExecContext(ctx, `INSERT INTO widget_signals (visitor_id, kind, value, key_id, recorded_at)
				VALUES ($1, $2, $3, $4, $5)`, visitor, s.kind, s.value, w.proof.ID(), sqlstore.Micros(now)); err != nil {
				return fmt.Errorf("widget: record signal: %w", err)
			}
		}
		_, err := w.audit.Append(ctx, tx, audit.Event{
			Actor: "visitor", Action: "widget.choice", Purpose: "consent",
			Target: w.kr.AuditTarget("visitor", visitor), Result: "ok",
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	res := &ChoiceResult{Visitor: w.visitorToken(visitor), Choices: map[string]bool{}, GPCHonoured: honoured,
		Notices: map[string]int{}, RecordedAt: now}
	for slug, n := range shown {
		res.Notices[slug] = n.version
	}
	for _, d := range decisions {
		res.Choices[d.purpose] = d.kind == consent.Grant
	}
	return res, nil
}

// decide turns the banner action into one decision per optional purpose.
// Accept-all grants every optional purpose except those a GPC signal opts
// out of (the signal is the browser's standing refusal; the visitor can
// still switch such a purpose on one by one in the panel, which is an
// explicit act). Reject-all refuses everything. Save takes the switches;
// a purpose left out is refused, never assumed granted.
func (w *Widget) decide(in ChoiceInput, gpc bool, all []consent.Purpose) ([]decision, []string, error) {
	known := map[string]consent.Purpose{}
	for _, p := range all {
		if optional(p) {
			known[p.Slug] = p
		}
	}
	switch in.Action {
	case AcceptAll, RejectAll:
		if len(in.Choices) > 0 {
			return nil, nil, errcode.Field("choices", "%s takes no choices; use save for one switch per purpose", in.Action)
		}
	case Save:
		for slug := range in.Choices {
			if _, ok := known[slug]; !ok {
				return nil, nil, errcode.Field("choices", "%q is not an optional purpose of this site", slug)
			}
		}
	default:
		return nil, nil, errcode.Field("action", "action must be accept-all, reject-all or save")
	}
	var out []decision
	var honoured []string
	for _, p := range all {
		if !optional(p) {
			continue
		}
		want := in.Action == AcceptAll || (in.Action == Save && in.Choices[p.Slug])
		action := consent.Button
		if in.Action == Save {
			action = consent.Toggle
		}
		d := decision{purpose: p.Slug, notice: p.Notice, kind: consent.Withdraw, action: action, source: in.Action}
		switch {
		case gpc && w.gpcCovers(p) && !(in.Action == Save && want):
			d.action, d.source = consent.BrowserSignal, "gpc"
			honoured = append(honoured, p.Slug)
		case want:
			d.kind = consent.Grant
		}
		out = append(out, d)
	}
	return out, honoured, nil
}

type shownNotice struct {
	version int
	sum     []byte
}

// checkNotices makes sure the visitor saw the current version of the
// cookie policy and of every notice the decisions cite: a choice made on
// an older text is refused (409) so the banner shows the new one.
func (w *Widget) checkNotices(ctx context.Context, sent map[string]int, ds []decision) (map[string]shownNotice, error) {
	need := map[string]bool{Notice: true}
	for _, d := range ds {
		need[d.notice] = true
	}
	for slug := range sent {
		if !need[slug] {
			return nil, errcode.Field("notices", "%q is not a notice this choice cites", slug)
		}
	}
	out := map[string]shownNotice{}
	for slug := range need {
		cur, err := w.consent.CurrentNotice(ctx, slug)
		if err != nil {
			return nil, err
		}
		if sent[slug] != cur.Version {
			return nil, &errcode.Error{Code: errcode.Conflict, Field: "notices." + slug,
				Message: fmt.Sprintf("%s is now at version %d: show it again before recording a choice", slug, cur.Version)}
		}
		sum, err := hex.DecodeString(cur.SHA256)
		if err != nil {
			return nil, fmt.Errorf("widget: notice hash: %w", err)
		}
		out[slug] = shownNotice{cur.Version, sum}
	}
	return out, nil
}

type signal struct{ kind, value string }

func decodeSignals(in ChoiceInput) ([]signal, error) {
	var out []signal
	if in.TCF != "" {
		if _, err := tcf.Decode(in.TCF); err != nil {
			return nil, errcode.Wrap(err, errcode.Invalid, "tcf is not a valid TC string")
		}
		out = append(out, signal{"tcf", in.TCF})
	}
	if in.GPP != "" {
		if _, err := tcf.DecodeGPP(in.GPP); err != nil {
			return nil, errcode.Wrap(err, errcode.Invalid, "gpp is not a valid GPP string")
		}
		out = append(out, signal{"gpp", in.GPP})
	}
	return out, nil
}

// network truncates an address to its network (/24 for IPv4, /48 for
// IPv6): enough to show where a choice came from, not which device.
func network(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	bits := 24
	if a.Is6() && !a.Is4In6() {
		bits = 48
	}
	p, err := a.Unmap().Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func itoa(n int) string { return strconv.Itoa(n) }
