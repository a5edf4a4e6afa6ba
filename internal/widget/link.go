package widget

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// LinkResult says what linking a visitor to a subject carried over.
type LinkResult struct {
	// Recorded are the consent records written for the subject.
	Recorded []consent.Record `json:"recorded"`
	// Skipped lists purposes whose widget grant cited a notice version
	// that is no longer current: a grant must cite the current
	// notice, so the person is asked again rather than assumed to agree.
	Skipped []string `json:"skipped"`
}

// Link copies a visitor's latest choice per purpose into the consent
// register of a subject (channel "widget", source "widget-link") and marks
// the visitor as theirs, so the visitor's evidence goes with the subject
// if the subject is erased. The host calls it when the person signs in.
// Linking the same visitor to the same subject again records nothing new;
// to another subject is refused.
func (w *Widget) Link(ctx context.Context, a consent.Actor, subjectID, token string) (*LinkResult, error) {
	visitor, ok := w.parseVisitor(token)
	if !ok {
		return nil, errcode.Field("visitor", "this visitor token was not issued by this gdprd")
	}
	var linked sql.NullString
	err := w.db.Read().QueryRowContext(ctx, `SELECT subject_id FROM widget_visitors WHERE id = $1`, visitor).Scan(&linked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errcode.E(errcode.NotFound, "no such visitor")
	}
	if err != nil {
		return nil, fmt.Errorf("widget: link: %w", err)
	}
	if linked.Valid {
		if linked.String != subjectID {
			return nil, errcode.E(errcode.Conflict, "this visitor is linked to another subject")
		}
		return &LinkResult{}, nil
	}
	latest, err := w.latestChoices(ctx, visitor)
	if err != nil {
		return nil, err
	}
	res := &LinkResult{}
	for _, c := range latest {
		if c.kind == consent.Grant {
			cur, err := w.consent.CurrentNotice(ctx, c.notice)
			if err != nil {
				return nil, err
			}
			if c.noticeVersion != cur.Version {
				res.Skipped = append(res.Skipped, c.purpose)
				continue
			}
		}
		req := consent.Request{
			SubjectID: subjectID, Kind: c.kind, Purpose: c.purpose,
			Channel: consent.Widget, Action: c.action, Source: "widget-link",
			IP: networkAddr(c.proof.Network), UserAgent: c.proof.UserAgent,
		}
		if c.kind == consent.Grant {
			req.Notice, req.NoticeVersion = c.notice, c.noticeVersion
		}
		rec, err := w.consent.Record(ctx, a, req)
		if err != nil {
			return nil, err
		}
		res.Recorded = append(res.Recorded, rec)
	}
	err = w.db.Write(ctx, func(tx *sqlstore.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE widget_visitors SET subject_id = $2, linked_at = $3 WHERE id = $1 AND subject_id IS NULL`,
			visitor, subjectID, sqlstore.Micros(w.clock()))
		if err != nil {
			return fmt.Errorf("widget: link: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return errcode.E(errcode.Conflict, "this visitor was linked at the same moment by another request")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

type storedChoice struct {
	purpose       string
	notice        string
	kind          consent.Kind
	action        consent.Action
	noticeVersion int
	proof         proof
}

// latestChoices returns the last choice per purpose of a visitor.
func (w *Widget) latestChoices(ctx context.Context, visitor string) ([]storedChoice, error) {
	rows, err := w.db.Read().QueryContext(ctx, `SELECT c.purpose, c.notice, c.kind, c.action, c.notice_version, c.recorded_at, c.proof
		FROM widget_choices c
		WHERE c.visitor_id = $1 AND c.seq = (SELECT MAX(seq) FROM widget_choices WHERE visitor_id = $1 AND purpose = c.purpose)
		ORDER BY c.purpose`, visitor)
	if err != nil {
		return nil, fmt.Errorf("widget: choices: %w", err)
	}
	defer rows.Close()
	var out []storedChoice
	for rows.Next() {
		var c storedChoice
		var kind, action string
		var at int64
		var sealed []byte
		if err := rows.Scan(&c.purpose, &c.notice, &kind, &action, &c.noticeVersion, &at, &sealed); err != nil {
			return nil, err
		}
		c.kind, c.action = consent.Kind(kind), consent.Action(action)
		if plain, err := w.proof.Open(sealed, "widget_proof", visitor, strconv.FormatInt(at, 10)); err == nil {
			_ = json.Unmarshal(plain, &c.proof)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// networkAddr is the address part of a truncated network ("203.0.113.0"
// of "203.0.113.0/24"), the form the consent register's proof takes.
func networkAddr(n string) string {
	addr, _, _ := strings.Cut(n, "/")
	return addr
}
