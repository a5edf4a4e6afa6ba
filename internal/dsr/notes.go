package dsr

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// MaxNote bounds an internal note, in bytes.
const MaxNote = 4000

// Note is a staff member's internal note on a request. Notes are staff
// text that may name or quote the person, so they are sealed with the
// subject's key like the request's own details, and never shown to the
// person (they are the controller's working notes, not a decision).
type Note struct {
	ID        string    `json:"id"`
	RequestID string    `json:"request_id"`
	At        time.Time `json:"at"`
	Author    string    `json:"author"`
	Text      string    `json:"text,omitempty"`
	// Erased reports that the note's words went with its subject.
	Erased bool `json:"erased,omitempty"`
}

func noteAD(requestID, noteID string) []string { return []string{"request_note", requestID, noteID} }

// AddNote adds an internal note by staff member a to request id. Only
// staff write notes; a note needs the request's subject to be known (its
// key seals the note). Refusals change nothing and are audited.
func (s *Service) AddNote(ctx context.Context, a Actor, id, text string) (Note, error) {
	const action = "dsr.request.note"
	if err := checkActor(a); err != nil {
		return Note{}, err
	}
	r, err := loadRequest(ctx, s.db.Read(), id)
	if err != nil {
		return Note{}, err
	}
	text = strings.TrimSpace(text)
	switch {
	case !a.isStaff():
		return Note{}, s.refuse(ctx, a, action, &r, errcode.E(errcode.Forbidden, "only staff write internal notes"))
	case text == "":
		return Note{}, s.refuse(ctx, a, action, &r, errcode.Field("text", "a note needs some text"))
	case len(text) > MaxNote || !validText(text):
		return Note{}, s.refuse(ctx, a, action, &r, errcode.Field("text", "a note is at most %d bytes of text", MaxNote))
	case r.SubjectID == "":
		return Note{}, s.refuse(ctx, a, action, &r, errcode.E(errcode.Conflict,
			"notes are sealed with the person's key: link the request to its subject first"))
	}
	n := Note{ID: ids.New("note_"), RequestID: id, At: s.now(), Author: a.Name, Text: text}
	sealed, keyID, err := s.sealer.Seal(ctx, r.SubjectID, []byte(text), noteAD(id, n.ID)...)
	if err != nil {
		return Note{}, s.refuse(ctx, a, action, &r, fmt.Errorf("seal note: %w", err))
	}
	target := s.requestTarget(&r)
	details, dkey, err := s.auditDetails(ctx, &r, target, map[string]any{"request": id, "note": n.ID})
	if err != nil {
		return Note{}, err
	}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		seq, err := s.audit.Append(ctx, tx, audit.Event{Actor: a.Name, Action: action, Purpose: a.Purpose,
			Target: target, Result: "ok", KeyID: dkey, Details: details})
		if err != nil {
			return fmt.Errorf("audit %s: %w", action, err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO request_notes (id, request_id, at, author, sealed, key_id, audit_seq)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, n.ID, id, sqlstore.Micros(n.At), n.Author, sealed, keyID, seq)
		return err
	})
	if err != nil {
		return Note{}, fmt.Errorf("dsr: add note: %w", err)
	}
	return n, nil
}

// Notes returns the internal notes of request id, oldest first, opened.
// Opening them reads personal data, which is audited before anything is
// returned. Only staff read notes.
func (s *Service) Notes(ctx context.Context, a Actor, id string) ([]Note, error) {
	if err := checkActor(a); err != nil {
		return nil, err
	}
	r, err := loadRequest(ctx, s.db.Read(), id)
	if err != nil {
		return nil, err
	}
	if !a.isStaff() {
		return nil, s.refuse(ctx, a, "dsr.request.notes.read", &r, errcode.E(errcode.Forbidden, "only staff read internal notes"))
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, at, author, sealed, key_id FROM request_notes
		WHERE request_id = $1 ORDER BY at, id`, id)
	if err != nil {
		return nil, fmt.Errorf("dsr: read notes: %w", err)
	}
	type row struct {
		n      Note
		sealed []byte
		keyID  string
	}
	var raw []row
	for rows.Next() {
		var x row
		var at int64
		if err := rows.Scan(&x.n.ID, &at, &x.n.Author, &x.sealed, &x.keyID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("dsr: read notes: %w", err)
		}
		x.n.RequestID, x.n.At = id, sqlstore.FromMicros(at)
		raw = append(raw, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dsr: read notes: %w", err)
	}
	out := make([]Note, 0, len(raw))
	opened := false
	for _, x := range raw {
		if r.SubjectID == "" {
			x.n.Erased = true
			out = append(out, x.n)
			continue
		}
		b, err := s.sealer.Open(ctx, r.SubjectID, x.keyID, x.sealed, noteAD(id, x.n.ID)...)
		switch {
		case errcode.Of(err) == errcode.Gone:
			x.n.Erased = true
		case err != nil:
			return nil, fmt.Errorf("dsr: open note %s: %w", x.n.ID, err)
		default:
			x.n.Text, opened = string(b), true
		}
		out = append(out, x.n)
	}
	if opened {
		if err := s.auditRead(ctx, a, "dsr.request.notes.read", &r); err != nil {
			return nil, err
		}
	}
	return out, nil
}
