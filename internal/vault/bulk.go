package vault

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// MaxCreateMany bounds one CreateMany call, so one transaction stays
// reasonable on both engines.
const MaxCreateMany = 5000

// CreateMany stores many new subjects in one transaction, for bulk imports
// and for seeding the benchmark (`gdprd bench-seed`). Each subject is
// validated, keyed and sealed exactly as Create does it (the same
// validateNew and sealNew, the same columns and values), and gets its own
// subject.create audit event with the same sealed details; only the
// INSERTs are grouped into multi-row statements, so that a million
// subjects do not cost several million round trips on PostgreSQL. It
// returns the new ids in input order. Any failure (a duplicate identifier
// included) fails the whole call and writes nothing.
func (v *Vault) CreateMany(ctx context.Context, a Actor, ns []NewSubject) ([]string, error) {
	if len(ns) == 0 {
		return nil, nil
	}
	if len(ns) > MaxCreateMany {
		return nil, errcode.E(errcode.Invalid, "at most %d subjects per call", MaxCreateMany)
	}
	type pending struct {
		idents []identifier
		cats   []string
	}
	ps := make([]pending, len(ns))
	keysNeeded := 0
	for i, n := range ns {
		idents, cats, err := v.validateNew(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("subject %d: %w", i, err)
		}
		ps[i] = pending{idents, cats}
		keysNeeded += 1 + len(cats)
	}
	dks, err := v.ks.Take(ctx, keysNeeded)
	if err != nil {
		return nil, err
	}
	us := sqlstore.Micros(v.now().UTC().Truncate(time.Microsecond))
	var (
		sealed = make([]*newSubject, len(ns))
		subs   = make([][]any, 0, len(ns))
		idRows [][]any
		data   [][]any
		events = make([]audit.Event, len(ns))
		out    = make([]string, len(ns))
	)
	next := 0
	for i, n := range ns {
		k := dks[next : next+1+len(ps[i].cats)]
		next += len(k)
		s, err := sealNew(n, ps[i].idents, ps[i].cats, k)
		if err != nil {
			v.ks.DestroyRelaxed(context.WithoutCancel(ctx), keyIDs(dks)...)
			return nil, err
		}
		sealed[i], out[i] = s, s.id
		subs = append(subs, []any{s.id, s.subjectKey().ID(), us, us})
		for j, ident := range s.idents {
			idRows = append(idRows, []any{ident.kind, ident.blind, s.id, s.sealedIDs[j]})
		}
		for j, c := range s.cats {
			data = append(data, []any{s.id, c, k[1+j].ID(), s.sealedData[j], us})
		}
		target := v.target(s.id)
		details, keyID, err := sealDetails(s.subjectKey(), target, s.auditDetails())
		if err != nil {
			v.ks.DestroyRelaxed(context.WithoutCancel(ctx), keyIDs(dks)...)
			return nil, fmt.Errorf("seal audit details: %w", err)
		}
		events[i] = audit.Event{Actor: a.Name, Action: "subject.create", Purpose: a.Purpose, Target: target,
			Result: "ok", KeyID: keyID, Details: details}
	}
	err = v.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if err := insertRows(ctx, tx, "subjects (id, key_id, created_at, updated_at)", subs); err != nil {
			return err
		}
		if err := insertRows(ctx, tx, "subject_identifiers (kind, blind, subject_id, sealed)", idRows); err != nil {
			return err
		}
		if err := insertRows(ctx, tx, "subject_data (subject_id, category, key_id, sealed, updated_at)", data); err != nil {
			return err
		}
		if _, err := v.audit.AppendAll(ctx, tx, events); err != nil {
			return fmt.Errorf("audit subject.create: %w", err)
		}
		return nil
	})
	if err != nil {
		v.ks.DestroyRelaxed(context.WithoutCancel(ctx), keyIDs(dks)...)
		if sqlstore.IsUniqueViolation(err) {
			return nil, &errcode.Error{Code: errcode.Conflict, Message: "an identifier is already taken", Err: err}
		}
		return nil, fmt.Errorf("create subjects: %w", err)
	}
	return out, nil
}

// insertRows inserts rows into table ("name (col, …)") with multi-row
// INSERT statements, each under PostgreSQL's and SQLite's limits on bound
// parameters.
func insertRows(ctx context.Context, tx *sqlstore.Tx, table string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	cols := len(rows[0])
	per := max(1, min(40, 30000/cols))
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		var sb strings.Builder
		sb.WriteString("INSERT INTO ")
		sb.WriteString(table)
		sb.WriteString(" VALUES ")
		args := make([]any, 0, cols*len(chunk))
		for i, r := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteByte('(')
			for j := range r {
				if j > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, "$%d", len(args)+j+1)
			}
			sb.WriteByte(')')
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}
