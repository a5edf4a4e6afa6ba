package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

// bench-seed is a hidden command, used only by the benchmark harness
// (bench/, `make bench BENCH_ARGS=-erase-n …`): it fills an EMPTY
// database with made-up subjects, fast, so that erasure and the consent
// stream can be measured among a million subjects without creating them
// one by one through the API.
//
// The rows are the vault's own: every subject goes through
// vault.CreateMany (the same validation, data keys in the key store,
// sealing, blind indexes and subject.create audit event as Create), and
// the grants through consent.RecordMany (the same rules, sealed proof,
// audit event and consent_state as Record). Only the transactions are
// bigger. It refuses a database that already holds a subject, so it
// cannot mix fake people into real ones, and it takes the SQLite serve
// lock, so it cannot run beside a server.
//
// It prints one JSON object on standard output: the counts and a random
// sample of subject ids (for the harness to erase).

// benchSeedBatch is how many subjects one transaction creates.
const benchSeedBatch = 2000

// benchSeedResult is what bench-seed prints.
type benchSeedResult struct {
	Subjects int      `json:"subjects"`
	Purpose  string   `json:"purpose,omitempty"`
	Granted  int      `json:"granted"`
	Seconds  float64  `json:"seconds"`
	Sample   []string `json:"sample"`
}

func runBenchSeed(ctx context.Context, env Env, args []string) error {
	var n, sample, workers int
	var purpose string
	var share float64
	cfg, _, err := parse(env, "bench-seed", args, func(fs *flag.FlagSet) {
		fs.IntVar(&n, "subjects", 10000, "how many made-up subjects to create")
		fs.StringVar(&purpose, "purpose", "", "a consent purpose to create (direct marketing, on the privacy policy) and grant; empty: no grants")
		fs.Float64Var(&share, "granted", 0.25, "the share of subjects that grant --purpose, spread evenly")
		fs.IntVar(&sample, "sample", 200, "how many random subject ids to print")
		fs.IntVar(&workers, "workers", 0, "concurrent batches (default: 2 on SQLite, 4 on PostgreSQL)")
	})
	if err != nil {
		return err
	}
	if n < 1 || n > 100_000_000 || share < 0 || share > 1 || sample < 0 || workers < 0 {
		return fmt.Errorf("%w: --subjects is 1 to 100,000,000, --granted 0 to 1, --sample and --workers not negative", errUsage)
	}
	a, err := openServer(ctx, cfg, newLogger(env.Stderr, cfg))
	if err != nil {
		return err
	}
	defer a.close()
	var exists int
	if err := a.db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM subjects LIMIT 1) s").Scan(&exists); err != nil {
		return err
	}
	if exists > 0 {
		return errors.New("bench-seed fills an empty database only, and this one holds subjects")
	}
	if workers == 0 {
		// On SQLite one writer does all the work, and concurrent batches
		// only contend for it.
		workers = 1
		if a.db.Engine() == sqlstore.Postgres {
			workers = 4
		}
	}
	start := time.Now()
	notice := 0
	if purpose != "" {
		if notice, err = benchSeedPurpose(ctx, a.consent, purpose); err != nil {
			return err
		}
	}
	s := &seeder{a: a, purpose: purpose, notice: notice, share: share, token: randomToken(), progress: env.Stderr,
		total: n, sample: make([]string, 0, sample), sampleSize: sample}
	batches := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Go(func() {
			for first := range batches {
				if err := s.batch(ctx, first, min(first+benchSeedBatch, n)); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
feed:
	for first := 0; first < n; first += benchSeedBatch {
		select {
		case batches <- first:
		case <-ctx.Done():
			break feed
		}
	}
	close(batches)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return json.NewEncoder(env.Stdout).Encode(benchSeedResult{
		Subjects: n, Purpose: purpose, Granted: s.granted, Seconds: time.Since(start).Seconds(), Sample: s.sample,
	})
}

// benchSeedPurpose publishes a privacy policy and declares a consent
// purpose on it, as an operator would before asking anyone; it returns
// the policy's version for the grants to cite.
func benchSeedPurpose(ctx context.Context, r *consent.Register, slug string) (int, error) {
	a := consent.Actor{Name: "system", Purpose: "service-delivery"}
	v, err := r.DraftNotice(ctx, a, "privacy-policy", consent.Draft{
		Body:        "# Privacy Policy\n\nThe benchmark's newsletter goes only to those who asked for it.",
		EffectiveAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		return 0, fmt.Errorf("draft the privacy policy: %w", err)
	}
	if v, err = r.PublishNotice(ctx, a, "privacy-policy", v.Version); err != nil {
		return 0, fmt.Errorf("publish the privacy policy: %w", err)
	}
	_, err = r.CreatePurpose(ctx, a, consent.Purpose{
		Slug: slug, Basis: consent.Consent, DirectMarketing: true, Retention: "P2Y",
		Categories:   []string{"contact", "marketing"},
		Names:        map[string]string{"en": "Newsletter", "de": "Newsletter"},
		Descriptions: map[string]string{"en": "News about our printers.", "de": "Neuigkeiten über unsere Drucker."},
	})
	if err != nil {
		return 0, fmt.Errorf("declare purpose %s: %w", slug, err)
	}
	return v.Version, nil
}

// seeder creates subjects batch by batch from several goroutines.
type seeder struct {
	a        *app
	purpose  string
	notice   int
	share    float64
	token    string
	progress io.Writer
	total    int

	mu         sync.Mutex
	done       int
	granted    int
	seen       int // subjects offered to the sample so far
	sample     []string
	sampleSize int
}

// Made-up personal data, cycled.
var (
	seedNames  = []string{"Erika Mustermann", "Max Müller", "Sophie Schneider", "Lukas Fischer", "Anna Weber", "Jonas Becker"}
	seedCities = []string{"51147 Köln", "10115 Berlin", "80331 München", "20095 Hamburg", "60311 Frankfurt am Main", "70173 Stuttgart"}
	seedPlans  = []string{"free", "pro", "business"}
)

// batch creates subjects [first, end) and has the chosen share of them
// grant the purpose.
func (s *seeder) batch(ctx context.Context, first, end int) error {
	ns := make([]vault.NewSubject, 0, end-first)
	for i := first; i < end; i++ {
		contact, _ := json.Marshal(map[string]string{"name": seedNames[i%len(seedNames)], "city": seedCities[(i/7)%len(seedCities)]})
		profile, _ := json.Marshal(map[string]string{"language": "de", "plan": seedPlans[i%len(seedPlans)]})
		ns = append(ns, vault.NewSubject{
			Email: fmt.Sprintf("p%d.%s@bench.example.org", i, s.token),
			Data:  map[string]json.RawMessage{"contact": contact, "profile": profile},
		})
	}
	ids, err := s.a.vault.CreateMany(ctx, vault.Actor{Name: "system", Purpose: "service-delivery"}, ns)
	if err != nil {
		return fmt.Errorf("create subjects %d-%d: %w", first, end-1, err)
	}
	var grants []consent.Request
	if s.purpose != "" {
		for i := first; i < end; i++ {
			if int(float64(i+1)*s.share) > int(float64(i)*s.share) {
				grants = append(grants, consent.Request{
					SubjectID: ids[i-first], Kind: consent.Grant, Purpose: s.purpose, NoticeVersion: s.notice,
					Channel: consent.Import, Action: consent.Checkbox,
				})
			}
		}
	}
	if len(grants) > 0 {
		if _, err := s.a.consent.RecordMany(ctx, consent.Actor{Name: "system", Purpose: "service-delivery"}, grants); err != nil {
			return fmt.Errorf("grant %s for subjects %d-%d: %w", s.purpose, first, end-1, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		// Reservoir sampling: every subject is equally likely to be in
		// the sample.
		s.seen++
		if len(s.sample) < s.sampleSize {
			s.sample = append(s.sample, id)
		} else if j := mrand.IntN(s.seen); j < s.sampleSize {
			s.sample[j] = id
		}
	}
	before := s.done * 10 / s.total
	s.done += len(ids)
	s.granted += len(grants)
	if after := s.done * 10 / s.total; after > before {
		fmt.Fprintf(s.progress, "bench-seed: %d of %d subjects\n", s.done, s.total)
	}
	return nil
}

// randomToken makes this run's identifiers unique.
func randomToken() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
