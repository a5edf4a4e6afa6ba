package consent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Purpose is a purpose of processing: what the operator does with personal
// data and on which legal ground. The same purposes drive consent checks,
// the notices and the Art. 30 record of processing.
type Purpose struct {
	Slug string `json:"slug"`
	// Names and Descriptions map a language tag ("en", "de") to text.
	Names        map[string]string `json:"names"`
	Descriptions map[string]string `json:"descriptions"`
	Basis        LegalBasis        `json:"legal_basis"`
	// SpecialCategories says the purpose processes special categories of
	// data (Art. 9(1)); Art9Condition is then the exception relied on.
	SpecialCategories bool          `json:"special_categories"`
	Art9Condition     Art9Condition `json:"art9_condition,omitempty"`
	// Categories are the data categories used (names from the vault).
	Categories []string `json:"categories"`
	// Necessary purposes are needed to provide the service: they cannot be
	// switched off one by one; stopping them means closing the account.
	Necessary bool `json:"necessary"`
	// DirectMarketing purposes can always be objected to, and such an
	// objection is absolute (Art. 21(2), (3)).
	DirectMarketing bool `json:"direct_marketing"`
	// Retention is an ISO 8601 duration of days, weeks, months and years
	// ("P30D", "P10Y"); a bare number of days is accepted and stored as
	// "P<n>D".
	Retention string `json:"retention"`
	// Notice is the notice a grant must cite the current version of
	// (privacy-policy unless set).
	Notice    string    `json:"notice"`
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is set by the register. When an update carries a non-zero
	// UpdatedAt it must equal the stored one: a lost-update guard for
	// read-modify-write clients.
	UpdatedAt time.Time `json:"updated_at"`
}

// DefaultNotice is the notice a purpose's grants cite unless it names
// another.
const DefaultNotice = "privacy-policy"

var (
	slugPattern      = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	langPattern      = regexp.MustCompile(`^[a-z]{2,3}(-[A-Z]{2})?$`)
	retentionPattern = regexp.MustCompile(`^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$`)
)

const (
	maxNameLen        = 200
	maxDescriptionLen = 4000
)

// normalizeRetention returns the stored form of a retention period, or
// false when it is neither a non-zero ISO 8601 duration of whole days,
// weeks, months or years nor a positive number of days.
func normalizeRetention(s string) (string, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 {
			return "", false
		}
		return "P" + strconv.Itoa(n) + "D", true
	}
	m := retentionPattern.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	nonZero := false
	for _, part := range m[1:] {
		if part != "" && strings.Trim(part, "0") != "" {
			nonZero = true
		}
	}
	return s, nonZero
}

// validatePurpose checks everything about p that does not need the
// database, and normalises it in place.
func (r *Register) validatePurpose(p *Purpose) error {
	if !slugPattern.MatchString(p.Slug) {
		return errcode.Field("slug", "a purpose slug is 1 to 63 lower-case letters, digits and dashes, starting with a letter")
	}
	for _, lang := range r.langs {
		if p.Names[lang] == "" {
			return errcode.Field("names."+lang, "a purpose needs a name in %s", lang)
		}
		if strings.TrimSpace(p.Descriptions[lang]) == "" {
			return errcode.Field("descriptions."+lang, "a purpose needs a description in %s: people must be told what it is for", lang)
		}
	}
	for lang, name := range p.Names {
		if !langPattern.MatchString(lang) {
			return errcode.Field("names", "%q is not a language tag like \"en\" or \"pt-BR\"", lang)
		}
		if strings.TrimSpace(name) == "" || len(name) > maxNameLen || !validText(name) {
			return errcode.Field("names."+lang, "a name is 1 to %d characters of text", maxNameLen)
		}
	}
	for lang, d := range p.Descriptions {
		if _, ok := p.Names[lang]; !ok {
			return errcode.Field("descriptions."+lang, "a description needs a name in the same language")
		}
		if len(d) > maxDescriptionLen || !validText(d) {
			return errcode.Field("descriptions."+lang, "a description is at most %d characters of text", maxDescriptionLen)
		}
	}
	if !p.Basis.Valid() {
		return errcode.Field("legal_basis", "the legal basis must be one of consent, contract, legal-obligation, vital-interests, public-task, legitimate-interest (Art. 6(1)(a)-(f))")
	}
	if p.Art9Condition != "" && !p.Art9Condition.Valid() {
		return errcode.Field("art9_condition", "unknown Art. 9(2) condition %q", p.Art9Condition)
	}
	if p.SpecialCategories && p.Art9Condition == "" {
		return errcode.Field("art9_condition", "a purpose that processes special categories of data needs an Art. 9(2) condition")
	}
	if !p.SpecialCategories && p.Art9Condition != "" {
		return errcode.Field("art9_condition", "an Art. 9(2) condition applies only to purposes that process special categories of data")
	}
	if p.Art9Condition == ExplicitConsent && p.Basis != Consent {
		return errcode.Field("legal_basis", "explicit consent (Art. 9(2)(a)) needs the legal basis consent")
	}
	if p.Necessary && p.Basis == Consent {
		// Art. 7(4): the service may not be made conditional on consent to
		// processing that it does not need; what it needs has another basis.
		return errcode.Field("necessary", "a purpose based on consent cannot be necessary for the service (Art. 7(4)); use the basis contract")
	}
	if p.Necessary && p.DirectMarketing {
		return errcode.Field("necessary", "direct marketing is never necessary for the service")
	}
	if p.DirectMarketing && p.Basis != Consent && p.Basis != LegitimateInterest {
		// Marketing is not necessary for a contract (EDPB Guidelines 2/2019)
		// nor required by law; Recital 47 names legitimate interests.
		return errcode.Field("legal_basis", "direct marketing rests on consent or legitimate interests")
	}
	ret, ok := normalizeRetention(p.Retention)
	if !ok {
		return errcode.Field("retention", "the retention period is an ISO 8601 duration such as P30D, P6M or P10Y, or a number of days")
	}
	p.Retention = ret
	if p.Notice == "" {
		p.Notice = DefaultNotice
	}
	if !slugPattern.MatchString(p.Notice) {
		return errcode.Field("notice", "unknown notice %q", truncate(p.Notice, 64))
	}
	cats := slices.Clone(p.Categories)
	slices.Sort(cats)
	p.Categories = slices.Compact(cats)
	for _, c := range p.Categories {
		if !slugPattern.MatchString(c) {
			return errcode.Field("categories", "unknown data category %q", truncate(c, 64))
		}
	}
	return nil
}

// checkReferences checks, inside tx, that p's notice and categories exist;
// the foreign keys would refuse them too, but with an error no client can
// act on.
func checkReferences(ctx context.Context, tx *sqlstore.Tx, p *Purpose) error {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM notices WHERE slug = $1", p.Notice).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return errcode.Field("notice", "unknown notice %q", p.Notice)
	}
	if err != nil {
		return err
	}
	for _, c := range p.Categories {
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM categories WHERE name = $1", c).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errcode.Field("categories", "unknown data category %q", c)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// CreatePurpose declares a new purpose.
func (r *Register) CreatePurpose(ctx context.Context, a Actor, p Purpose) (Purpose, error) {
	if err := r.validatePurpose(&p); err != nil {
		return Purpose{}, err
	}
	now := r.now()
	p.CreatedAt, p.UpdatedAt = now, now
	err := r.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if err := checkReferences(ctx, tx, &p); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO purposes (slug, name, description, legal_basis,
			special_categories, art9_condition, necessary, direct_marketing, retention, notice, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
			p.Slug, p.Names["en"], p.Descriptions["en"], string(p.Basis), boolInt(p.SpecialCategories),
			string(p.Art9Condition), boolInt(p.Necessary), boolInt(p.DirectMarketing), p.Retention, p.Notice,
			sqlstore.Micros(now)); err != nil {
			return err
		}
		if err := writeDetails(ctx, tx, &p); err != nil {
			return err
		}
		return r.auditPlain(ctx, tx, a, "purpose.create", "purpose:"+p.Slug)
	})
	if sqlstore.IsUniqueViolation(err) {
		return Purpose{}, &errcode.Error{Code: errcode.Conflict, Field: "slug", Message: fmt.Sprintf("purpose %q exists", p.Slug), Err: err}
	}
	if err != nil {
		return Purpose{}, err
	}
	return p, nil
}

// writeDetails replaces a purpose's translations and categories.
func writeDetails(ctx context.Context, tx *sqlstore.Tx, p *Purpose) error {
	for _, q := range []string{"DELETE FROM purpose_texts WHERE purpose = $1", "DELETE FROM purpose_categories WHERE purpose = $1"} {
		if _, err := tx.ExecContext(ctx, q, p.Slug); err != nil {
			return err
		}
	}
	for _, lang := range sortedKeys(p.Names) {
		if _, err := tx.ExecContext(ctx, "INSERT INTO purpose_texts (purpose, lang, name, description) VALUES ($1, $2, $3, $4)",
			p.Slug, lang, p.Names[lang], p.Descriptions[lang]); err != nil {
			return err
		}
	}
	for _, c := range p.Categories {
		if _, err := tx.ExecContext(ctx, "INSERT INTO purpose_categories (purpose, category) VALUES ($1, $2)", p.Slug, c); err != nil {
			return err
		}
	}
	return nil
}

// UpdatePurpose replaces the purpose named p.Slug with p (all fields but
// CreatedAt). Changing the legal basis of a purpose away from consent once
// people have given or withdrawn consent to it is refused: switching
// silently to another basis is not allowed (EDPB Guidelines 05/2020,
// withdrawal); declare a new purpose instead.
func (r *Register) UpdatePurpose(ctx context.Context, a Actor, p Purpose) (Purpose, error) {
	if err := r.validatePurpose(&p); err != nil {
		return Purpose{}, err
	}
	now := r.now()
	var out Purpose
	err := r.db.Write(ctx, func(tx *sqlstore.Tx) error {
		cur, err := loadPurpose(ctx, tx, p.Slug)
		if err != nil {
			return err
		}
		if !p.UpdatedAt.IsZero() && !p.UpdatedAt.Equal(cur.UpdatedAt) {
			return errcode.E(errcode.Conflict, "purpose %q was changed since it was read; read it again", p.Slug)
		}
		if cur.Basis == Consent && p.Basis != Consent {
			var one int
			err := tx.QueryRowContext(ctx, "SELECT 1 FROM consent_state WHERE purpose = $1 LIMIT 1", p.Slug).Scan(&one)
			if err == nil {
				return errcode.E(errcode.Conflict, "people have given, withdrawn or refused consent to %q; its legal basis cannot silently change (declare a new purpose)", p.Slug)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if err := checkReferences(ctx, tx, &p); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE purposes SET name = $2, description = $3, legal_basis = $4,
			special_categories = $5, art9_condition = $6, necessary = $7, direct_marketing = $8, retention = $9,
			notice = $10, updated_at = $11 WHERE slug = $1`,
			p.Slug, p.Names["en"], p.Descriptions["en"], string(p.Basis), boolInt(p.SpecialCategories),
			string(p.Art9Condition), boolInt(p.Necessary), boolInt(p.DirectMarketing), p.Retention, p.Notice,
			sqlstore.Micros(now)); err != nil {
			return err
		}
		if err := writeDetails(ctx, tx, &p); err != nil {
			return err
		}
		p.CreatedAt, p.UpdatedAt = cur.CreatedAt, now
		out = p
		return r.auditPlain(ctx, tx, a, "purpose.update", "purpose:"+p.Slug)
	})
	r.invalidateAll()
	return out, err
}

// Purpose returns one purpose.
func (r *Register) Purpose(ctx context.Context, slug string) (Purpose, error) {
	if !slugPattern.MatchString(slug) {
		return Purpose{}, purposeNotFound(slug)
	}
	var p Purpose
	err := r.db.ReadTx(ctx, func(q sqlstore.Querier) error {
		var err error
		p, err = loadPurpose(ctx, q, slug)
		return err
	})
	return p, err
}

// Purposes returns every purpose, by slug.
func (r *Register) Purposes(ctx context.Context) ([]Purpose, error) {
	var out []Purpose
	err := r.db.ReadTx(ctx, func(q sqlstore.Querier) error {
		var err error
		out, err = loadPurposes(ctx, q, "")
		return err
	})
	return out, err
}

func purposeNotFound(slug string) error {
	return errcode.E(errcode.NotFound, "no purpose %q", truncate(slug, 64))
}

func loadPurpose(ctx context.Context, q sqlstore.Querier, slug string) (Purpose, error) {
	ps, err := loadPurposes(ctx, q, slug)
	if err != nil {
		return Purpose{}, err
	}
	if len(ps) == 0 {
		return Purpose{}, purposeNotFound(slug)
	}
	return ps[0], nil
}

// loadPurposes reads one purpose (slug != "") or all of them, with their
// translations and categories.
func loadPurposes(ctx context.Context, q sqlstore.Querier, slug string) ([]Purpose, error) {
	const cols = `SELECT slug, legal_basis, special_categories, art9_condition, necessary, direct_marketing,
		retention, COALESCE(notice, 'privacy-policy'), created_at, updated_at FROM purposes`
	query, args := cols+" ORDER BY slug", []any{}
	if slug != "" {
		query, args = cols+" WHERE slug = $1", []any{slug}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read purposes: %w", err)
	}
	var out []Purpose
	index := map[string]int{}
	for rows.Next() {
		var (
			p                Purpose
			basis, cond      string
			special, nec, dm int
			created, updated int64
		)
		if err := rows.Scan(&p.Slug, &basis, &special, &cond, &nec, &dm, &p.Retention, &p.Notice, &created, &updated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read purposes: %w", err)
		}
		p.Basis, p.Art9Condition = LegalBasis(basis), Art9Condition(cond)
		p.SpecialCategories, p.Necessary, p.DirectMarketing = special == 1, nec == 1, dm == 1
		p.CreatedAt, p.UpdatedAt = sqlstore.FromMicros(created), sqlstore.FromMicros(updated)
		p.Names, p.Descriptions, p.Categories = map[string]string{}, map[string]string{}, []string{}
		index[p.Slug] = len(out)
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read purposes: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	filter := ""
	if slug != "" {
		filter = " WHERE purpose = $1"
	}
	if err := eachRow(ctx, q, "SELECT purpose, lang, name, description FROM purpose_texts"+filter, args, func(s []string) {
		if i, ok := index[s[0]]; ok {
			out[i].Names[s[1]] = s[2]
			if s[3] != "" {
				out[i].Descriptions[s[1]] = s[3]
			}
		}
	}, 4); err != nil {
		return nil, fmt.Errorf("read purpose texts: %w", err)
	}
	if err := eachRow(ctx, q, "SELECT purpose, category FROM purpose_categories"+filter+" ORDER BY purpose, category", args, func(s []string) {
		if i, ok := index[s[0]]; ok {
			out[i].Categories = append(out[i].Categories, s[1])
		}
	}, 2); err != nil {
		return nil, fmt.Errorf("read purpose categories: %w", err)
	}
	return out, nil
}

// eachRow runs a query of n text columns and hands each row to fn.
func eachRow(ctx context.Context, q sqlstore.Querier, query string, args []any, fn func([]string), n int) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]string, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		fn(vals)
	}
	return rows.Err()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
