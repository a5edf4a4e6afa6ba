package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// testSigner signs with a key derived from a fixed seed, standing in for the
// key hierarchy's keyring.
type testSigner struct {
	priv ed25519.PrivateKey
}

func newTestSigner(seedByte byte) testSigner {
	seed := bytes.Repeat([]byte{seedByte}, ed25519.SeedSize)
	return testSigner{priv: ed25519.NewKeyFromSeed(seed)}
}

func (s testSigner) SignCheckpoint(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

func (s testSigner) CheckpointPublicKey() ed25519.PublicKey {
	return s.priv.Public().(ed25519.PublicKey)
}

// fakeClock advances by an uneven step with nanoseconds on every reading,
// so tests see that times are truncated to microseconds before hashing.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(1234567 * time.Nanosecond)
	return c.now
}

var (
	signer    = newTestSigner(1)
	otherKey  = newTestSigner(2)
	testKeyID = "test-key"
)

func newTestLog(every int64) (*Log, *fakeClock) {
	clock := newFakeClock()
	return New(Options{Clock: clock.Now, Signer: signer, CheckpointEvery: every, KeyID: testKeyID}), clock
}

// fakeHMAC stands in for the caller's HMAC of a subject identifier.
func fakeHMAC(n int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "subject-%d", n))
	return hex.EncodeToString(sum[:16])
}

var actions = []string{"subject.read", "subject.update", "consent.record", "dsr.export", "staff.login"}

// sampleEvent is the i-th event of test logs: varied fields, sealed details
// on two events out of three.
func sampleEvent(i int) Event {
	e := Event{
		Actor:   fmt.Sprintf("staff:%d", i%7),
		Action:  actions[i%len(actions)],
		Purpose: []string{"support", "legal-obligation", "dsr"}[i%3],
		Target:  fakeHMAC(i % 50),
		Result:  "ok",
	}
	if i%11 == 0 {
		e.Result = "denied"
	}
	if i%3 != 0 {
		e.KeyID = fmt.Sprintf("dk_%d", i%50)
		e.Details = bytes.Repeat([]byte{byte(i), byte(i >> 8), 0xa5}, 8+i%9)
	}
	return e
}

func openDB(t *testing.T, e sqlstore.Engine) *sqlstore.DB {
	t.Helper()
	return sqltest.Open(t, e, "main")
}

// appendEvents appends n sample events, starting at sample from, each in its
// own durable write.
func appendEvents(t testing.TB, db *sqlstore.DB, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		err := db.Write(context.Background(), func(tx *sqlstore.Tx) error {
			_, err := l.Append(context.Background(), tx, sampleEvent(i))
			return err
		})
		if err != nil {
			t.Fatalf("append sample %d: %v", i, err)
		}
	}
}

func exec(t testing.TB, db *sqlstore.DB, query string, args ...any) {
	t.Helper()
	err := db.Write(context.Background(), func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(context.Background(), query, args...)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func count(t testing.TB, q sqlstore.Querier, table string) int64 {
	t.Helper()
	var n int64
	if err := q.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func readAll(t testing.TB, q sqlstore.Querier) []Event {
	t.Helper()
	var out []Event
	for e, err := range streamEvents(context.Background(), q) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func mustVerify(t testing.TB, q sqlstore.Querier, trusted *Checkpoint) Report {
	t.Helper()
	rep, err := Verify(context.Background(), q, signer.CheckpointPublicKey(), trusted)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

// buildLog makes an in-memory log of n sample events chained exactly as
// Append chains them.
func buildLog(n int) []Event {
	events := make([]Event, n)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for i := range events {
		events[i] = sampleEvent(i)
		events[i].At = at.Add(time.Duration(i) * 1500 * time.Microsecond)
	}
	rechain(events, 0)
	return events
}

// rechain renumbers events[from:] and recomputes their links and hashes, as
// someone who can write the database and knows the hash function would.
func rechain(events []Event, from int) {
	var h hasher
	for i := from; i < len(events); i++ {
		e := &events[i]
		e.Seq = int64(i + 1)
		if i == 0 {
			e.PrevHash = make([]byte, sha256.Size)
		} else {
			e.PrevHash = events[i-1].Hash
		}
		sum, ok := h.sum(e)
		if !ok {
			panic("field too long")
		}
		e.Hash = sum[:]
	}
}

// headOf is the head row that matches events, as a tamperer would leave it.
func headOf(events []Event) *Head {
	if len(events) == 0 {
		return &Head{Seq: 0, Hash: make([]byte, sha256.Size)}
	}
	last := events[len(events)-1]
	return &Head{Seq: last.Seq, Hash: last.Hash}
}

func sliceSeq(events []Event) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for _, e := range events {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func signedCheckpoint(s testSigner, seq int64, hash []byte) Checkpoint {
	cp := Checkpoint{Seq: seq, Hash: slices.Clone(hash), At: time.Date(2026, 2, 1, 0, 0, 0, 123456000, time.UTC), KeyID: testKeyID}
	cp.Signature = s.SignCheckpoint(cp.Message())
	return cp
}

func equalEvents(a, b Event) bool {
	return a.Seq == b.Seq && a.At.Equal(b.At) && a.Actor == b.Actor && a.Action == b.Action &&
		a.Purpose == b.Purpose && a.Target == b.Target && a.Result == b.Result && a.KeyID == b.KeyID &&
		bytes.Equal(a.Details, b.Details) && bytes.Equal(a.PrevHash, b.PrevHash) && bytes.Equal(a.Hash, b.Hash)
}
