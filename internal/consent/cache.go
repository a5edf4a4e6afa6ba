package consent

import (
	"sync"
	"sync/atomic"
)

// decisionCache keeps consent-check decisions in memory so the check path
// never touches the database when nothing has changed (the consent check
// is the hottest call of the API: the host asks before every mail and
// every analytics event).
//
// It is correct only when every write that can change a decision goes
// through this process: the register's own records, purpose changes and
// rebuilds, and the vault's erasures and restrictions (Invalidate). That
// holds for SQLite, where one `gdprd serve` owns the database file; on
// PostgreSQL several replicas write, so the register runs without a
// cache there and each check reads the database.
//
// Stale entries cannot outlive a write: a writer bumps the generation after
// its commit and then drops the subject's entries, and a reader stores what
// it read only if the generation did not move while it was reading. A
// reader that began before the commit therefore either stores before the
// drop (and is dropped) or sees the new generation (and does not store).
type decisionCache struct {
	gen atomic.Uint64

	mu       sync.Mutex
	subjects map[string]map[string]Decision // subject -> purpose -> decision
	size     int
}

// maxCached bounds memory (a decision is about 150 bytes with its keys):
// when full the cache starts afresh, which costs one read per pair.
const maxCached = 500_000

func newDecisionCache() *decisionCache {
	return &decisionCache{subjects: map[string]map[string]Decision{}}
}

// begin returns the generation a reader must present to store.
func (c *decisionCache) begin() uint64 { return c.gen.Load() }

func (c *decisionCache) get(subject, purpose string) (Decision, bool) {
	c.mu.Lock()
	d, ok := c.subjects[subject][purpose]
	c.mu.Unlock()
	return d, ok
}

func (c *decisionCache) put(gen uint64, subject, purpose string, d Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if c.size >= maxCached {
		c.subjects, c.size = map[string]map[string]Decision{}, 0
	}
	m := c.subjects[subject]
	if m == nil {
		m = map[string]Decision{}
		c.subjects[subject] = m
	}
	if _, ok := m[purpose]; !ok {
		c.size++
	}
	m[purpose] = d
}

// forget drops one subject's decisions after a committed write.
func (c *decisionCache) forget(subject string) {
	c.gen.Add(1)
	c.mu.Lock()
	c.size -= len(c.subjects[subject])
	delete(c.subjects, subject)
	c.mu.Unlock()
}

// clear drops everything after a committed write that touches every
// subject (a purpose changed its legal basis, a rebuild).
func (c *decisionCache) clear() {
	c.gen.Add(1)
	c.mu.Lock()
	c.subjects, c.size = map[string]map[string]Decision{}, 0
	c.mu.Unlock()
}
