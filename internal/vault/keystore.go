package vault

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// poolSize is how many fresh data keys are made durable in one write. A
// create takes keys from this pool, so it needs no key-store fsync of its
// own: one durable commit per create, on the main store.
const poolSize = 256

// KeyStore keeps wrapped data keys apart from the data they seal (its own
// database: a separate SQLite file by default). Destroying a key here is
// what makes every copy of its data, backups included, unreadable.
type KeyStore struct {
	db  *sqlstore.DB
	kr  *keys.Keyring
	now func() time.Time

	mu     sync.Mutex
	active string // id of the KEK that wraps new data keys
	pool   []*keys.DataKey

	cache keyCache
}

// keyCacheTTL bounds how long an unwrapped data key stays in memory after
// its last load. Destroying a key drops it from this process's cache at
// once; on other replicas the cached copy can no longer reach data, because
// the erasure deleted the rows it sealed in the same transaction as the
// tombstone, and it expires within the TTL.
const (
	keyCacheTTL  = time.Minute
	keyCacheSize = 50_000
)

// keyCache keeps recently used data keys unwrapped, sparing most reads a
// round trip to the key store.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
}

// cachedKey is a cache entry; dk == nil marks a destroyed key, remembered
// for the TTL so that a read racing the destruction cannot put it back.
type cachedKey struct {
	dk    *keys.DataKey
	until time.Time
}

func (c *keyCache) get(id string, now time.Time) *keys.DataKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || now.After(e.until) {
		return nil
	}
	return e.dk
}

func (c *keyCache) put(now time.Time, dks ...*keys.DataKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(dks) > keyCacheSize {
		c.m = make(map[string]cachedKey, len(dks))
	}
	for _, dk := range dks {
		if e, ok := c.m[dk.ID()]; ok && e.dk == nil && now.Before(e.until) {
			continue // destroyed moments ago
		}
		c.m[dk.ID()] = cachedKey{dk: dk, until: now.Add(keyCacheTTL)}
	}
}

func (c *keyCache) drop(now time.Time, ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedKey{}
	}
	for _, id := range ids {
		c.m[id] = cachedKey{until: now.Add(keyCacheTTL)}
	}
}

// OpenKeyStore loads the key-encryption keys, creating the first one on a
// new store.
func OpenKeyStore(ctx context.Context, db *sqlstore.DB, kr *keys.Keyring, now func() time.Time) (*KeyStore, error) {
	ks := &KeyStore{db: db, kr: kr, now: now}
	if err := ks.loadKEKs(ctx); err != nil {
		return nil, err
	}
	if ks.active == "" {
		if _, err := ks.newKEK(ctx); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

func (ks *KeyStore) loadKEKs(ctx context.Context) error {
	rows, err := ks.db.Read().QueryContext(ctx, "SELECT id, wrapped, active FROM keks ORDER BY created_at")
	if err != nil {
		return fmt.Errorf("load keks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var wrapped []byte
		var active int
		if err := rows.Scan(&id, &wrapped, &active); err != nil {
			return fmt.Errorf("load keks: %w", err)
		}
		if !ks.kr.HasKEK(id) {
			if err := ks.kr.LoadKEK(id, wrapped); err != nil {
				return fmt.Errorf("load kek %s (is this the right master key?): %w", id, err)
			}
		}
		if active == 1 {
			ks.mu.Lock()
			ks.active = id
			ks.mu.Unlock()
		}
	}
	return rows.Err()
}

// newKEK creates a key-encryption key and makes it the active one.
func (ks *KeyStore) newKEK(ctx context.Context) (string, error) {
	id, wrapped, err := ks.kr.NewKEK()
	if err != nil {
		return "", err
	}
	err = ks.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE keks SET active = 0 WHERE active = 1"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO keks (id, wrapped, created_at, active) VALUES ($1, $2, $3, 1)",
			id, wrapped, sqlstore.Micros(ks.now()))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("store kek: %w", err)
	}
	ks.mu.Lock()
	ks.active = id
	ks.pool = nil // keys wrapped by the old KEK stay valid; new ones use the new KEK
	ks.mu.Unlock()
	return id, nil
}

// Take returns fresh data keys, already durable in the key store.
func (ks *KeyStore) Take(ctx context.Context, n int) ([]*keys.DataKey, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for len(ks.pool) < n {
		// A bulk import takes what it needs in one write.
		if err := ks.refillLocked(ctx, max(poolSize, n-len(ks.pool))); err != nil {
			return nil, err
		}
	}
	out := make([]*keys.DataKey, n)
	copy(out, ks.pool[len(ks.pool)-n:])
	ks.pool = ks.pool[:len(ks.pool)-n]
	ks.cache.put(ks.now(), out...)
	return out, nil
}

// refillLocked makes n fresh data keys durable in one write and adds
// them to the pool.
func (ks *KeyStore) refillLocked(ctx context.Context, n int) error {
	kek := ks.active
	type fresh struct {
		id      string
		wrapped []byte
		dk      *keys.DataKey
	}
	batch := make([]fresh, n)
	for i := range batch {
		id, wrapped, dk, err := ks.kr.NewDataKey(kek)
		if err != nil {
			return err
		}
		batch[i] = fresh{id, wrapped, dk}
	}
	now := sqlstore.Micros(ks.now())
	err := ks.db.Write(ctx, func(tx *sqlstore.Tx) error {
		const perStmt = 64
		for start := 0; start < len(batch); start += perStmt {
			end := min(start+perStmt, len(batch))
			var sb strings.Builder
			sb.WriteString("INSERT INTO data_keys (id, kek_id, wrapped, created_at) VALUES ")
			args := make([]any, 0, 4*(end-start))
			for i, f := range batch[start:end] {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d)", 4*i+1, 4*i+2, 4*i+3, 4*i+4)
				args = append(args, f.id, kek, f.wrapped, now)
			}
			if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store data keys: %w", err)
	}
	for _, f := range batch {
		ks.pool = append(ks.pool, f.dk)
	}
	return nil
}

// Open returns the data keys with the given ids; a missing id is absent
// from the map (its data has been crypto-shredded).
func (ks *KeyStore) Open(ctx context.Context, want ...string) (map[string]*keys.DataKey, error) {
	out := make(map[string]*keys.DataKey, len(want))
	now := ks.now()
	var ids []string
	for _, id := range want {
		if dk := ks.cache.get(id, now); dk != nil {
			out[id] = dk
		} else {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	query, args := inList("SELECT id, kek_id, wrapped FROM data_keys WHERE id IN ", ids)
	rows, err := ks.db.Read().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read data keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, kek string
		var wrapped []byte
		if err := rows.Scan(&id, &kek, &wrapped); err != nil {
			return nil, fmt.Errorf("read data keys: %w", err)
		}
		if !ks.kr.HasKEK(kek) {
			// Another replica rotated: pick up its new KEK.
			if err := ks.loadKEKs(ctx); err != nil {
				return nil, err
			}
		}
		dk, err := ks.kr.OpenDataKey(kek, id, wrapped)
		if err != nil {
			return nil, fmt.Errorf("unwrap data key %s: %w", id, err)
		}
		out[id] = dk
		ks.cache.put(now, dk)
	}
	return out, rows.Err()
}

// inList appends "($1, $2, …)" for ids to head.
func inList(head string, ids []string) (string, []any) {
	var sb strings.Builder
	sb.WriteString(head)
	sb.WriteByte('(')
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "$%d", i+1)
		args[i] = id
	}
	sb.WriteByte(')')
	return sb.String(), args
}

// Destroy deletes data keys durably.
func (ks *KeyStore) Destroy(ctx context.Context, ids ...string) error {
	return ks.destroy(ctx, sqlstore.Durable, ids)
}

// DestroyRelaxed deletes data keys: the crypto-shredding step of an
// erasure. The caller has already recorded tombstones for them in the main
// store (durably, with the audit event), so the deletion needs no fsync of
// its own: were it lost to a power cut, ApplyTombstones redoes it at
// start-up.
func (ks *KeyStore) DestroyRelaxed(ctx context.Context, ids ...string) error {
	return ks.destroy(ctx, sqlstore.Relaxed, ids)
}

func (ks *KeyStore) destroy(ctx context.Context, d sqlstore.Durability, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ks.cache.drop(ks.now(), ids...)
	query, args := inList("DELETE FROM data_keys WHERE id IN ", ids)
	return ks.db.WriteWith(ctx, d, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("destroy data keys: %w", err)
		}
		return nil
	})
}

// Rotate makes a new key-encryption key and re-wraps every data key under
// it, in batches, without touching the data the keys seal. Reads keep
// working throughout: keys not yet re-wrapped still open with the old KEK.
func (ks *KeyStore) Rotate(ctx context.Context) (kek string, rewrapped int, err error) {
	kek, err = ks.newKEK(ctx)
	if err != nil {
		return "", 0, err
	}
	for {
		rows, err := ks.db.Read().QueryContext(ctx, "SELECT id, kek_id, wrapped FROM data_keys WHERE kek_id <> $1 LIMIT 500", kek)
		if err != nil {
			return kek, rewrapped, fmt.Errorf("rotate: %w", err)
		}
		type rw struct {
			id      string
			wrapped []byte
		}
		var batch []rw
		for rows.Next() {
			var id, old string
			var wrapped []byte
			if err := rows.Scan(&id, &old, &wrapped); err != nil {
				rows.Close()
				return kek, rewrapped, fmt.Errorf("rotate: %w", err)
			}
			nw, err := ks.kr.Rewrap(old, kek, id, wrapped)
			if err != nil {
				rows.Close()
				return kek, rewrapped, fmt.Errorf("rotate %s: %w", id, err)
			}
			batch = append(batch, rw{id, nw})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return kek, rewrapped, fmt.Errorf("rotate: %w", err)
		}
		if len(batch) == 0 {
			return kek, rewrapped, nil
		}
		err = ks.db.Write(ctx, func(tx *sqlstore.Tx) error {
			for _, b := range batch {
				if _, err := tx.ExecContext(ctx, "UPDATE data_keys SET kek_id = $1, wrapped = $2 WHERE id = $3", kek, b.wrapped, b.id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return kek, rewrapped, fmt.Errorf("rotate: %w", err)
		}
		rewrapped += len(batch)
	}
}

// Count reports how many data keys the store holds per KEK, for
// `gdprd keys status` and the rotation test.
func (ks *KeyStore) Count(ctx context.Context) (map[string]int, error) {
	rows, err := ks.db.Read().QueryContext(ctx, "SELECT kek_id, COUNT(*) FROM data_keys GROUP BY kek_id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}
