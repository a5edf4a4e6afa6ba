package portal

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/vault"
)

// maxCorrectForm bounds the "Correct my data" form, which carries every
// field the person holds: larger than other portal forms, still small.
const maxCorrectForm = 16 << 10

// maxCorrection is the longest value, in bytes, a person may give one
// field.
const maxCorrection = 512

// requestField is what a rectification request may name (dsr's rule).
var requestField = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,63}$`)

// Form fields are "set.<category>.<field>" for a correction the person
// makes themself and "ask.<category>.<field>" for one staff make.
const (
	setPrefix = "set."
	askPrefix = "ask."
)

// correctPage is "Correct my data" (Art. 16).
type correctPage struct {
	Frame      frame
	Categories []correctCategory
	Changed    []string     // the fields just corrected
	Request    *openRequest // the request just opened or added to
	Error      string
}

type correctCategory struct {
	Name   string
	Fields []correctable
}

// correctable is one field of the person's data. Key is
// "<category>.<field>", nested values flattened with dots as on "My
// data".
type correctable struct {
	Key, Category, Name, Value string
	// Editable fields the person corrects themself: top-level text
	// fields the operator lists. Askable fields get an "ask us" input.
	Editable, Askable bool
}

type openRequest struct {
	ID, LegalDue string
	Merged       bool
}

// correctForm shows the person's fields for correction.
func (s *Server) correctForm(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.renderCorrect(w, r, q, http.StatusOK, correctPage{})
}

// renderCorrect reads the person's data (audited under dsr-access, like
// "My data") and shows it with p's messages.
func (s *Server) renderCorrect(w http.ResponseWriter, r *http.Request, q *request, status int, p correctPage) error {
	fields, err := s.correctables(r.Context(), q)
	if errcode.Of(err) == errcode.NotFound {
		return s.gone(w, r, q)
	}
	if err != nil {
		return err
	}
	if p.Frame, err = s.frame(r.Context(), q, "correct"); err != nil {
		return err
	}
	for _, f := range fields {
		if n := len(p.Categories); n == 0 || p.Categories[n-1].Name != f.Category {
			p.Categories = append(p.Categories, correctCategory{Name: f.Category})
		}
		c := &p.Categories[len(p.Categories)-1]
		c.Fields = append(c.Fields, f)
	}
	return s.render(w, status, "correct", q, q.page.L.T("portal.correct.title"), p)
}

// correctables lists the signed-in person's fields, sorted by category
// and name, with the editable fields the person does not hold yet (in
// declared categories) as empty ones.
func (s *Server) correctables(ctx context.Context, q *request) ([]correctable, error) {
	subj, err := s.vault.Get(ctx, vault.Actor{Name: q.actor(), Purpose: "dsr-access"}, q.subject())
	if err != nil {
		return nil, err
	}
	var out []correctable
	seen := map[string]bool{}
	for _, cat := range slices.Sorted(maps.Keys(subj.Data)) {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(subj.Data[cat], &top); err != nil {
			return nil, errcode.Wrap(err, errcode.Internal, "category %s", cat)
		}
		if err := export.Flatten(subj.Data[cat], func(name, value string) error {
			key := cat + "." + name
			raw, isTop := top[name]
			text := isTop && len(raw) > 0 && raw[0] == '"'
			out = append(out, correctable{Key: key, Category: cat, Name: name, Value: value,
				Editable: text && s.editable(cat, name), Askable: requestField.MatchString(key)})
			seen[key] = true
			return nil
		}); err != nil {
			return nil, err
		}
	}
	declared, err := s.vault.Categories(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range declared {
		for _, e := range s.editableFields {
			if cat, name, _ := strings.Cut(e, "."); cat == c.Name && name != "*" && !seen[e] {
				out = append(out, correctable{Key: e, Category: cat, Name: name, Editable: true})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b correctable) int { return strings.Compare(a.Category, b.Category) })
	return out, nil
}

// editable reports whether the operator lets people correct cat.name
// themself.
func (s *Server) editable(cat, name string) bool {
	return slices.Contains(s.editableFields, cat+"."+name) || slices.Contains(s.editableFields, cat+".*")
}

// correct applies the person's corrections. Editable fields are written
// through the vault at once (the old values go only into the sealed
// details of its audit event); the others become one rectification
// request for staff, the wanted values sealed in its details. Every
// input is checked before anything is written: a value too long or not
// text, a field the person does not have and may not add, or an unknown
// input refuses the whole form, audited, and writes nothing.
func (s *Server) correct(w http.ResponseWriter, r *http.Request, q *request) error {
	ctx := r.Context()
	fields, err := s.correctables(ctx, q)
	if errcode.Of(err) == errcode.NotFound {
		return s.gone(w, r, q)
	}
	if err != nil {
		return err
	}
	byKey := map[string]correctable{}
	for _, f := range fields {
		byKey[f.Key] = f
	}
	patch := map[string]map[string]any{}
	var changed []string
	asked := map[string]string{}
	refuse := func(key string) error {
		if err := s.auditSubject(ctx, q.subject(), "portal.rectify", "dsr", "invalid"); err != nil {
			return err
		}
		return s.renderCorrect(w, r, q, http.StatusBadRequest, correctPage{Error: q.page.L.T(key)})
	}
	for input, values := range r.PostForm {
		if len(values) != 1 {
			return refuse("portal.correct.invalid")
		}
		v := strings.TrimSpace(values[0])
		if len(v) > maxCorrection || !plainText(v) {
			return refuse("portal.correct.toolong")
		}
		if key, ok := strings.CutPrefix(input, setPrefix); ok {
			f, ok := byKey[key]
			if !ok || !f.Editable {
				return refuse("portal.correct.invalid")
			}
			if v == f.Value {
				continue
			}
			if patch[f.Category] == nil {
				patch[f.Category] = map[string]any{}
			}
			if v == "" {
				patch[f.Category][f.Name] = nil // RFC 7396: a null removes the field
			} else {
				patch[f.Category][f.Name] = v
			}
			changed = append(changed, key)
			continue
		}
		if key, ok := strings.CutPrefix(input, askPrefix); ok {
			f, ok := byKey[key]
			if !ok || !f.Askable {
				return refuse("portal.correct.invalid")
			}
			if v != "" && v != f.Value {
				asked[key] = v
			}
			continue
		}
		return refuse("portal.correct.invalid")
	}
	if len(patch) == 0 && len(asked) == 0 {
		return s.renderCorrect(w, r, q, http.StatusOK, correctPage{Error: q.page.L.T("portal.correct.nothing")})
	}
	if len(patch) > 0 {
		p := vault.Patch{Data: map[string]json.RawMessage{}}
		for cat, m := range patch {
			b, err := json.Marshal(m)
			if err != nil {
				return errcode.Wrap(err, errcode.Internal, "patch %s", cat)
			}
			p.Data[cat] = b
		}
		if _, err := s.vault.Update(ctx, vault.Actor{Name: q.actor(), Purpose: "dsr"}, q.subject(), p); err != nil {
			return err
		}
	}
	out := correctPage{Changed: changed}
	slices.Sort(out.Changed)
	if len(asked) > 0 {
		req, err := s.requests.Submit(ctx, dsr.Actor{Name: q.actor(), Purpose: "dsr"}, dsr.NewRequest{SubjectID: q.subject(),
			Kind: dsr.Rectification, Channel: dsr.Portal, Details: dsr.Details{Fields: asked}})
		if err != nil {
			return err
		}
		out.Request = &openRequest{ID: req.ID, LegalDue: q.page.L.Date(req.LegalDueAt), Merged: req.Merged}
	}
	return s.renderCorrect(w, r, q, http.StatusOK, out)
}

// plainText reports whether s is valid UTF-8 without control characters:
// a field value is one line of text.
func plainText(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}
