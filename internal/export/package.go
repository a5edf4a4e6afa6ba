package export

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

// Request says which package to build for whom.
type Request struct {
	SubjectID  string
	Kind       Kind
	Encryption Encryption
}

// Format names the layout of data.json; it changes only with a new number.
const Format = "gdprd-access-package/1"

// maxConsultations caps the consultation log in one package; a person
// with more events gets the most recent ones and a note saying so.
const maxConsultations = 10000

// Write builds the package req asks for and streams it to w as a ZIP
// (age-encrypted when req.Encryption says so): Prepare, then Stream. It
// is the one builder for every channel: the portal's "Request my data",
// staff links, and the job that builds large exports.
func (e *Exporter) Write(ctx context.Context, a vault.Actor, w io.Writer, req Request) error {
	p, err := e.Prepare(ctx, a, req)
	if err != nil {
		return err
	}
	return p.Stream(w)
}

// Package is a package ready to be streamed.
type Package struct {
	b      *builder
	recips []age.Recipient
}

// Filename is a name to save the package under.
func (p *Package) Filename() string {
	name := "personal-data-" + p.b.at.UTC().Format("20060102T150405Z") + ".zip"
	if p.b.encrypted {
		name += ".age"
	}
	return name
}

// ContentType is the media type of the package.
func (p *Package) ContentType() string {
	if p.b.encrypted {
		return "application/octet-stream"
	}
	return "application/zip"
}

// Stream streams the package to w. An error after the first byte leaves
// w with a truncated archive, which the caller must not present as
// complete (an HTTP handler aborts the connection).
func (p *Package) Stream(w io.Writer) error { return p.b.write(w, p.recips) }

// Prepare reads everything the package for req holds, with a as the
// actor: the vault read is audited as a's, under the purpose dsr-access,
// and so is the build. Nothing is written anywhere until all reads and
// their audit events succeeded, so a refusal can still be answered as an
// error.
func (e *Exporter) Prepare(ctx context.Context, a vault.Actor, req Request) (*Package, error) {
	a.Purpose = Purpose
	if !req.Kind.valid() {
		return nil, e.auditRefusal(ctx, a, "export.build", req.SubjectID,
			errcode.Field("kind", "the package kind is access or export"))
	}
	recips, err := req.Encryption.recipients()
	if err != nil {
		return nil, e.auditRefusal(ctx, a, "export.build", req.SubjectID, err)
	}
	subj, err := e.vault.Get(ctx, a, req.SubjectID)
	if err != nil {
		return nil, err
	}
	state, err := e.consent.State(ctx, subj.ID)
	if err != nil {
		return nil, fmt.Errorf("export: purposes of %s: %w", subj.ID, err)
	}
	cats, err := e.vault.Categories(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: categories: %w", err)
	}
	events, err := audit.ListByTarget(ctx, e.db.Read(), e.target(subj.ID), 0)
	if err != nil {
		return nil, fmt.Errorf("export: consultations of %s: %w", subj.ID, err)
	}
	now := e.now()
	err = e.db.WriteWith(ctx, sqlstore.Relaxed, func(tx *sqlstore.Tx) error {
		return e.appendAudit(ctx, tx, a, "export.build", subj.ID, "ok")
	})
	if err != nil {
		return nil, err
	}
	b := &builder{kind: req.Kind, at: now, subj: subj, state: state, cats: cats, events: events,
		info: e.info, encrypted: len(recips) > 0}
	return &Package{b: b, recips: recips}, nil
}

// builder holds what one package is made of.
type builder struct {
	kind      Kind
	at        time.Time
	subj      *vault.Subject
	state     []consent.PurposeState
	cats      []vault.Category
	events    []audit.Event
	info      Info
	encrypted bool
}

// write streams the archive to w.
func (b *builder) write(w io.Writer, recips []age.Recipient) error {
	out := w
	var enc io.WriteCloser
	if len(recips) > 0 {
		var err error
		if enc, err = age.Encrypt(w, recips...); err != nil {
			return fmt.Errorf("export: start age encryption: %w", err)
		}
		out = enc
	}
	zw := zip.NewWriter(out)
	files := []file{{"README.txt", b.readme}, {"account.csv", b.accountCSV}}
	for _, c := range b.heldCategories() {
		files = append(files, file{"categories/" + c + ".csv", func(w io.Writer) error { return b.categoryCSV(w, c) }})
	}
	files = append(files, file{"purposes.csv", b.purposesCSV}, file{"consultations.csv", b.consultationsCSV},
		file{"data.json", b.dataJSON})
	for _, f := range files {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: b.at})
		if err != nil {
			return fmt.Errorf("export: %s: %w", f.name, err)
		}
		bw := bufio.NewWriterSize(fw, 32<<10)
		if err := f.fn(bw); err != nil {
			return fmt.Errorf("export: %s: %w", f.name, err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("export: %s: %w", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("export: finish zip: %w", err)
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return fmt.Errorf("export: finish age encryption: %w", err)
		}
	}
	return nil
}

// file is one member of the archive and what writes it.
type file struct {
	name string
	fn   func(io.Writer) error
}

// heldCategories are the categories the subject has data in, by name.
func (b *builder) heldCategories() []string {
	out := make([]string, 0, len(b.subj.Data))
	for c := range b.subj.Data {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// newCSV returns an RFC 4180 writer (CRLF line ends, quoting as needed).
func newCSV(w io.Writer) *csv.Writer {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	return cw
}

// writeRow writes one row with every cell made safe for spreadsheets.
func writeRow(cw *csv.Writer, cells ...string) error {
	for i, c := range cells {
		cells[i] = SafeCell(c)
	}
	return cw.Write(cells)
}

// SafeCell defuses formula injection (OWASP "CSV Injection"): a cell that
// a spreadsheet would read as a formula, one starting with = + - @ (or a
// tab or carriage return, which some spreadsheets skip before such a
// character), is prefixed with a single quote, which spreadsheets show as
// text. data.json keeps every value exactly as stored.
func SafeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (b *builder) accountCSV(w io.Writer) error {
	cw := newCSV(w)
	rows := [][]string{
		{"field", "value"},
		{"id", b.subj.ID},
		{"external_id", b.subj.ExternalID},
		{"email", b.subj.Email},
		{"phone", b.subj.Phone},
		{"restricted", fmt.Sprint(b.subj.Restricted)},
		{"created_at", fmtTime(b.subj.CreatedAt)},
		{"updated_at", fmtTime(b.subj.UpdatedAt)},
	}
	for _, r := range rows {
		if err := writeRow(cw, r...); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// categoryCSV writes one category as field,value rows: one row per leaf
// of the stored JSON object, nested names joined with dots and array
// elements numbered from 0, in the order stored.
func (b *builder) categoryCSV(w io.Writer, cat string) error {
	cw := newCSV(w)
	if err := writeRow(cw, "field", "value"); err != nil {
		return err
	}
	err := Flatten(b.subj.Data[cat], func(field, value string) error {
		return writeRow(cw, field, value)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func (b *builder) purposesCSV(w io.Writer) error {
	cw := newCSV(w)
	if err := writeRow(cw, "purpose", "name", "legal_basis", "article", "retention", "categories", "necessary", "allowed_now", "reason"); err != nil {
		return err
	}
	for _, ps := range b.state {
		p := ps.Purpose
		if err := writeRow(cw, p.Slug, p.Names["en"], string(p.Basis), p.Basis.Article(), retentionText(p.Retention),
			strings.Join(p.Categories, " "), fmt.Sprint(p.Necessary), fmt.Sprint(ps.Decision.Allowed), string(ps.Decision.Reason)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// retentionText is the storage period of a purpose, or the criterion when
// none is set (Art. 15(1)(d) allows either).
func retentionText(r string) string {
	if r == "" {
		return "as long as the account exists, then until the end of any legal retention duty"
	}
	return r
}

// consultation is one audit event as a person may see it (CJEU C-579/21):
// when, what and why, and the kind of actor, never a staff member's
// identity.
type consultation struct {
	At      time.Time `json:"at"`
	Action  string    `json:"action"`
	Purpose string    `json:"purpose"`
	By      string    `json:"by"`
	Result  string    `json:"result"`
}

func byWhom(actor string) string {
	switch {
	case strings.HasPrefix(actor, "subject:"):
		return "you"
	case strings.HasPrefix(actor, "staff:"):
		return "our staff"
	case strings.HasPrefix(actor, "apikey:"):
		return "our service"
	case strings.HasPrefix(actor, "link:"):
		return "a download link"
	}
	return "automatic processing"
}

func (b *builder) consultations() []consultation {
	events := b.events
	if len(events) > maxConsultations {
		events = events[len(events)-maxConsultations:]
	}
	out := make([]consultation, len(events))
	for i, ev := range events {
		out[i] = consultation{At: ev.At.UTC(), Action: ev.Action, Purpose: ev.Purpose, By: byWhom(ev.Actor), Result: ev.Result}
	}
	return out
}

func (b *builder) consultationsCSV(w io.Writer) error {
	cw := newCSV(w)
	if err := writeRow(cw, "at", "action", "purpose", "by", "result"); err != nil {
		return err
	}
	for _, c := range b.consultations() {
		if err := writeRow(cw, fmtTime(c.At), c.Action, c.Purpose, c.By, c.Result); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// purposeInfo is one purpose in data.json: Art. 15(1)(a) with its legal
// basis, the categories it uses (b) and its retention (d).
type purposeInfo struct {
	Slug            string             `json:"slug"`
	Name            string             `json:"name"`
	Description     string             `json:"description,omitempty"`
	LegalBasis      consent.LegalBasis `json:"legal_basis"`
	Article         string             `json:"article"`
	Categories      []string           `json:"categories"`
	Retention       string             `json:"retention"`
	Necessary       bool               `json:"necessary"`
	DirectMarketing bool               `json:"direct_marketing"`
	Decision        consent.Decision   `json:"your_status"`
}

type categoryInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Held        bool   `json:"held"`
}

// information is the Art. 15(1)(a)-(h) and 15(2) part of data.json. Every
// item is present; where one does not apply, a statement says so.
type information struct {
	Confirmation         string              `json:"confirmation"`
	Controller           string              `json:"controller"`
	DPO                  string              `json:"dpo,omitempty"`
	Purposes             []purposeInfo       `json:"purposes"`
	Categories           []categoryInfo      `json:"categories"`
	Recipients           []Recipient         `json:"recipients"`
	Source               string              `json:"source"`
	AutomatedDecisions   []AutomatedDecision `json:"automated_decisions"`
	AutomatedStatement   string              `json:"automated_decisions_statement"`
	TransferSafeguards   string              `json:"transfer_safeguards"`
	Rights               []Right             `json:"rights"`
	SupervisoryAuthority string              `json:"supervisory_authority"`
}

func (b *builder) information() information {
	in := information{
		Confirmation: "Yes: we process personal data about you. This package holds a copy of all of it as it stood when the package was built.",
		Controller:   b.info.Controller, DPO: b.info.DPO, SupervisoryAuthority: b.info.SupervisoryAuthority,
		Recipients: b.info.Recipients, AutomatedDecisions: b.info.AutomatedDecisions,
		Source: b.info.Source, TransferSafeguards: b.info.TransferSafeguards,
	}
	if in.Recipients == nil {
		in.Recipients = []Recipient{}
	}
	if in.Source == "" {
		in.Source = "All of this data was collected from you or generated by your use of the service."
	}
	if len(in.AutomatedDecisions) == 0 {
		in.AutomatedDecisions = []AutomatedDecision{}
		in.AutomatedStatement = "No decisions based solely on automated processing, including profiling, are taken about you (Art. 22)."
	} else {
		in.AutomatedStatement = "The decisions listed are taken by automated means; you may ask for a person to review them."
	}
	if in.TransferSafeguards == "" {
		in.TransferSafeguards = "Not applicable: your data is not transferred outside the European Economic Area."
	}
	held := map[string]bool{}
	for c := range b.subj.Data {
		held[c] = true
	}
	for _, c := range b.cats {
		in.Categories = append(in.Categories, categoryInfo{Name: c.Name, Description: c.Description, Held: held[c.Name]})
	}
	purposes := make([]consent.Purpose, 0, len(b.state))
	for _, ps := range b.state {
		p := ps.Purpose
		purposes = append(purposes, p)
		in.Purposes = append(in.Purposes, purposeInfo{
			Slug: p.Slug, Name: p.Names["en"], Description: p.Descriptions["en"], LegalBasis: p.Basis,
			Article: p.Basis.Article(), Categories: slices.Clone(p.Categories), Retention: retentionText(p.Retention),
			Necessary: p.Necessary, DirectMarketing: p.DirectMarketing, Decision: ps.Decision,
		})
		if in.Purposes[len(in.Purposes)-1].Categories == nil {
			in.Purposes[len(in.Purposes)-1].Categories = []string{}
		}
	}
	in.Rights = rights(purposes, b.info.SupervisoryAuthority)
	return in
}

// subjectJSON is the account part of data.json.
type subjectJSON struct {
	ID         string    `json:"id"`
	ExternalID string    `json:"external_id,omitempty"`
	Email      string    `json:"email,omitempty"`
	Phone      string    `json:"phone,omitempty"`
	Restricted bool      `json:"restricted"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// dataJSON writes data.json member by member, so the stored data goes out
// as it is, without being decoded into a second copy.
func (b *builder) dataJSON(w io.Writer) error {
	field := func(name string, v any, last bool) error {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		sep := ",\n"
		if last {
			sep = "\n"
		}
		_, err = fmt.Fprintf(w, "  %q: %s%s", name, raw, sep)
		return err
	}
	if _, err := io.WriteString(w, "{\n"); err != nil {
		return err
	}
	s := b.subj
	head := []struct {
		name string
		v    any
	}{
		{"format", Format},
		{"kind", b.kind},
		{"generated_at", b.at.UTC()},
		{"encrypted", b.encrypted},
		{"subject", subjectJSON{ID: s.ID, ExternalID: s.ExternalID, Email: s.Email, Phone: s.Phone,
			Restricted: s.Restricted, CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()}},
	}
	for _, h := range head {
		if err := field(h.name, h.v, false); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(w, "  \"data\": {"); err != nil {
		return err
	}
	for i, c := range b.heldCategories() {
		sep := ","
		if i == 0 {
			sep = ""
		}
		if _, err := fmt.Fprintf(w, "%s\n    %q: ", sep, c); err != nil {
			return err
		}
		if _, err := w.Write(b.subj.Data[c]); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(w, "\n  },\n"); err != nil {
		return err
	}
	if err := field("information", b.information(), false); err != nil {
		return err
	}
	if err := field("consultations", b.consultations(), true); err != nil {
		return err
	}
	_, err := io.WriteString(w, "}\n")
	return err
}

func (b *builder) readme(w io.Writer) error {
	title := "Your personal data (access request, GDPR Art. 15)"
	if b.kind == Portability {
		title = "Your personal data (data portability, GDPR Art. 20)"
	}
	controller := b.info.Controller
	if controller == "" {
		controller = "the controller"
	}
	_, err := fmt.Fprintf(w, `%s
%s

Built %s by %s for the person with the account id %s.

What the files are
------------------
README.txt          this file.
account.csv         your account: identifiers (e-mail, phone, the id our
                    service knows you by), when it was created and changed,
                    and whether its processing is restricted.
categories/*.csv    one file per category of personal data we hold about
                    you (%s). Each row is one field: "field" is
                    its name (nested names joined with dots, list items
                    numbered from 0) and "value" its value.
purposes.csv        why we process personal data, on which legal basis, for
                    how long, and whether it applies to you now.
consultations.csv   when your data was read or changed, by what kind of
                    actor and for which purpose (staff are not named).
data.json           everything above in one JSON file, values exactly as
                    stored, together with the information Art. 15 GDPR
                    entitles you to: purposes, categories, recipients,
                    storage periods, the source of the data, automated
                    decisions, safeguards for transfers abroad, and your
                    rights, including the right to complain to %s.

CSV files follow RFC 4180 (UTF-8, comma-separated, CRLF line ends, quotes
around values that need them). A value that a spreadsheet could mistake for
a formula (one starting with =, +, -, @, a tab or a carriage return) is
prefixed with a single quote ('); data.json has the value without it.

Keep this package safe: it contains your personal data.
`, title, strings.Repeat("=", len(title)), b.at.UTC().Format(time.RFC3339), controller, b.subj.ID,
		strings.Join(b.heldCategories(), ", "), orDefault(b.info.SupervisoryAuthority, "a supervisory authority"))
	return err
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
