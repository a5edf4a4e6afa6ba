package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gdprd/gdprd/internal/ids"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

type identifier struct {
	kind, value string // value is normalised
	blind       []byte
}

func (v *Vault) identifiers(n NewSubject) ([]identifier, error) {
	var out []identifier
	for _, kv := range [][2]string{{KindExternalID, n.ExternalID}, {KindEmail, n.Email}, {KindPhone, n.Phone}} {
		if kv[1] == "" {
			continue
		}
		norm, err := normalise(kv[0], kv[1])
		if err != nil {
			return nil, err
		}
		out = append(out, identifier{kind: kv[0], value: norm, blind: v.kr.BlindIndex(kv[0], norm)})
	}
	return out, nil
}

// checkData validates category data: known categories, JSON objects.
func (v *Vault) checkData(ctx context.Context, data map[string]json.RawMessage) error {
	for cat, raw := range data {
		if err := v.checkCategory(ctx, cat); err != nil {
			return err
		}
		if err := checkObject(raw); err != nil {
			return errcode.Field("data."+cat, "%v", err)
		}
	}
	return nil
}

func checkObject(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return errors.New("category data must be a JSON object")
	}
	if !json.Valid(raw) {
		return errors.New("category data is not valid JSON")
	}
	return nil
}

// Create stores a new subject. A duplicate identifier is a Conflict,
// decided by the database's unique index, never by a check in code.
func (v *Vault) Create(ctx context.Context, a Actor, n NewSubject) (*Subject, error) {
	idents, cats, err := v.validateNew(ctx, n)
	if err != nil {
		return nil, err
	}
	dks, err := v.ks.Take(ctx, 1+len(cats))
	if err != nil {
		return nil, err
	}
	now := v.now().UTC().Truncate(1000)
	us := sqlstore.Micros(now)
	ns, err := sealNew(n, idents, cats, dks)
	if err != nil {
		return nil, err
	}
	id := ns.id
	target := v.target(id)
	var dupKind string
	err = v.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO subjects (id, key_id, created_at, updated_at) VALUES ($1, $2, $3, $3)", id, ns.subjectKey().ID(), us); err != nil {
			return err
		}
		for i, ident := range idents {
			if _, err := tx.ExecContext(ctx, "INSERT INTO subject_identifiers (kind, blind, subject_id, sealed) VALUES ($1, $2, $3, $4)",
				ident.kind, ident.blind, id, ns.sealedIDs[i]); err != nil {
				if sqlstore.IsUniqueViolation(err) {
					dupKind = ident.kind
				}
				return err
			}
		}
		for i, c := range cats {
			if _, err := tx.ExecContext(ctx, "INSERT INTO subject_data (subject_id, category, key_id, sealed, updated_at) VALUES ($1, $2, $3, $4, $5)",
				id, c, dks[1+i].ID(), ns.sealedData[i], us); err != nil {
				return err
			}
		}
		return v.appendAudit(ctx, tx, a, "subject.create", target, "ok", ns.subjectKey(), ns.auditDetails())
	})
	if err != nil {
		// The keys taken for this subject are durable but unused; they seal
		// nothing. Destroy them so the key store holds no orphans.
		v.ks.DestroyRelaxed(context.WithoutCancel(ctx), keyIDs(dks)...)
		if dupKind != "" {
			return nil, &errcode.Error{Code: errcode.Conflict, Field: dupKind, Message: "another subject already has this " + dupKind, Err: err}
		}
		return nil, fmt.Errorf("create subject: %w", err)
	}
	s := &Subject{ID: id, Data: map[string]json.RawMessage{}, CreatedAt: now, UpdatedAt: now}
	for _, ident := range idents {
		s.setIdentifier(ident.kind, ident.value)
	}
	for _, c := range cats {
		s.Data[c] = compact(n.Data[c])
	}
	return s, nil
}

// validateNew checks a new subject and returns its normalised, blind-indexed
// identifiers and its categories in order.
func (v *Vault) validateNew(ctx context.Context, n NewSubject) ([]identifier, []string, error) {
	idents, err := v.identifiers(n)
	if err != nil {
		return nil, nil, err
	}
	if len(idents) == 0 {
		return nil, nil, errcode.Field("external_id", "a subject needs at least one identifier: external_id, email or phone")
	}
	if err := v.checkData(ctx, n.Data); err != nil {
		return nil, nil, err
	}
	return idents, sortedKeys(n.Data), nil
}

// newSubject is a new subject sealed and ready to insert: Create and
// CreateMany write exactly these values.
type newSubject struct {
	id         string
	idents     []identifier
	cats       []string
	dks        []*keys.DataKey // the subject's key, then one per category
	sealedIDs  [][]byte
	sealedData [][]byte
}

func (ns *newSubject) subjectKey() *keys.DataKey { return ns.dks[0] }

// auditDetails are the sealed details of the subject.create event.
func (ns *newSubject) auditDetails() map[string]any {
	return map[string]any{"identifiers": kinds(ns.idents), "categories": ns.cats}
}

// sealNew gives a new subject its id and seals its identifiers with the
// subject's key and each category with a key of its own (dks: the
// subject's key first, then one per category).
func sealNew(n NewSubject, idents []identifier, cats []string, dks []*keys.DataKey) (*newSubject, error) {
	ns := &newSubject{id: ids.New("sub_"), idents: idents, cats: cats, dks: dks,
		sealedIDs: make([][]byte, len(idents)), sealedData: make([][]byte, len(cats))}
	var err error
	for i, ident := range idents {
		if ns.sealedIDs[i], err = ns.subjectKey().Seal([]byte(ident.value), "identifier", ns.id, ident.kind); err != nil {
			return nil, err
		}
	}
	for i, c := range cats {
		if ns.sealedData[i], err = dks[1+i].Seal(compact(n.Data[c]), "subject_data", ns.id, c); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

func (s *Subject) setIdentifier(kind, value string) {
	switch kind {
	case KindExternalID:
		s.ExternalID = value
	case KindEmail:
		s.Email = value
	case KindPhone:
		s.Phone = value
	}
}

func kinds(ids []identifier) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.kind
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// notFound is the single answer for unknown and erased subjects, so the two
// cannot be told apart.
func notFound() error { return errcode.E(errcode.NotFound, "no such subject") }

// storedSubject is a subject as read from the database, still sealed.
type storedSubject struct {
	id         string
	keyID      string
	createdAt  int64
	updatedAt  int64
	restricted bool
	idents     map[string][]byte     // kind -> sealed
	data       map[string]storedData // category -> sealed
	dataOrder  []string
}

type storedData struct {
	keyID     string
	sealed    []byte
	updatedAt int64
}

// loadSQL reads a subject's row, identifiers and data in one statement
// (rows tagged 0, 1, 2), which on SQLite costs a third of three queries.
// The %[1]s is how the subject is found: a parameter, or a scalar subquery
// over the blind index that the engine evaluates once. (A CTE joined to the
// tables made SQLite scan them whole.)
const loadSQL = `
SELECT 0, key_id, id, CAST(NULL AS BYTEA), created_at, updated_at, restricted FROM subjects WHERE id = %[1]s
UNION ALL SELECT 1, kind, '', sealed, 0, 0, 0 FROM subject_identifiers WHERE subject_id = %[1]s
UNION ALL SELECT 2, category, key_id, sealed, updated_at, 0, 0 FROM subject_data WHERE subject_id = %[1]s`

var (
	loadByID         = fmt.Sprintf(loadSQL, "$1")
	loadByIdentifier = fmt.Sprintf(loadSQL, "(SELECT subject_id FROM subject_identifiers WHERE kind = $1 AND blind = $2)")
)

// load reads a subject's rows by id; (nil, nil) when there is none.
func (v *Vault) load(ctx context.Context, q sqlstore.Querier, id string) (*storedSubject, error) {
	return loadWith(ctx, q, loadByID, id)
}

// mustLoad is load for a subject that must exist: a missing one is the
// not-found error.
func (v *Vault) mustLoad(ctx context.Context, q sqlstore.Querier, id string) (*storedSubject, error) {
	st, err := v.load(ctx, q, id)
	if err == nil && st == nil {
		err = notFound()
	}
	return st, err
}

func loadWith(ctx context.Context, q sqlstore.Querier, query string, args ...any) (*storedSubject, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read subject: %w", err)
	}
	defer rows.Close()
	s := &storedSubject{idents: map[string][]byte{}, data: map[string]storedData{}}
	found := false
	for rows.Next() {
		var (
			tag        int
			a, b       string
			sealed     []byte
			n1, n2, n3 int64
		)
		if err := rows.Scan(&tag, &a, &b, &sealed, &n1, &n2, &n3); err != nil {
			return nil, fmt.Errorf("read subject: %w", err)
		}
		switch tag {
		case 0:
			found = true
			s.keyID, s.id, s.createdAt, s.updatedAt, s.restricted = a, b, n1, n2, n3 == 1
		case 1:
			s.idents[a] = sealed
		case 2:
			s.data[a] = storedData{keyID: b, sealed: sealed, updatedAt: n1}
			s.dataOrder = append(s.dataOrder, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read subject: %w", err)
	}
	if !found {
		return nil, nil
	}
	sort.Strings(s.dataOrder)
	return s, nil
}

// open decrypts a stored subject. A subject whose key is gone has been
// erased (the rows may outlive the key by a moment): it is not found.
func (v *Vault) open(ctx context.Context, s *storedSubject) (*Subject, *keys.DataKey, error) {
	ids := []string{s.keyID}
	for _, c := range s.dataOrder {
		ids = append(ids, s.data[c].keyID)
	}
	dks, err := v.ks.Open(ctx, ids...)
	if err != nil {
		return nil, nil, err
	}
	subjectKey, ok := dks[s.keyID]
	if !ok {
		return nil, nil, notFound()
	}
	out := &Subject{
		ID: s.id, Data: map[string]json.RawMessage{}, Restricted: s.restricted,
		CreatedAt: sqlstore.FromMicros(s.createdAt), UpdatedAt: sqlstore.FromMicros(s.updatedAt),
	}
	for kind, sealed := range s.idents {
		plain, err := subjectKey.Open(sealed, "identifier", s.id, kind)
		if err != nil {
			return nil, nil, fmt.Errorf("open %s of %s: %w", kind, s.id, err)
		}
		out.setIdentifier(kind, string(plain))
	}
	for _, c := range s.dataOrder {
		d := s.data[c]
		dk, ok := dks[d.keyID]
		if !ok {
			continue // this category was just erased
		}
		plain, err := dk.Open(d.sealed, "subject_data", s.id, c)
		if err != nil {
			return nil, nil, fmt.Errorf("open %s of %s: %w", c, s.id, err)
		}
		out.Data[c] = plain
	}
	return out, subjectKey, nil
}

// Get returns a subject with all its data, auditing the read under the
// actor's purpose. Restricted subjects may only be read for storage or
// legal claims (Art. 18).
func (v *Vault) Get(ctx context.Context, a Actor, id string) (*Subject, error) {
	return v.read(ctx, a, id, "subject.read")
}

// read loads, decrypts and audits one subject for a under action.
func (v *Vault) read(ctx context.Context, a Actor, id, action string) (*Subject, error) {
	if err := v.CheckPurpose(ctx, a.Purpose); err != nil {
		return nil, err
	}
	if !ValidSubjectID(id) {
		return nil, notFound()
	}
	st, err := v.load(ctx, v.db.Read(), id)
	if err != nil {
		return nil, err
	}
	return v.reveal(ctx, a, action, v.target(id), st)
}

// reveal decrypts a loaded subject for a, enforcing restriction, and
// returns it only once the access is audited. A nil st is a miss, audited
// under target.
func (v *Vault) reveal(ctx context.Context, a Actor, action, target string, st *storedSubject) (*Subject, error) {
	if st == nil {
		if err := v.auditOnly(ctx, a, action, target, "not_found", nil, nil); err != nil {
			return nil, err
		}
		return nil, notFound()
	}
	target = v.target(st.id)
	s, dk, err := v.open(ctx, st)
	if err != nil {
		return nil, err
	}
	if s.Restricted && !RestrictionAllows(a.Purpose) {
		if err := v.auditOnly(ctx, a, action, target, "restricted", dk, nil); err != nil {
			return nil, err
		}
		return nil, errcode.E(errcode.Restricted, "processing of this subject's data is restricted (GDPR Art. 18); only the purposes storage and legal-claims (and the person's own access copy) may read it")
	}
	if err := v.auditOnly(ctx, a, action, target, "ok", dk, map[string]any{"categories": sortedKeys(s.Data)}); err != nil {
		return nil, err
	}
	return s, nil
}

// RestrictionAllows lists the purposes for which a restricted subject's
// data may still be processed (Art. 18(2)): storage, and legal claims;
// and dsr-access, giving the person a copy of their own data (Art. 15),
// which restriction does not suspend: the person may need that copy to
// pursue the very dispute the restriction is about.
func RestrictionAllows(purpose string) bool {
	return purpose == "storage" || purpose == "legal-claims" || purpose == "dsr-access"
}

// Lookup finds a subject by one identifier and returns it like Get.
func (v *Vault) Lookup(ctx context.Context, a Actor, kind, value string) (*Subject, error) {
	if err := v.CheckPurpose(ctx, a.Purpose); err != nil {
		return nil, err
	}
	norm, err := normalise(kind, value)
	if err != nil {
		return nil, err
	}
	blind := v.kr.BlindIndex(kind, norm)
	st, err := loadWith(ctx, v.db.Read(), loadByIdentifier, kind, blind)
	if err != nil {
		return nil, err
	}
	return v.reveal(ctx, a, "subject.lookup", v.kr.AuditTarget(kind, norm), st)
}

// Patch is a rectification (Art. 16): identifiers to set (nil = unchanged,
// "" = remove) and category data merged field by field (RFC 7396: a null
// field removes it).
type Patch struct {
	ExternalID *string
	Email      *string
	Phone      *string
	Data       map[string]json.RawMessage
}

// LogValue redacts.
func (p Patch) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Update applies a rectification. The old values are kept only in the
// sealed details of the audit event, never in the live record.
func (v *Vault) Update(ctx context.Context, a Actor, id string, p Patch) (*Subject, error) {
	if !ValidSubjectID(id) {
		return nil, notFound()
	}
	for cat, raw := range p.Data {
		if err := v.checkCategory(ctx, cat); err != nil {
			return nil, err
		}
		if err := checkObject(raw); err != nil {
			return nil, errcode.Field("data."+cat, "%v", err)
		}
	}
	type change struct{ kind, value string }
	var idChanges []change
	for _, c := range []struct {
		kind string
		val  *string
	}{{KindExternalID, p.ExternalID}, {KindEmail, p.Email}, {KindPhone, p.Phone}} {
		if c.val == nil {
			continue
		}
		val := *c.val
		if val != "" {
			n, err := normalise(c.kind, val)
			if err != nil {
				return nil, err
			}
			val = n
		}
		idChanges = append(idChanges, change{c.kind, val})
	}
	newKeys, err := v.ks.Take(ctx, len(p.Data))
	if err != nil {
		return nil, err
	}
	var (
		result  *Subject
		retired []string
		dupKind string
		target  = v.target(id)
		now     = v.now().UTC().Truncate(time.Microsecond)
		us      = sqlstore.Micros(now)
	)
	err = v.db.Write(ctx, func(tx *sqlstore.Tx) error {
		retired = nil
		st, err := v.mustLoad(ctx, tx, id)
		if err != nil {
			return err
		}
		cur, subjectKey, err := v.open(ctx, st)
		if err != nil {
			return err
		}
		before, after := map[string]any{}, map[string]any{}
		for _, c := range idChanges {
			old := identifierOf(cur, c.kind)
			if old == c.value {
				continue
			}
			before[c.kind], after[c.kind] = old, c.value
			if _, err := tx.ExecContext(ctx, "DELETE FROM subject_identifiers WHERE subject_id = $1 AND kind = $2", id, c.kind); err != nil {
				return err
			}
			if c.value == "" {
				cur.setIdentifier(c.kind, "")
				continue
			}
			sealed, err := subjectKey.Seal([]byte(c.value), "identifier", id, c.kind)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO subject_identifiers (kind, blind, subject_id, sealed) VALUES ($1, $2, $3, $4)",
				c.kind, v.kr.BlindIndex(c.kind, c.value), id, sealed); err != nil {
				if sqlstore.IsUniqueViolation(err) {
					dupKind = c.kind
				}
				return err
			}
			cur.setIdentifier(c.kind, c.value)
		}
		for i, cat := range sortedKeys(p.Data) {
			merged, err := mergePatch(cur.Data[cat], p.Data[cat])
			if err != nil {
				return errcode.Field("data."+cat, "%v", err)
			}
			before["data."+cat], after["data."+cat] = cur.Data[cat], merged
			if err := v.putData(ctx, tx, id, cat, merged, newKeys[i], st, &retired, us); err != nil {
				return err
			}
			cur.Data[cat] = merged
		}
		if _, err := tx.ExecContext(ctx, "UPDATE subjects SET updated_at = $1 WHERE id = $2", us, id); err != nil {
			return err
		}
		cur.UpdatedAt = now
		result = cur
		return v.appendAudit(ctx, tx, a, "subject.rectify", target, "ok", subjectKey, map[string]any{"before": before, "after": after})
	})
	if err != nil {
		v.ks.DestroyRelaxed(context.WithoutCancel(ctx), keyIDs(newKeys)...)
		if dupKind != "" {
			return nil, &errcode.Error{Code: errcode.Conflict, Field: dupKind, Message: "another subject already has this " + dupKind, Err: err}
		}
		return nil, err
	}
	v.ks.DestroyRelaxed(context.WithoutCancel(ctx), retired...)
	return result, nil
}

func keyIDs(dks []*keys.DataKey) []string {
	out := make([]string, len(dks))
	for i, dk := range dks {
		out[i] = dk.ID()
	}
	return out
}

func identifierOf(s *Subject, kind string) string {
	switch kind {
	case KindExternalID:
		return s.ExternalID
	case KindEmail:
		return s.Email
	case KindPhone:
		return s.Phone
	}
	return ""
}

// mergePatch applies an RFC 7396 merge patch to a JSON object.
func mergePatch(doc, patch json.RawMessage) (json.RawMessage, error) {
	base := map[string]json.RawMessage{}
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, &base); err != nil {
			return nil, err
		}
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, errors.New("category data must be a JSON object")
	}
	for k, val := range p {
		if strings.TrimSpace(string(val)) == "null" {
			delete(base, k)
			continue
		}
		base[k] = val
	}
	out, err := json.Marshal(base)
	return out, err
}
