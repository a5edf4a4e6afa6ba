package consent

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Notice is a document shown to people: the privacy policy, the terms of
// use, the cookie policy, the data handling policy, or any other the
// operator adds. Its text lives in numbered versions.
type Notice struct {
	Slug      string    `json:"slug"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
	// Current is the number of the current (highest published) version, 0
	// while nothing is published.
	Current int `json:"current"`
}

// NoticeVersion is one version of a notice. Once published, its body never
// changes, so a consent record naming (Notice, Version) names the exact text
// the person saw, and SHA256 lets anyone check it.
type NoticeVersion struct {
	Notice  string `json:"notice"`
	Version int    `json:"version"`
	// Body is Markdown.
	Body string `json:"body"`
	// SHA256 is the hex SHA-256 of Body's UTF-8 bytes.
	SHA256      string    `json:"sha256"`
	EffectiveAt time.Time `json:"effective_at"`
	Summary     string    `json:"summary"`
	// Material says the change needs people to read and accept the notice
	// again (NeedsReacceptance).
	Material    bool       `json:"material"`
	CreatedAt   time.Time  `json:"created_at"`
	PublishedAt *time.Time `json:"published_at"` // nil: draft
}

// Draft is the content of a new or edited notice version.
type Draft struct {
	Body        string
	EffectiveAt time.Time
	Summary     string
	Material    bool
}

const (
	maxTitleLen   = 200
	maxBodyLen    = 1 << 20
	maxSummaryLen = 4000
	// draftAttempts bounds the retries when concurrent drafts on
	// PostgreSQL pick the same version number.
	draftAttempts = 8
)

// BodyHash is the hex SHA-256 of a notice body, as stored and as consent
// requests quote it.
func BodyHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

func validateDraft(d Draft) error {
	if strings.TrimSpace(d.Body) == "" || len(d.Body) > maxBodyLen || !validText(d.Body) {
		return errcode.Field("body", "a notice body is Markdown text of 1 byte to 1 MiB")
	}
	if d.EffectiveAt.IsZero() {
		return errcode.Field("effective_at", "a notice version needs an effective date")
	}
	if len(d.Summary) > maxSummaryLen || !validText(d.Summary) {
		return errcode.Field("summary", "a change summary is at most %d characters of text", maxSummaryLen)
	}
	if d.Material && strings.TrimSpace(d.Summary) == "" {
		return errcode.Field("summary", "a material change needs a summary: people are asked to accept it again and must see what changed")
	}
	return nil
}

// CreateNotice adds a notice (with no versions yet).
func (r *Register) CreateNotice(ctx context.Context, a Actor, slug, title string) (Notice, error) {
	if !slugPattern.MatchString(slug) {
		return Notice{}, errcode.Field("slug", "a notice slug is 1 to 63 lower-case letters, digits and dashes, starting with a letter")
	}
	if strings.TrimSpace(title) == "" || len(title) > maxTitleLen || !validText(title) {
		return Notice{}, errcode.Field("title", "a title is 1 to %d characters of text", maxTitleLen)
	}
	now := r.now()
	err := r.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO notices (slug, title, created_at) VALUES ($1, $2, $3)", slug, title, sqlstore.Micros(now)); err != nil {
			return err
		}
		return r.auditPlain(ctx, tx, a, "notice.create", "notice:"+slug)
	})
	if sqlstore.IsUniqueViolation(err) {
		return Notice{}, &errcode.Error{Code: errcode.Conflict, Field: "slug", Message: fmt.Sprintf("notice %q exists", slug), Err: err}
	}
	if err != nil {
		return Notice{}, err
	}
	return Notice{Slug: slug, Title: title, CreatedAt: now}, nil
}

// Notices lists the notices with their current version numbers.
func (r *Register) Notices(ctx context.Context) ([]Notice, error) {
	rows, err := r.db.Read().QueryContext(ctx, `SELECT n.slug, n.title, n.created_at,
		COALESCE((SELECT MAX(version) FROM notice_versions v WHERE v.notice = n.slug AND v.published_at IS NOT NULL), 0)
		FROM notices n ORDER BY n.slug`)
	if err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	defer rows.Close()
	var out []Notice
	for rows.Next() {
		var n Notice
		var created int64
		if err := rows.Scan(&n.Slug, &n.Title, &created, &n.Current); err != nil {
			return nil, fmt.Errorf("list notices: %w", err)
		}
		n.CreatedAt = sqlstore.FromMicros(created)
		out = append(out, n)
	}
	return out, rows.Err()
}

// DraftNotice adds a new unpublished version to a notice. Its number is the
// notice's highest plus one, made unique by the database: when concurrent
// drafts race for a number (PostgreSQL), the loser tries the next one.
func (r *Register) DraftNotice(ctx context.Context, a Actor, notice string, d Draft) (NoticeVersion, error) {
	if err := validateDraft(d); err != nil {
		return NoticeVersion{}, err
	}
	if !slugPattern.MatchString(notice) {
		return NoticeVersion{}, noticeNotFound(notice)
	}
	v := NoticeVersion{Notice: notice, Body: d.Body, SHA256: BodyHash(d.Body),
		EffectiveAt: d.EffectiveAt.UTC().Truncate(time.Microsecond), Summary: d.Summary, Material: d.Material}
	sum := sha256.Sum256([]byte(d.Body))
	for attempt := 1; ; attempt++ {
		v.CreatedAt = r.now()
		err := r.db.Write(ctx, func(tx *sqlstore.Tx) error {
			if err := noticeExists(ctx, tx, notice); err != nil {
				return err
			}
			err := tx.QueryRowContext(ctx, `INSERT INTO notice_versions
				(notice, version, body, body_sha256, effective_at, summary, material, created_at)
				SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6, $7 FROM notice_versions WHERE notice = $1
				RETURNING version`,
				notice, d.Body, sum[:], sqlstore.Micros(v.EffectiveAt), d.Summary, boolInt(d.Material),
				sqlstore.Micros(v.CreatedAt)).Scan(&v.Version)
			if err != nil {
				return err
			}
			return r.auditPlain(ctx, tx, a, "notice.draft", fmt.Sprintf("notice:%s/v%d", notice, v.Version))
		})
		if sqlstore.IsUniqueViolation(err) && attempt < draftAttempts {
			continue
		}
		if err != nil {
			return NoticeVersion{}, err
		}
		return v, nil
	}
}

// UpdateDraft replaces the content of an unpublished version. A published
// version is immutable (and the database refuses to change it too): a
// change is a new version.
func (r *Register) UpdateDraft(ctx context.Context, a Actor, notice string, version int, d Draft) (NoticeVersion, error) {
	if err := validateDraft(d); err != nil {
		return NoticeVersion{}, err
	}
	var out NoticeVersion
	sum := sha256.Sum256([]byte(d.Body))
	err := r.db.Write(ctx, func(tx *sqlstore.Tx) error {
		cur, err := loadVersion(ctx, tx, notice, version)
		if err != nil {
			return err
		}
		if cur.PublishedAt != nil {
			return errcode.E(errcode.Conflict, "version %d of %s is published and cannot change; draft a new version", version, notice)
		}
		out = cur
		out.Body, out.SHA256, out.Summary, out.Material = d.Body, BodyHash(d.Body), d.Summary, d.Material
		out.EffectiveAt = d.EffectiveAt.UTC().Truncate(time.Microsecond)
		res, err := tx.ExecContext(ctx, `UPDATE notice_versions SET body = $3, body_sha256 = $4, effective_at = $5,
			summary = $6, material = $7 WHERE notice = $1 AND version = $2 AND published_at IS NULL`,
			notice, version, d.Body, sum[:], sqlstore.Micros(out.EffectiveAt), d.Summary, boolInt(d.Material))
		if err := oneRow(res, err); err != nil {
			// Published by a concurrent transaction since we read it.
			return errcode.Wrap(err, errcode.Conflict, "version %d of %s is published and cannot change; draft a new version", version, notice)
		}
		return r.auditPlain(ctx, tx, a, "notice.draft.update", fmt.Sprintf("notice:%s/v%d", notice, version))
	})
	return out, err
}

// PublishNotice publishes a draft, which makes it the notice's current
// version. Publishing a version older than the current one is refused: it
// would not become current, and people would be shown a text no newer than
// the one they already have.
func (r *Register) PublishNotice(ctx context.Context, a Actor, notice string, version int) (NoticeVersion, error) {
	var out NoticeVersion
	now := r.now()
	err := r.db.Write(ctx, func(tx *sqlstore.Tx) error {
		// Publications of one notice take turns, so two drafts published at
		// once cannot leave the older one published last.
		if err := lockNotice(ctx, tx, notice); err != nil {
			return err
		}
		cur, err := loadVersion(ctx, tx, notice, version)
		if err != nil {
			return err
		}
		if cur.PublishedAt != nil {
			return errcode.E(errcode.Conflict, "version %d of %s is already published", version, notice)
		}
		current, err := currentVersion(ctx, tx, notice)
		if err != nil {
			return err
		}
		if current > version {
			return errcode.E(errcode.Conflict, "version %d of %s is already published; an older draft cannot become current", current, notice)
		}
		res, err := tx.ExecContext(ctx, "UPDATE notice_versions SET published_at = $3 WHERE notice = $1 AND version = $2 AND published_at IS NULL",
			notice, version, sqlstore.Micros(now))
		if err := oneRow(res, err); err != nil {
			return err
		}
		cur.PublishedAt = &now
		out = cur
		return r.auditPlain(ctx, tx, a, "notice.publish", fmt.Sprintf("notice:%s/v%d", notice, version))
	})
	return out, err
}

// NoticeVersion returns one version of a notice, published or not.
func (r *Register) NoticeVersion(ctx context.Context, notice string, version int) (NoticeVersion, error) {
	return loadVersion(ctx, r.db.Read(), notice, version)
}

// CurrentNotice returns the current version of a notice: its highest
// published one.
func (r *Register) CurrentNotice(ctx context.Context, notice string) (NoticeVersion, error) {
	var out NoticeVersion
	err := r.db.ReadTx(ctx, func(q sqlstore.Querier) error {
		n, err := currentVersion(ctx, q, notice)
		if err != nil {
			return err
		}
		if n == 0 {
			return errcode.E(errcode.NotFound, "notice %s has no published version", truncate(notice, 64))
		}
		out, err = loadVersion(ctx, q, notice, n)
		return err
	})
	return out, err
}

// NoticeVersions lists every version of a notice, oldest first.
func (r *Register) NoticeVersions(ctx context.Context, notice string) ([]NoticeVersion, error) {
	var out []NoticeVersion
	err := r.db.ReadTx(ctx, func(q sqlstore.Querier) error {
		if err := noticeExists(ctx, q, notice); err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, selectVersions+" WHERE notice = $1 ORDER BY version", notice)
		if err != nil {
			return err
		}
		out, err = collectVersions(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// collectVersions scans every row of a notice_versions query and closes
// the rows.
func collectVersions(rows *sql.Rows) ([]NoticeVersion, error) {
	defer rows.Close()
	var out []NoticeVersion
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func noticeNotFound(notice string) error {
	return errcode.E(errcode.NotFound, "no notice %q", truncate(notice, 64))
}

func noticeExists(ctx context.Context, q sqlstore.Querier, notice string) error {
	if !slugPattern.MatchString(notice) {
		return noticeNotFound(notice)
	}
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM notices WHERE slug = $1", notice).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return noticeNotFound(notice)
	}
	return err
}

// lockNotice locks a notice's row until the end of tx on PostgreSQL
// (SQLite's single writer already serialises writes).
func lockNotice(ctx context.Context, tx *sqlstore.Tx, notice string) error {
	if !slugPattern.MatchString(notice) {
		return noticeNotFound(notice)
	}
	q := "SELECT 1 FROM notices WHERE slug = $1"
	if tx.Engine() == sqlstore.Postgres {
		q += " FOR UPDATE"
	}
	var one int
	err := tx.QueryRowContext(ctx, q, notice).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return noticeNotFound(notice)
	}
	return err
}

// oneRow turns the outcome of an UPDATE that must change exactly one row
// into an error.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("changed %d rows, want 1", n)
	}
	return nil
}

// currentVersion is the highest published version of notice, 0 if none.
func currentVersion(ctx context.Context, q sqlstore.Querier, notice string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM notice_versions WHERE notice = $1 AND published_at IS NOT NULL", notice).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("current version of %s: %w", notice, err)
	}
	return n, nil
}

const selectVersions = `SELECT notice, version, body, body_sha256, effective_at, summary, material, created_at, published_at
	FROM notice_versions`

type scanner interface{ Scan(dest ...any) error }

func scanVersion(s scanner) (NoticeVersion, error) {
	var (
		v                  NoticeVersion
		sum                []byte
		effective, created int64
		material           int
		published          sql.NullInt64
	)
	if err := s.Scan(&v.Notice, &v.Version, &v.Body, &sum, &effective, &v.Summary, &material, &created, &published); err != nil {
		return NoticeVersion{}, err
	}
	v.SHA256 = hex.EncodeToString(sum)
	v.EffectiveAt, v.CreatedAt, v.Material = sqlstore.FromMicros(effective), sqlstore.FromMicros(created), material == 1
	if published.Valid {
		t := sqlstore.FromMicros(published.Int64)
		v.PublishedAt = &t
	}
	return v, nil
}

func loadVersion(ctx context.Context, q sqlstore.Querier, notice string, version int) (NoticeVersion, error) {
	if !slugPattern.MatchString(notice) || version < 1 {
		return NoticeVersion{}, errcode.E(errcode.NotFound, "no version %d of notice %q", version, truncate(notice, 64))
	}
	v, err := scanVersion(q.QueryRowContext(ctx, selectVersions+" WHERE notice = $1 AND version = $2", notice, version))
	if errors.Is(err, sql.ErrNoRows) {
		return NoticeVersion{}, errcode.E(errcode.NotFound, "no version %d of notice %q", version, notice)
	}
	if err != nil {
		return NoticeVersion{}, fmt.Errorf("read notice version: %w", err)
	}
	return v, nil
}

// NeedsReacceptance returns the current version of each notice the subject
// must (re-)accept: those with a material change published after the
// highest version the subject accepted (or any material version, if they
// never accepted the notice). A material version followed by minor ones
// still counts: the person never saw the material change.
func (r *Register) NeedsReacceptance(ctx context.Context, subjectID string) ([]NoticeVersion, error) {
	var out []NoticeVersion
	err := r.db.ReadTx(ctx, func(q sqlstore.Querier) error {
		if _, err := subjectRestricted(ctx, q, subjectID); err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, `SELECT v.notice, v.version, v.body, v.body_sha256, v.effective_at, v.summary,
			v.material, v.created_at, v.published_at
			FROM notice_versions v
			WHERE v.published_at IS NOT NULL
			AND v.version = (SELECT MAX(c.version) FROM notice_versions c WHERE c.notice = v.notice AND c.published_at IS NOT NULL)
			AND EXISTS (SELECT 1 FROM notice_versions m WHERE m.notice = v.notice AND m.published_at IS NOT NULL AND m.material = 1
				AND m.version > COALESCE((SELECT MAX(a.notice_version) FROM consent_records a
					WHERE a.subject_id = $1 AND a.kind = 'accept-notice' AND a.notice = v.notice), 0))
			ORDER BY v.notice`, subjectID)
		if err != nil {
			return err
		}
		out, err = collectVersions(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
