package vault_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// parallel runs fn(i) for i in [0, n) on workers goroutines.
func parallel(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

func TestKeyRotationKeepsEverythingReadable(t *testing.T) {
	t.Parallel()
	const subjects, readers = 300, 4
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		want := make([]*vault.Subject, subjects)
		parallel(subjects, 8, func(i int) {
			s, err := en.v.Create(ctx, staff, vault.NewSubject{
				Email: fmt.Sprintf("user%d@example.org", i),
				Data:  map[string]json.RawMessage{"profile": raw(fmt.Sprintf(`{"n":%d}`, i))},
			})
			if err != nil {
				t.Errorf("Create %d: %v", i, err)
				return
			}
			want[i] = s
		})
		if t.Failed() {
			t.FailNow()
		}
		before, err := en.ks.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total := sumCounts(before)
		if len(before) != 1 || total < 2*subjects {
			t.Fatalf("before rotation: keys per KEK %v, want one KEK with at least %d keys", before, 2*subjects)
		}

		var (
			done     = make(chan struct{})
			reads    atomic.Int64
			failures atomic.Int64
			firstErr atomic.Value
			wg       sync.WaitGroup
		)
		for range readers {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-done:
						if n >= 20 {
							return
						}
					default:
					}
					// Let an hour pass before each read, so that no cache of
					// unwrapped keys can answer it: every read unwraps its
					// keys from the key store while rotation rewrites them.
					en.clock.Advance(time.Hour)
					w := want[rand.IntN(subjects)]
					s, err := en.v.Get(ctx, staff, w.ID)
					if err == nil && (s.Email != w.Email || string(s.Data["profile"]) != string(w.Data["profile"])) {
						err = fmt.Errorf("read %s back as %+v", w.ID, *s)
					}
					reads.Add(1)
					if err != nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}
			})
		}
		var (
			kek       string
			rewrapped int
			rotErr    error
		)
		go func() {
			defer close(done)
			kek, rewrapped, rotErr = en.v.KeyStore().Rotate(ctx)
		}()
		wg.Wait()
		if rotErr != nil {
			t.Fatalf("Rotate: %v", rotErr)
		}
		if n := failures.Load(); n != 0 {
			t.Fatalf("%d of %d reads during rotation failed; first: %v", n, reads.Load(), firstErr.Load())
		}
		if rewrapped != total {
			t.Errorf("Rotate re-wrapped %d keys, want %d", rewrapped, total)
		}
		after, err := en.v.KeyStore().Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != 1 || after[kek] != total {
			t.Errorf("after rotation: keys per KEK %v, want all %d under the new KEK %s", after, total, kek)
		}
		if _, ok := before[kek]; ok {
			t.Errorf("Rotate reported the old KEK %s", kek)
		}

		readAll := func(t *testing.T, v *vault.Vault) {
			t.Helper()
			parallel(subjects, 4, func(i int) {
				s, err := v.Get(ctx, staff, want[i].ID)
				if err != nil {
					t.Errorf("Get %s: %v", want[i].ID, err)
					return
				}
				sameSubject(t, s, want[i])
			})
		}
		t.Run("readable after rotation", func(t *testing.T) { readAll(t, en.v) })
		t.Run("readable after restart", func(t *testing.T) {
			en.reopen(t)
			readAll(t, en.v)
			counts, err := en.v.KeyStore().Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(counts) != 1 || counts[kek] != total {
				t.Errorf("after restart: keys per KEK %v, want all %d under %s", counts, total, kek)
			}
			// New keys are wrapped by the new KEK too.
			mustCreate(t, en.v, vault.NewSubject{Email: "after.rotation@example.org"})
			counts, err = en.v.KeyStore().Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(counts) != 1 || counts[kek] <= total {
				t.Errorf("after a create: keys per KEK %v, want new keys under %s only", counts, kek)
			}
		})
	})
}
