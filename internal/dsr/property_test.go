package dsr_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/dsr"
)

// TestDeadlineProperties is security target RL-10: 10^5 random receipt
// instants from 1990 to 2100, spread over zones with and without DST
// (including two that change clocks at midnight), with 0 failures. Half
// the instants are drawn within two hours of a local midnight, where zone
// and DST mistakes show. The expected values come from an independent
// formulation (month-index arithmetic and an explicit leap-year rule), not
// from the code under test.
func TestDeadlineProperties(t *testing.T) {
	const total = 100_000
	var german []dsr.Date
	for y := 1989; y <= 2101; y++ {
		german = append(german, dsr.GermanHolidays(y)...)
	}
	tests := []struct {
		zone     string
		holidays []dsr.Date
	}{
		{"UTC", nil},
		{"Europe/Berlin", german},
		{"America/Santiago", nil}, // DST changes at local midnight
		{"Pacific/Auckland", nil}, // +12/+13, southern-hemisphere DST
		{"America/Havana", nil},   // midnight happens twice in autumn
	}
	for i, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			t.Parallel()
			p := property{
				loc:      location(t, tt.zone),
				holidays: make(map[dsr.Date]bool, len(tt.holidays)),
			}
			for _, h := range tt.holidays {
				p.holidays[h] = true
			}
			p.cal = dsr.NewCalendar(p.loc, tt.holidays...)

			r := rand.New(rand.NewPCG(20250331, uint64(i)))
			for n := range total / len(tests) {
				received := p.randomInstant(r, n%2 == 0)
				if err := p.check(received); err != nil {
					t.Fatalf("received %s (%s): %v", received.Format(time.RFC3339Nano), received.In(p.loc), err)
				}
			}
		})
	}
}

// property is one calendar under test plus an independent copy of its
// holidays.
type property struct {
	cal      dsr.Calendar
	loc      *time.Location
	holidays map[dsr.Date]bool
}

var (
	propFrom = time.Date(1990, time.January, 1, 0, 0, 0, 0, time.UTC)
	propTo   = time.Date(2101, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// randomInstant returns a uniform instant in [propFrom, propTo), or, if
// nearMidnight, one within two hours of local midnight of a uniform day.
func (p property) randomInstant(r *rand.Rand, nearMidnight bool) time.Time {
	if !nearMidnight {
		span := propTo.Unix() - propFrom.Unix()
		return time.Unix(propFrom.Unix()+r.Int64N(span), r.Int64N(1e9))
	}
	days := int(propTo.Sub(propFrom) / (24 * time.Hour))
	midnight := time.Date(1990, time.January, 1+r.IntN(days), 0, 0, 0, 0, p.loc)
	jitter := time.Duration(r.Int64N(int64(4*time.Hour))) - 2*time.Hour
	return midnight.Add(jitter)
}

func (p property) check(received time.Time) error {
	y, m, day := received.In(p.loc).Date()

	d := p.cal.Deadlines(received)
	if !d.Received.Equal(received) || d.Extended {
		return fmt.Errorf("Received, Extended = %v, %v", d.Received, d.Extended)
	}
	if want := plusMonths(y, int(m), day, 1); d.Target != want {
		return fmt.Errorf("Target = %v, want %v", d.Target, want)
	}
	if gap := daysBetween(dsr.Date{Year: y, Month: m, Day: day}, d.Target); gap < 1 || gap > 31 {
		return fmt.Errorf("Target %v is %d days after receipt", d.Target, gap)
	}
	if err := p.checkRolled(d); err != nil {
		return err
	}

	ext, err := p.cal.Extend(d, d.LegalAt)
	if err != nil {
		return fmt.Errorf("Extend at LegalAt: %v", err)
	}
	if !ext.Extended || !ext.Received.Equal(received) {
		return fmt.Errorf("extended: Extended, Received = %v, %v", ext.Extended, ext.Received)
	}
	if want := plusMonths(y, int(m), day, 3); ext.Target != want {
		return fmt.Errorf("extended Target = %v, want %v", ext.Target, want)
	}
	if gap := daysBetween(d.Legal, ext.Legal); gap < 28 {
		return fmt.Errorf("extended Legal %v is only %d days after Legal %v", ext.Legal, gap, d.Legal)
	}
	if err := p.checkRolled(ext); err != nil {
		return fmt.Errorf("extended: %v", err)
	}
	if _, err := p.cal.Extend(ext, d.Received); !errors.Is(err, dsr.ErrAlreadyExtended) {
		return fmt.Errorf("second Extend error = %v, want ErrAlreadyExtended", err)
	}
	if _, err := p.cal.Extend(d, d.LegalAt.Add(time.Nanosecond)); !errors.Is(err, dsr.ErrExtensionTooLate) {
		return fmt.Errorf("Extend after LegalAt error = %v, want ErrExtensionTooLate", err)
	}

	if got := dsr.BreachDeadline(received).Sub(received); got != 72*time.Hour {
		return fmt.Errorf("BreachDeadline - aware = %v", got)
	}
	return nil
}

// checkRolled checks the roll-forward from Target to Legal and that
// TargetAt and LegalAt are the last nanosecond of their days in the zone.
func (p property) checkRolled(d dsr.Deadlines) error {
	if d.Legal.Before(d.Target) {
		return fmt.Errorf("Legal %v before Target %v", d.Legal, d.Target)
	}
	if !p.working(d.Legal) {
		return fmt.Errorf("Legal %v is not a working day", d.Legal)
	}
	for day := d.Target; day.Before(d.Legal); day = day.AddDays(1) {
		if p.working(day) {
			return fmt.Errorf("Legal %v skips working day %v", d.Legal, day)
		}
	}
	if err := p.lastInstant(d.TargetAt, d.Target); err != nil {
		return fmt.Errorf("TargetAt: %v", err)
	}
	if err := p.lastInstant(d.LegalAt, d.Legal); err != nil {
		return fmt.Errorf("LegalAt: %v", err)
	}
	return nil
}

// lastInstant checks that at falls on day in the zone and the next
// nanosecond on a later day.
func (p property) lastInstant(at time.Time, day dsr.Date) error {
	if got := dsr.DateOf(at, p.loc); got != day {
		return fmt.Errorf("%v is on %v, want %v", at, got, day)
	}
	if next := at.Add(time.Nanosecond); !dsr.DateOf(next, p.loc).After(day) {
		return fmt.Errorf("%v is not the last instant of %v", at, day)
	}
	return nil
}

// working is the test's own notion of a working day.
func (p property) working(d dsr.Date) bool {
	switch time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday() {
	case time.Saturday, time.Sunday:
		return false
	}
	return !p.holidays[d]
}

// plusMonths is Art. 3(2)(c) of 1182/71 restated with month indexes: the
// same day number n months later, or that month's last day if it is
// shorter.
func plusMonths(year, month, day, n int) dsr.Date {
	idx := year*12 + month - 1 + n
	y, m := idx/12, idx%12+1
	return dsr.Date{Year: y, Month: time.Month(m), Day: min(day, monthLength(y, m))}
}

func monthLength(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// daysBetween returns the number of days from a to b.
func daysBetween(a, b dsr.Date) int {
	ta := time.Date(a.Year, a.Month, a.Day, 0, 0, 0, 0, time.UTC)
	tb := time.Date(b.Year, b.Month, b.Day, 0, 0, 0, 0, time.UTC)
	return int(tb.Sub(ta) / (24 * time.Hour))
}
