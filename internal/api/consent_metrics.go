package api

import (
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// ConsentMetrics counts consent checks per API key, purpose and answer.
//
// The issue asks that checks be counted, not audited one by one: an audit
// event is a durable write, and the host application checks consent on its
// own hot path, which must never wait on a disk. A counter in memory costs
// nanoseconds; Prometheus scrapes it, and the daily audit summary (a
// separate job) can read the same totals.
type ConsentMetrics struct {
	checks *prometheus.CounterVec
}

// NewConsentMetrics registers the consent metrics on reg.
func NewConsentMetrics(reg prometheus.Registerer) *ConsentMetrics {
	m := &ConsentMetrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gdprd_consent_checks_total",
			Help: "Consent checks answered, by API key id, purpose and whether processing was allowed.",
		}, []string{"key", "purpose", "allowed"}),
	}
	reg.MustRegister(m.checks)
	return m
}

// countCheck counts one answered check. Only purposes that exist are
// counted, so a caller cannot grow the label set with made-up names. A nil
// receiver counts nothing: a server wired without metrics still answers.
func (m *ConsentMetrics) countCheck(keyID, purpose string, allowed bool) {
	if m == nil {
		return
	}
	m.checks.WithLabelValues(keyID, purpose, strconv.FormatBool(allowed)).Inc()
}

// CheckCount is how many checks one API key made for one purpose.
type CheckCount struct {
	Key, Purpose     string
	Allowed, Refused uint64
}

// CheckTotals is a snapshot of the counters, for Since.
type CheckTotals map[[3]string]uint64

// Since reads the counters and returns them as a new snapshot together
// with what changed since prev (nil: since the process started), one
// CheckCount per key and purpose, sorted. The daily audit summary is built
// from it; reading the counters costs the check path nothing.
func (m *ConsentMetrics) Since(prev CheckTotals) (CheckTotals, []CheckCount) {
	now := CheckTotals{}
	if m == nil {
		return now, nil
	}
	ch := make(chan prometheus.Metric)
	go func() {
		m.checks.Collect(ch)
		close(ch)
	}()
	for metric := range ch {
		var pb dto.Metric
		if err := metric.Write(&pb); err != nil || pb.Counter == nil {
			continue
		}
		var k [3]string
		for _, l := range pb.Label {
			switch l.GetName() {
			case "key":
				k[0] = l.GetValue()
			case "purpose":
				k[1] = l.GetValue()
			case "allowed":
				k[2] = l.GetValue()
			}
		}
		now[k] = uint64(pb.Counter.GetValue())
	}
	byPair := map[[2]string]*CheckCount{}
	for k, v := range now {
		d := v - prev[k]
		if v < prev[k] || d == 0 {
			continue
		}
		c := byPair[[2]string{k[0], k[1]}]
		if c == nil {
			c = &CheckCount{Key: k[0], Purpose: k[1]}
			byPair[[2]string{k[0], k[1]}] = c
		}
		if k[2] == "true" {
			c.Allowed += d
		} else {
			c.Refused += d
		}
	}
	out := make([]CheckCount, 0, len(byPair))
	for _, c := range byPair {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].Purpose < out[j].Purpose
	})
	return now, out
}
