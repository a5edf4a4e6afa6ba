package api

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
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
