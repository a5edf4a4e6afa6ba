package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

func TestAppendChains(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		ctx := t.Context()
		db := openDB(t, eng)
		l, _ := newTestLog(0)
		clock := newFakeClock() // a twin of the log's clock, to predict its readings

		var seqs []int64
		for i := range 3 {
			err := db.Write(ctx, func(tx *sqlstore.Tx) error {
				seq, err := l.Append(ctx, tx, sampleEvent(i))
				seqs = append(seqs, seq)
				return err
			})
			if err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
		}
		if fmt.Sprint(seqs) != "[1 2 3]" {
			t.Fatalf("seqs = %v, want [1 2 3]", seqs)
		}

		got := readAll(t, db.Read())
		if len(got) != 3 {
			t.Fatalf("stored %d events, want 3", len(got))
		}
		prev := make([]byte, sha256.Size)
		var h hasher
		for i, e := range got {
			want := sampleEvent(i)
			want.Seq = int64(i + 1)
			want.At = sqlstore.FromMicros(sqlstore.Micros(clock.Now()))
			want.PrevHash = prev
			sum, _ := h.sum(&want)
			want.Hash = sum[:]
			if !equalEvents(e, want) {
				t.Errorf("event %d stored as\n%+v\nwant\n%+v", i+1, e, want)
			}
			if e.At.Nanosecond()%1000 != 0 {
				t.Errorf("event %d: at %v has sub-microsecond digits", i+1, e.At)
			}
			prev = e.Hash
		}

		head, err := l.Head(ctx, db.Read())
		if err != nil {
			t.Fatal(err)
		}
		if head.Seq != 3 || !bytes.Equal(head.Hash, got[2].Hash) {
			t.Errorf("head = %d %x, want 3 %x", head.Seq, head.Hash, got[2].Hash)
		}

		rep := mustVerify(t, db.Read(), nil)
		if !rep.OK || rep.Events != 3 || rep.Checkpoints != 0 {
			t.Errorf("verify = %+v, want OK with 3 events", rep)
		}
		// Verify also runs inside a write transaction.
		err = db.Write(ctx, func(tx *sqlstore.Tx) error {
			rep, err := Verify(ctx, tx, signer.CheckpointPublicKey(), nil)
			if err == nil && !rep.OK {
				err = fmt.Errorf("verify in transaction: %+v", rep)
			}
			return err
		})
		if err != nil {
			t.Error(err)
		}
	})
}

func TestAppendStoresCheckpoints(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		db := openDB(t, eng)
		l, _ := newTestLog(10)
		appendEvents(t, db, l, 0, 25)

		cps, err := readCheckpoints(t.Context(), db.Read())
		if err != nil {
			t.Fatal(err)
		}
		events := readAll(t, db.Read())
		if len(cps) != 2 || cps[0].Seq != 10 || cps[1].Seq != 20 {
			t.Fatalf("checkpoints at %v, want seqs 10 and 20", cps)
		}
		for _, cp := range cps {
			if err := cp.VerifySignature(signer.CheckpointPublicKey()); err != nil {
				t.Errorf("checkpoint %d: %v", cp.Seq, err)
			}
			if !bytes.Equal(cp.Hash, events[cp.Seq-1].Hash) || !cp.At.Equal(events[cp.Seq-1].At) || cp.KeyID != testKeyID {
				t.Errorf("checkpoint %d = %+v, does not describe event %+v", cp.Seq, cp, events[cp.Seq-1])
			}
		}
		rep := mustVerify(t, db.Read(), nil)
		if !rep.OK || rep.Events != 25 || rep.Checkpoints != 2 {
			t.Errorf("verify = %+v, want OK with 25 events and 2 checkpoints", rep)
		}
	})
}

func TestCheckpoint(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		ctx := t.Context()
		db := openDB(t, eng)
		l, _ := newTestLog(0)

		empty, err := l.Checkpoint(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if empty.Seq != 0 || !bytes.Equal(empty.Hash, make([]byte, 32)) {
			t.Errorf("checkpoint of the empty log = %+v", empty)
		}

		appendEvents(t, db, l, 0, 5)
		first, err := l.Checkpoint(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		again, err := l.Checkpoint(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if first.Seq != 5 || !equalCheckpoints(first, again) {
			t.Errorf("checkpoints of an idle log differ or miss the head:\n%+v\n%+v", first, again)
		}
		if n := count(t, db.Read(), "audit_checkpoints"); n != 2 {
			t.Errorf("%d checkpoints stored, want 2 (empty log and seq 5)", n)
		}

		// Exported as JSON, read back, it still verifies and pins the log.
		data, err := json.Marshal(first)
		if err != nil {
			t.Fatal(err)
		}
		trusted, err := ParseCheckpoint(data)
		if err != nil {
			t.Fatalf("ParseCheckpoint(%s): %v", data, err)
		}
		if !equalCheckpoints(trusted, first) {
			t.Errorf("JSON round trip changed the checkpoint:\n%+v\n%+v", trusted, first)
		}
		appendEvents(t, db, l, 5, 3)
		for _, cp := range []*Checkpoint{&empty, &trusted} {
			if rep := mustVerify(t, db.Read(), cp); !rep.OK || rep.Events != 8 || rep.Checkpoints != 2 {
				t.Errorf("verify against checkpoint %d = %+v", cp.Seq, rep)
			}
		}

		if _, err := New(Options{}).Checkpoint(ctx, db); !errors.Is(err, ErrNoSigner) {
			t.Errorf("checkpoint without a signer: %v, want ErrNoSigner", err)
		}
	})
}

func equalCheckpoints(a, b Checkpoint) bool {
	return a.Seq == b.Seq && bytes.Equal(a.Hash, b.Hash) && a.At.Equal(b.At) &&
		a.KeyID == b.KeyID && bytes.Equal(a.Signature, b.Signature)
}

func TestAppendConcurrent(t *testing.T) {
	const writers, each = 16, 20
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		ctx := t.Context()
		db := openDB(t, eng)
		l, _ := newTestLog(50)
		errs := make(chan error, writers*each)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					errs <- db.Write(ctx, func(tx *sqlstore.Tx) error {
						_, err := l.Append(ctx, tx, sampleEvent(w*each+i))
						return err
					})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent append: %v", err)
			}
		}
		for i, e := range readAll(t, db.Read()) {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d: seqs not contiguous", i+1, e.Seq)
			}
		}
		rep := mustVerify(t, db.Read(), nil)
		if !rep.OK || rep.Events != writers*each || rep.Checkpoints != writers*each/50 {
			t.Errorf("verify = %+v, want OK with %d events and %d checkpoints", rep, writers*each, writers*each/50)
		}
	})
}

// TestAppendFailsClosed forces each audit write to fail and checks that the
// state change in the same transaction is not committed (AL-3).
func TestAppendFailsClosed(t *testing.T) {
	tests := []struct {
		name   string
		when   string // the failing statement, on table
		table  string
		every  int64
		failAt int64 // seq of the append that fails
	}{
		{"event insert", "BEFORE INSERT", "audit_events", 0, 3},
		{"head update", "BEFORE UPDATE", "audit_head", 0, 3},
		{"checkpoint insert", "BEFORE INSERT", "audit_checkpoints", 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
				ctx := t.Context()
				db := openDB(t, eng)
				l, _ := newTestLog(tt.every)
				exec(t, db, "CREATE TABLE audit_test_state (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
				appendEvents(t, db, l, 0, int(tt.failAt-1))
				before, err := l.Head(ctx, db.Read())
				if err != nil {
					t.Fatal(err)
				}

				installFailTrigger(t, db, tt.when, tt.table)
				err = db.Write(ctx, func(tx *sqlstore.Tx) error {
					if _, err := tx.ExecContext(ctx, "INSERT INTO audit_test_state (id, note) VALUES (1, 'state change')"); err != nil {
						return err
					}
					_, err := l.Append(ctx, tx, sampleEvent(1))
					return err
				})
				if err == nil || !strings.Contains(err.Error(), "injected audit failure") {
					t.Fatalf("write with a failing audit append returned %v, want the injected failure", err)
				}
				if n := count(t, db.Read(), "audit_test_state"); n != 0 {
					t.Errorf("%d state rows committed without their audit event", n)
				}
				after, err := l.Head(ctx, db.Read())
				if err != nil {
					t.Fatal(err)
				}
				if after.Seq != before.Seq || !bytes.Equal(after.Hash, before.Hash) {
					t.Errorf("head moved from %d to %d by a failed append", before.Seq, after.Seq)
				}
				if n := count(t, db.Read(), "audit_events"); n != tt.failAt-1 {
					t.Errorf("%d events stored, want %d", n, tt.failAt-1)
				}

				// Once the fault is gone the chain continues where it was.
				dropFailTrigger(t, db, tt.table)
				appendEvents(t, db, l, int(tt.failAt), 1)
				if rep := mustVerify(t, db.Read(), nil); !rep.OK || rep.Events != tt.failAt {
					t.Errorf("verify after recovery = %+v", rep)
				}
			})
		})
	}
}

// installFailTrigger makes every `when` statement on table ("BEFORE
// INSERT", "audit_events") fail with "injected audit failure".
func installFailTrigger(t *testing.T, db *sqlstore.DB, when, table string) {
	t.Helper()
	if db.Engine() == sqlstore.SQLite {
		exec(t, db, "CREATE TRIGGER audit_fail "+when+" ON "+table+" BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END")
		return
	}
	exec(t, db, `CREATE FUNCTION audit_fail() RETURNS trigger LANGUAGE plpgsql
		AS $$ BEGIN RAISE EXCEPTION 'injected audit failure'; END $$`)
	exec(t, db, "CREATE TRIGGER audit_fail "+when+" ON "+table+" FOR EACH ROW EXECUTE FUNCTION audit_fail()")
}

func dropFailTrigger(t *testing.T, db *sqlstore.DB, table string) {
	t.Helper()
	if db.Engine() == sqlstore.SQLite {
		exec(t, db, "DROP TRIGGER audit_fail")
		return
	}
	exec(t, db, "DROP TRIGGER audit_fail ON "+table)
}

// brokenSigner returns signatures that do not verify.
type brokenSigner struct{ testSigner }

func (brokenSigner) SignCheckpoint([]byte) []byte { return make([]byte, 64) }

func TestAppendFailsWithBrokenSigner(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, sqlstore.SQLite)
	l := New(Options{Signer: brokenSigner{signer}, CheckpointEvery: 2})
	appendEvents(t, db, l, 0, 1)
	err := db.Write(ctx, func(tx *sqlstore.Tx) error {
		_, err := l.Append(ctx, tx, sampleEvent(1))
		return err
	})
	if err == nil {
		t.Fatal("append that needs a checkpoint succeeded with a signer whose signatures do not verify")
	}
	if n := count(t, db.Read(), "audit_events"); n != 1 {
		t.Errorf("%d events stored, want 1", n)
	}
}

func TestAppendRejects(t *testing.T) {
	ok := sampleEvent(1)
	tests := []struct {
		name string
		edit func(e *Event)
	}{
		{"no actor", func(e *Event) { e.Actor = "" }},
		{"no action", func(e *Event) { e.Action = "" }},
		{"details without key id", func(e *Event) { e.KeyID = "" }},
		{"invalid UTF-8", func(e *Event) { e.Purpose = "\xff" }},
		{"NUL byte", func(e *Event) { e.Target = "a\x00b" }},
	}
	db := openDB(t, sqlstore.SQLite)
	l, _ := newTestLog(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.edit(&e)
			err := db.Write(t.Context(), func(tx *sqlstore.Tx) error {
				_, err := l.Append(t.Context(), tx, e)
				return err
			})
			if err == nil {
				t.Errorf("append accepted %+v", e)
			}
		})
	}
	if n := count(t, db.Read(), "audit_events"); n != 0 {
		t.Errorf("%d rejected events stored", n)
	}
}

// TestTamperingInDatabase tampers with a stored log the way someone with
// write access to the database would, and checks Verify names the place.
func TestTamperingInDatabase(t *testing.T) {
	tests := []struct {
		name     string
		sql      []string
		trusted  bool // verify against a checkpoint exported before tampering
		firstBad int64
		problem  string
	}{
		{"update a result", []string{"UPDATE audit_events SET result = 'ok, honestly' WHERE seq = 5"}, false, 5, "event 5"},
		{"update a time", []string{"UPDATE audit_events SET at = at + 1 WHERE seq = 9"}, false, 9, "event 9"},
		{"erase details", []string{"UPDATE audit_events SET details = NULL WHERE seq = 2"}, false, 2, "event 2"},
		{"delete a middle event", []string{"DELETE FROM audit_events WHERE seq = 6"}, false, 6, "event 6"},
		{"renumber to hide a deletion", []string{
			"DELETE FROM audit_events WHERE seq = 6",
			"UPDATE audit_events SET seq = seq - 1 WHERE seq = 7",
		}, false, 6, "event 6"},
		{"delete the last event", []string{"DELETE FROM audit_events WHERE seq = 12"}, false, 12, "events 12 to 12 are missing"},
		{"delete the last event and its checkpoint", []string{
			"DELETE FROM audit_events WHERE seq = 12",
			"DELETE FROM audit_checkpoints WHERE seq = 12",
		}, false, 12, "head says seq 12"},
		{"append an event without moving the head", []string{
			"INSERT INTO audit_events SELECT 13, at, actor, action, purpose, target, result, key_id, details, hash, hash FROM audit_events WHERE seq = 12",
		}, false, 13, "event 13 has been altered"},
		{"forge a stored checkpoint", []string{"UPDATE audit_checkpoints SET hash = (SELECT prev_hash FROM audit_events WHERE seq = 4) WHERE seq = 4"}, false, 4, "checkpoint at seq 4"},
		{"delete the tail and fix the head", truncateTo(7), true, 8, "events 8 to 12 are missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
				db := openDB(t, eng)
				l, _ := newTestLog(4)
				appendEvents(t, db, l, 0, 12)
				trusted, err := l.Checkpoint(t.Context(), db)
				if err != nil {
					t.Fatal(err)
				}
				if rep := mustVerify(t, db.Read(), &trusted); !rep.OK {
					t.Fatalf("log does not verify before tampering: %+v", rep)
				}
				for _, q := range tt.sql {
					exec(t, db, q)
				}
				var tp *Checkpoint
				if tt.trusted {
					tp = &trusted
					// Without the exported checkpoint, this tampering
					// is invisible: that is why checkpoints leave the host.
					if rep := mustVerify(t, db.Read(), nil); !rep.OK {
						t.Errorf("expected the chain alone to miss this; got %+v", rep)
					}
				}
				rep := mustVerify(t, db.Read(), tp)
				if rep.OK || rep.FirstBad != tt.firstBad || !strings.Contains(rep.Problem, tt.problem) {
					t.Errorf("verify = %+v, want FirstBad %d and a problem naming %q", rep, tt.firstBad, tt.problem)
				}
			})
		})
	}
}

// truncateTo is the SQL that cuts the log after seq and leaves the head
// and the stored checkpoints consistent with the shorter log.
func truncateTo(seq int) []string {
	return []string{
		fmt.Sprintf("DELETE FROM audit_events WHERE seq > %d", seq),
		fmt.Sprintf("DELETE FROM audit_checkpoints WHERE seq > %d", seq),
		fmt.Sprintf("UPDATE audit_head SET seq = %d, hash = (SELECT hash FROM audit_events WHERE seq = %d) WHERE id = 1", seq, seq),
	}
}

func TestVerifyMissingHead(t *testing.T) {
	db := openDB(t, sqlstore.SQLite)
	l, _ := newTestLog(0)
	appendEvents(t, db, l, 0, 3)
	exec(t, db, "DELETE FROM audit_head")
	if rep := mustVerify(t, db.Read(), nil); rep.OK || rep.FirstBad != 4 || !strings.Contains(rep.Problem, "audit_head") {
		t.Errorf("verify = %+v, want a missing head reported", rep)
	}
}

func TestListByTarget(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		ctx := t.Context()
		db := openDB(t, eng)
		l, _ := newTestLog(0)
		appendEvents(t, db, l, 0, 120) // sample i targets subject i%50
		all := readAll(t, db.Read())

		tests := []struct {
			name   string
			target string
			limit  int
			want   []int64
		}{
			{"all", fakeHMAC(7), 0, []int64{8, 58, 108}},
			{"limited, oldest first", fakeHMAC(7), 2, []int64{8, 58}},
			{"unknown target", fakeHMAC(999), 0, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := ListByTarget(ctx, db.Read(), tt.target, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				var seqs []int64
				for _, e := range got {
					seqs = append(seqs, e.Seq)
					if !equalEvents(e, all[e.Seq-1]) {
						t.Errorf("event %d listed as %+v, stored as %+v", e.Seq, e, all[e.Seq-1])
					}
				}
				if fmt.Sprint(seqs) != fmt.Sprint(tt.want) {
					t.Errorf("seqs = %v, want %v", seqs, tt.want)
				}
			})
		}
	})
}

// TestSigningKeyNotInDatabase scans the SQLite files for the signing key
// after checkpoints have been stored (AL-4).
func TestSigningKeyNotInDatabase(t *testing.T) {
	db := openDB(t, sqlstore.SQLite)
	l, _ := newTestLog(5)
	appendEvents(t, db, l, 0, 20)
	if _, err := l.Checkpoint(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db.Read(), "audit_checkpoints"); n != 4 {
		t.Fatalf("%d checkpoints stored, want 4", n)
	}
	files, err := filepath.Glob(db.Path() + "*") // the database, its WAL and shared memory
	if err != nil || len(files) == 0 {
		t.Fatalf("no database files at %s: %v", db.Path(), err)
	}
	seed := signer.priv.Seed() // the secret half of an Ed25519 private key
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, seed) {
			t.Errorf("%s contains the checkpoint signing key", f)
		}
	}
}
