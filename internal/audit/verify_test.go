package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"
)

const suiteSize = 1000

// suiteLog is the 1,000-event log of the mutation suite, built once.
var suiteLog = buildLog(suiteSize)

// suiteTrusted is a checkpoint of suiteLog's final head, as exported off
// the host before any tampering.
var suiteTrusted = signedCheckpoint(signer, suiteSize, suiteLog[suiteSize-1].Hash)

func verifySuite(t *testing.T, events []Event, stored []Checkpoint, trusted *Checkpoint) Report {
	t.Helper()
	rep, err := VerifyEvents(sliceSeq(events), headOf(events), stored, signer.CheckpointPublicKey(), trusted)
	if err != nil {
		t.Fatalf("VerifyEvents: %v", err)
	}
	return rep
}

func TestHashEncoding(t *testing.T) {
	e := Event{
		Seq: 7, At: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		Actor: "staff:1", Action: "subject.read", Purpose: "support", Target: "c0ffee",
		Result: "ok", KeyID: "dk_1", Details: []byte{1, 2, 3}, PrevHash: bytes.Repeat([]byte{0xab}, 32),
	}
	// An independent spelling of the documented encoding.
	var b bytes.Buffer
	b.WriteString("gdprd-audit-v1")
	binary.Write(&b, binary.BigEndian, int64(7))
	binary.Write(&b, binary.BigEndian, e.At.UnixMicro())
	for _, f := range [][]byte{[]byte("staff:1"), []byte("subject.read"), []byte("support"), []byte("c0ffee"), []byte("ok"), []byte("dk_1"), {1, 2, 3}} {
		binary.Write(&b, binary.BigEndian, uint32(len(f)))
		b.Write(f)
	}
	b.Write(e.PrevHash)
	want := sha256.Sum256(b.Bytes())

	var h hasher
	got, ok := h.sum(&e)
	if !ok || got != want {
		t.Fatalf("hash = %x, want %x", got, want)
	}
	// Pinned, so that a change of encoding, which would make every
	// existing log fail verification, cannot slip in unnoticed.
	const golden = "1bb0fa8179812f6c1807b31132760717349d19b4ce72e4dd05e7a614f46114f9"
	if hex.EncodeToString(got[:]) != golden {
		t.Errorf("hash = %x, want the pinned %s", got, golden)
	}
}

func TestHashIsUnambiguous(t *testing.T) {
	base := Event{Seq: 1, At: time.Unix(1, 0), Actor: "ab", Action: "c", PrevHash: make([]byte, 32)}
	tests := []struct {
		name string
		edit func(e *Event)
	}{
		{"byte moved from actor to action", func(e *Event) { e.Actor, e.Action = "a", "bc" }},
		{"byte moved from action to purpose", func(e *Event) { e.Action, e.Purpose = "", "c" }},
		{"key id moved to details", func(e *Event) { e.KeyID, e.Details = "", []byte("k") }},
		{"details moved to prev hash", func(e *Event) { e.Details = []byte{0}; e.PrevHash = e.PrevHash[:31] }},
		{"seq", func(e *Event) { e.Seq = 2 }},
		{"at by one microsecond", func(e *Event) { e.At = e.At.Add(time.Microsecond) }},
		{"result", func(e *Event) { e.Result = "ok" }},
		{"target", func(e *Event) { e.Target = "t" }},
	}
	var h hasher
	want, _ := h.sum(&base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			tt.edit(&e)
			if got, _ := h.sum(&e); got == want {
				t.Errorf("edited event hashes like the original: %x", got)
			}
		})
	}
}

func TestCheckpointMessage(t *testing.T) {
	cp := Checkpoint{
		Seq:  1234,
		Hash: bytes.Repeat([]byte{0x0f}, 32),
		At:   time.Date(2026, 5, 6, 9, 8, 7, 654321000, time.FixedZone("CEST", 2*3600)),
	}
	want := "gdprd-audit-checkpoint-v1\n1234\n" + strings.Repeat("0f", 32) + "\n2026-05-06T07:08:07.654321Z"
	if got := string(cp.Message()); got != want {
		t.Fatalf("Message() = %q, want %q", got, want)
	}
}

func TestSuiteLogVerifies(t *testing.T) {
	// The control for the mutation suite: untouched, the log verifies, so
	// every detection below is caused by its mutation.
	var stored []Checkpoint
	for seq := int64(100); seq <= suiteSize; seq += 100 {
		stored = append(stored, signedCheckpoint(signer, seq, suiteLog[seq-1].Hash))
	}
	rep := verifySuite(t, suiteLog, stored, &suiteTrusted)
	if !rep.OK || rep.Events != suiteSize || rep.Checkpoints != 10 || rep.FirstBad != 0 || rep.Problem != "" {
		t.Fatalf("report = %+v, want OK with %d events and 10 checkpoints", rep, suiteSize)
	}
}

// flip returns s with byte i changed.
func flip(s string, i int) string {
	b := []byte(s)
	b[i] ^= 0x01
	return string(b)
}

// editField changes one field of e by one byte (or adds one byte to an empty
// field), choosing the field by k so that a run over many positions covers
// every field. Byte slices are copied, never changed in place.
func editField(e *Event, k int) {
	switch k % 11 {
	case 0:
		e.Seq ^= 0x100
	case 1:
		e.At = e.At.Add(time.Microsecond)
	case 2:
		e.Actor = flip(e.Actor, 0)
	case 3:
		e.Action = flip(e.Action, len(e.Action)-1)
	case 4:
		e.Purpose = flip(e.Purpose, 0)
	case 5:
		e.Target = flip(e.Target, 5)
	case 6:
		e.Result = flip(e.Result, 0)
	case 7:
		e.KeyID += "x"
	case 8:
		if len(e.Details) == 0 {
			e.Details = []byte{0}
		} else {
			e.Details = slices.Clone(e.Details)
			e.Details[len(e.Details)/2] ^= 0x80
		}
	case 9:
		e.PrevHash = slices.Clone(e.PrevHash)
		e.PrevHash[31] ^= 0x01
	case 10:
		e.Hash = slices.Clone(e.Hash)
		e.Hash[0] ^= 0x01
	}
}

// editContent is editField restricted to what a rewrite keeps: the fields
// that rechain does not recompute.
func editContent(e *Event, k int) { editField(e, 1+k%8) }

// tampered is a mutated log described relative to suiteLog, so the suite
// does not copy the whole log for each of its thousands of mutations.
type tampered struct {
	n  int               // number of events
	at func(k int) Event // the k-th event, 0-based
}

func (tl tampered) events() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for k := range tl.n {
			if !yield(tl.at(k), nil) {
				return
			}
		}
	}
}

// head is the head row a tamperer would leave: matching the last event.
func (tl tampered) head() *Head {
	if tl.n == 0 {
		return headOf(nil)
	}
	last := tl.at(tl.n - 1)
	return &Head{Seq: last.Seq, Hash: last.Hash}
}

func base(k int) Event { return suiteLog[k] }

func verifyTampered(t *testing.T, tl tampered) Report {
	t.Helper()
	rep, err := VerifyEvents(tl.events(), tl.head(), nil, signer.CheckpointPublicKey(), &suiteTrusted)
	if err != nil {
		t.Fatalf("VerifyEvents: %v", err)
	}
	return rep
}

// replaced is suiteLog with the event at i replaced by e.
func replaced(i int, e Event) tampered {
	return tampered{suiteSize, func(k int) Event {
		if k == i {
			return e
		}
		return suiteLog[k]
	}}
}

// TestMutationSuite tampers with the 1,000-event log at every position in
// each way someone with write access to the stored log could (AL-1, AL-2),
// and checks that verification against the last exported checkpoint detects
// every mutation and names the first bad seq. The stored checkpoints are
// left out, as a tamperer would delete them, and the head is made to match.
func TestMutationSuite(t *testing.T) {
	n := suiteSize
	tests := []struct {
		name string
		// mutate returns the tampered log and the FirstBad a correct
		// verifier reports.
		mutate func(i int) (tampered, int64)
		// sampled mutations run at every 10th position and the last
		// one instead of all: each rewrites the rest of the log, which
		// would take the suite past its time budget under -race.
		sampled bool
	}{
		{"edit one field", func(i int) (tampered, int64) {
			e := suiteLog[i]
			editField(&e, i)
			return replaced(i, e), int64(i + 1)
		}, false},
		{"delete", func(i int) (tampered, int64) {
			return tampered{n - 1, func(k int) Event { return suiteLog[k+b2i(k >= i)] }}, int64(i + 1)
		}, false},
		{"swap with neighbour", func(i int) (tampered, int64) {
			j := i + 1
			if j == n {
				j = i - 1
			}
			return tampered{n, func(k int) Event {
				switch k {
				case i:
					return suiteLog[j]
				case j:
					return suiteLog[i]
				}
				return suiteLog[k]
			}}, int64(min(i, j) + 1)
		}, false},
		{"duplicate", func(i int) (tampered, int64) {
			return tampered{n + 1, func(k int) Event { return suiteLog[k-b2i(k > i)] }}, int64(i + 2)
		}, false},
		{"truncate", func(i int) (tampered, int64) {
			return tampered{i, base}, int64(i + 1)
		}, false},
		{"insert and recompute hashes", func(i int) (tampered, int64) {
			forged := sampleEvent(5000 + i)
			forged.At = suiteLog[i].At
			s := slices.Insert(slices.Clone(suiteLog), i, forged)
			rechain(s, i)
			return tampered{len(s), func(k int) Event { return s[k] }}, suiteSize
		}, true},
		{"edit and recompute hashes", func(i int) (tampered, int64) {
			s := slices.Clone(suiteLog)
			editContent(&s[i], i)
			rechain(s, i)
			return tampered{len(s), func(k int) Event { return s[k] }}, suiteSize
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var tried, detected, rightPlace int
			for i := range n {
				if tt.sampled && i%10 != 0 && i != n-1 {
					continue
				}
				tried++
				tl, wantBad := tt.mutate(i)
				rep := verifyTampered(t, tl)
				if rep.OK {
					t.Errorf("position %d: mutation not detected", i)
					continue
				}
				detected++
				if rep.FirstBad == wantBad {
					rightPlace++
				} else if detected-rightPlace <= 5 {
					t.Errorf("position %d: FirstBad = %d, want %d (%s)", i, rep.FirstBad, wantBad, rep.Problem)
				}
			}
			want := n
			if tt.sampled {
				want = n/10 + 1
			}
			if tried != want || detected != want || rightPlace != want {
				t.Errorf("detected %d of %d (want %d), FirstBad right in %d", detected, tried, want, rightPlace)
			}
			t.Logf("detected %d of %d, FirstBad right in %d of %d", detected, tried, rightPlace, tried)
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// byteEdits lists every single-byte edit of e's stored fields: each byte of
// the 8-byte seq and at, and each byte of every text and binary field.
func byteEdits(e Event) []func(*Event) {
	var edits []func(*Event)
	for k := range 8 {
		edits = append(edits,
			func(e *Event) { e.Seq ^= 1 << (8 * k) },
			func(e *Event) { e.At = time.UnixMicro(e.At.UnixMicro() ^ 1<<(8*k)).UTC() })
	}
	texts := []func(*Event) *string{
		func(e *Event) *string { return &e.Actor },
		func(e *Event) *string { return &e.Action },
		func(e *Event) *string { return &e.Purpose },
		func(e *Event) *string { return &e.Target },
		func(e *Event) *string { return &e.Result },
		func(e *Event) *string { return &e.KeyID },
	}
	for _, field := range texts {
		for i := range len(*field(&e)) {
			edits = append(edits, func(e *Event) { p := field(e); *p = flip(*p, i) })
		}
	}
	blobs := []func(e *Event) *[]byte{
		func(e *Event) *[]byte { return &e.Details },
		func(e *Event) *[]byte { return &e.PrevHash },
		func(e *Event) *[]byte { return &e.Hash },
	}
	for _, field := range blobs {
		for i := range len(*field(&e)) {
			edits = append(edits, func(e *Event) {
				p := field(e)
				*p = slices.Clone(*p)
				(*p)[i] ^= 0x01
			})
		}
	}
	return edits
}

func TestEverySingleByteEdit(t *testing.T) {
	// Every byte of the events at these positions, the whole 1,000-event
	// log verified each time; the mutation suite edits every position once.
	t.Parallel()
	positions := []int{0, 1, 500, 998, 999}
	for _, pos := range positions {
		e := suiteLog[pos]
		edits := byteEdits(e)
		stored := 8 + 8 + len(e.Actor) + len(e.Action) + len(e.Purpose) + len(e.Target) +
			len(e.Result) + len(e.KeyID) + len(e.Details) + len(e.PrevHash) + len(e.Hash)
		if len(edits) != stored {
			t.Fatalf("position %d: %d byte edits enumerated for %d stored bytes", pos, len(edits), stored)
		}
		var detected int
		for k, edit := range edits {
			edited := e
			edit(&edited)
			rep := verifyTampered(t, replaced(pos, edited))
			switch {
			case rep.OK:
				t.Errorf("position %d, byte edit %d: not detected", pos, k)
			case rep.FirstBad != int64(pos+1):
				t.Errorf("position %d, byte edit %d: FirstBad = %d, want %d", pos, k, rep.FirstBad, pos+1)
			default:
				detected++
			}
		}
		if detected != len(edits) {
			t.Errorf("position %d: detected %d of %d single-byte edits", pos, detected, len(edits))
		}
	}
}

func TestForgedCheckpoints(t *testing.T) {
	at := func(seq int64) []byte { return suiteLog[seq-1].Hash }
	random := bytes.Repeat([]byte{0x5a}, 32)
	tests := []struct {
		name     string
		cp       Checkpoint
		firstBad int64 // 0: genuine, must be accepted
	}{
		{"genuine mid-log", signedCheckpoint(signer, 500, at(500)), 0},
		{"genuine head", signedCheckpoint(signer, suiteSize, at(suiteSize)), 0},
		{"genuine empty log", signedCheckpoint(signer, 0, make([]byte, 32)), 0},
		{"bad signature", func() Checkpoint {
			cp := signedCheckpoint(signer, 500, at(500))
			cp.Signature = slices.Clone(cp.Signature)
			cp.Signature[10] ^= 0x01
			return cp
		}(), 500},
		{"signed by another key", signedCheckpoint(otherKey, 500, at(500)), 500},
		{"seq changed after signing", func() Checkpoint {
			cp := signedCheckpoint(signer, 500, at(500))
			cp.Seq, cp.Hash = 501, at(501)
			return cp
		}(), 501},
		{"time changed after signing", func() Checkpoint {
			cp := signedCheckpoint(signer, 500, at(500))
			cp.At = cp.At.Add(time.Second)
			return cp
		}(), 500},
		{"seq beyond the log", signedCheckpoint(signer, suiteSize+1, random), suiteSize + 1},
		{"far beyond the log", signedCheckpoint(signer, 1<<40, random), suiteSize + 1},
		{"hash not matching", signedCheckpoint(signer, 500, random), 500},
		{"smaller size, later root", signedCheckpoint(signer, 400, at(500)), 400},
		{"empty log, nonzero root", signedCheckpoint(signer, 0, random), 1},
		{"negative seq", signedCheckpoint(signer, -1, at(1)), 1},
		{"short hash", signedCheckpoint(signer, 500, at(500)[:31]), 500},
		{"no signature", Checkpoint{Seq: 500, Hash: at(500), At: time.Now()}, 500},
	}
	for _, tt := range tests {
		for _, asTrusted := range []bool{true, false} {
			name := tt.name + "/stored"
			if asTrusted {
				name = tt.name + "/trusted"
			}
			t.Run(name, func(t *testing.T) {
				var rep Report
				if asTrusted {
					rep = verifySuite(t, suiteLog, nil, &tt.cp)
				} else {
					rep = verifySuite(t, suiteLog, []Checkpoint{tt.cp}, nil)
				}
				if tt.firstBad == 0 {
					if !rep.OK {
						t.Fatalf("genuine checkpoint rejected: %+v", rep)
					}
					return
				}
				if rep.OK {
					t.Fatalf("forged checkpoint accepted: %+v", rep)
				}
				if rep.FirstBad != tt.firstBad || !strings.Contains(rep.Problem, "checkpoint") {
					t.Errorf("FirstBad = %d, Problem = %q; want %d and a checkpoint problem", rep.FirstBad, rep.Problem, tt.firstBad)
				}
				if rep.Events != suiteSize {
					t.Errorf("Events = %d, want %d", rep.Events, suiteSize)
				}
			})
		}
	}
}

func TestVerifyEventsHead(t *testing.T) {
	short := suiteLog[:10]
	tests := []struct {
		name     string
		head     *Head
		firstBad int64
	}{
		{"matching", headOf(short), 0},
		{"not checked", nil, 0},
		{"head ahead: tail cut", &Head{Seq: 12, Hash: random32()}, 11},
		{"head behind: event added without it", headOf(short[:8]), 9},
		{"same seq, other hash", &Head{Seq: 10, Hash: random32()}, 10},
		{"head still at genesis", &Head{Seq: 0, Hash: make([]byte, 32)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := VerifyEvents(sliceSeq(short), tt.head, nil, signer.CheckpointPublicKey(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK != (tt.firstBad == 0) || rep.FirstBad != tt.firstBad {
				t.Errorf("report = %+v, want FirstBad %d", rep, tt.firstBad)
			}
		})
	}
	t.Run("empty log", func(t *testing.T) {
		rep, err := VerifyEvents(sliceSeq(nil), headOf(nil), nil, signer.CheckpointPublicKey(), nil)
		if err != nil || !rep.OK || rep.Events != 0 {
			t.Fatalf("report = %+v, %v; want OK and no events", rep, err)
		}
	})
	t.Run("empty log, head moved", func(t *testing.T) {
		rep, err := VerifyEvents(sliceSeq(nil), &Head{Seq: 0, Hash: random32()}, nil, signer.CheckpointPublicKey(), nil)
		if err != nil || rep.OK || rep.FirstBad != 1 {
			t.Fatalf("report = %+v, %v; want FirstBad 1", rep, err)
		}
	})
}

func random32() []byte { return bytes.Repeat([]byte{0x77}, 32) }

func TestVerifyEventsErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	failing := func(yield func(Event, error) bool) {
		if yield(suiteLog[0], nil) {
			yield(Event{}, boom)
		}
	}
	if _, err := VerifyEvents(failing, nil, nil, signer.CheckpointPublicKey(), nil); !errors.Is(err, boom) {
		t.Errorf("read error: got %v, want %v", err, boom)
	}
	if _, err := VerifyEvents(sliceSeq(suiteLog[:3]), nil, nil, nil, nil); err == nil {
		t.Error("verify without a public key: no error")
	}
}

func BenchmarkVerifyEvents(b *testing.B) {
	pub := signer.CheckpointPublicKey()
	for b.Loop() {
		rep, err := VerifyEvents(sliceSeq(suiteLog), headOf(suiteLog), nil, pub, &suiteTrusted)
		if err != nil || !rep.OK {
			b.Fatalf("%+v %v", rep, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*suiteSize), "ns/event")
}
