package vault

import (
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/keys"
)

// TestDestroyedKeyCannotBeCachedAgain: a read that fetched a key just
// before its destruction must not put it back into the cache.
func TestDestroyedKeyCannotBeCachedAgain(t *testing.T) {
	kr, err := keys.NewKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	kek, _, err := kr.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	_, _, dk, err := kr.NewDataKey(kek)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c keyCache
	c.put(now, dk)
	if c.get(dk.ID(), now) == nil {
		t.Fatal("a cached key is not found: the test proves nothing")
	}
	c.drop(now, dk.ID())
	c.put(now.Add(time.Second), dk) // the racing read
	if c.get(dk.ID(), now.Add(2*time.Second)) != nil {
		t.Fatal("a destroyed key was cached again")
	}
	if c.get(dk.ID(), now.Add(keyCacheTTL+time.Hour)) != nil {
		t.Fatal("a destroyed key reappeared after the TTL")
	}
}
