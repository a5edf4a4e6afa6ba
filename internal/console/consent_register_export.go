package console

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
)

// registerExport streams the records a search selects as CSV. It exports
// many people's data, so it needs a fresh second factor (the route table
// says so) and is audited before anything is sent. Every cell is made safe
// against formula injection when opened in a spreadsheet.
func (s *Server) registerExport(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needConsent(); err != nil {
		return err
	}
	query, err := registerQuery(r)
	if err != nil {
		return err
	}
	if query.Purpose != "" {
		if _, err := s.consent.Purpose(r.Context(), query.Purpose); err != nil {
			return errcode.Field("purpose", "unknown purpose")
		}
	}
	if err := s.staff.Audit(r.Context(), q.actor(), "consent.register.export", q.member.ID, "ok"); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="consent-register.csv"`)
	h.Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"seq", "recorded_at", "subject_id", "kind", "purpose", "notice", "notice_version", "notice_sha256",
		"channel", "action", "source", "recorded_by"})
	err = s.consent.Search(r.Context(), query, func(rec consent.Record) error {
		nv := ""
		if rec.NoticeVersion > 0 {
			nv = strconv.Itoa(rec.NoticeVersion)
		}
		return cw.Write(safeCells(strconv.FormatInt(rec.Seq, 10), rec.RecordedAt.UTC().Format("2006-01-02T15:04:05.000000Z"),
			rec.SubjectID, string(rec.Kind), rec.Purpose, rec.Notice, nv, rec.NoticeSHA256,
			string(rec.Channel), string(rec.Action), rec.Source, rec.RecordedBy))
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		// Headers are gone: the truncated file ends without its last
		// rows; the log says why.
		s.log.ErrorContext(r.Context(), "consent register export failed", "err", errcode.Wrap(err, errcode.Internal, "export"))
	}
	return nil
}

// safeCells neutralises cells a spreadsheet would read as a formula
// (OWASP CSV injection): a leading =, +, -, @, tab or carriage return gets
// a leading apostrophe.
func safeCells(cells ...string) []string {
	for i, c := range cells {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			cells[i] = "'" + c
		}
	}
	return cells
}

func itoa(n int) string { return strconv.Itoa(n) }
