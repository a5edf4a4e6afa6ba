// Package dsr handles data-subject requests (GDPR Arts. 12–22).
//
// This file holds the deadline arithmetic (requirements R-02 and section 1.0
// of docs/gdpr-requirements.md). The GDPR says "one month", "two further
// months" and "72 hours" without saying how to count; EU law counts periods
// under Regulation (EEC, Euratom) No 1182/71, so that is what we implement:
// the day of receipt is not counted, a month period ends on the same day
// number (or the month's last day), and a period ending on a Saturday,
// Sunday or public holiday runs to the end of the next working day.
//
// Everything here is pure: callers pass in the receipt instant, "now" and
// the jurisdiction's calendar, so results are reproducible in tests and in
// an audit replay.
package dsr

import (
	"errors"
	"fmt"
	"time"
)

// Date is a civil date with no time of day and no zone. Legal periods are
// counted in whole days, and keeping the day separate from time.Time means
// a conversion between zones can never silently move a deadline by a day.
//
// Values from DateOf, ParseDate and the Date methods are always valid;
// a literal such as Date{2025, 2, 30} is not normalised and matches nothing.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the civil date of t as seen in loc, which is what decides
// "the day of receipt" for a request. A nil loc means UTC.
func DateOf(t time.Time, loc *time.Location) Date {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	return Date{Year: y, Month: m, Day: d}
}

// ParseDate parses a date in the YYYY-MM-DD form produced by String, so
// dates survive storage and configuration files as plain text.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("dsr: parse date %q: %w", s, err)
	}
	return DateOf(t, time.UTC), nil
}

// String formats d as YYYY-MM-DD (ISO 8601), the form used in notices to
// data subjects and in the audit trail.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// Weekday reports the day of the week of d, which decides whether a
// deadline has to roll forward.
func (d Date) Weekday() time.Weekday {
	return d.utc().Weekday()
}

// AddDays returns d moved by n days (n may be negative), normalising across
// month and year ends.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 0, 0, 0, 0, time.UTC), time.UTC)
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e, in the
// style of time.Time.Compare, so dates can be sorted with slices.SortFunc.
func (d Date) Compare(e Date) int {
	switch {
	case d.Year != e.Year:
		return cmpInt(d.Year, e.Year)
	case d.Month != e.Month:
		return cmpInt(int(d.Month), int(e.Month))
	default:
		return cmpInt(d.Day, e.Day)
	}
}

// Before reports whether d is an earlier day than e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is a later day than e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

func (d Date) utc() time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	default:
		return 0
	}
}

// AddMonths adds n calendar months to d following Art. 3(2)(c) of
// Regulation 1182/71: the result has the same day number as d, or is the
// last day of the target month when that month is shorter. It differs from
// time.Time.AddDate, which would turn 31 January + 1 month into 3 March.
func AddMonths(d Date, n int) Date {
	// Day 1 never overflows, so time.Date only normalises month and year.
	first := time.Date(d.Year, d.Month+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	y, m := first.Year(), first.Month()
	return Date{Year: y, Month: m, Day: min(d.Day, daysIn(y, m))}
}

// daysIn returns the number of days in month m of year y.
func daysIn(y int, m time.Month) int {
	// Day 0 of the next month is the last day of this one.
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// Calendar is one jurisdiction's view of time: the zone that decides on
// which civil day a request arrived and when a day ends, and the public
// holidays that, like weekends, push a deadline forward (1182/71 Art. 3(4)).
// Public holidays differ per Member State and region, so the caller
// supplies them.
//
// The zero Calendar is UTC with no holidays. A Calendar is immutable and
// safe for concurrent use.
type Calendar struct {
	loc      *time.Location
	holidays map[Date]struct{}
}

// NewCalendar returns a calendar in loc (nil means UTC) whose public
// holidays are the given dates. Holidays must cover every year for which
// deadlines are computed; a missing year silently has no holidays.
func NewCalendar(loc *time.Location, holidays ...Date) Calendar {
	set := make(map[Date]struct{}, len(holidays))
	for _, h := range holidays {
		set[h] = struct{}{}
	}
	return Calendar{loc: loc, holidays: set}
}

// Location returns the calendar's time zone, so callers can show deadlines
// in the zone they were computed in.
func (c Calendar) Location() *time.Location {
	if c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// IsWorkingDay reports whether d is neither a Saturday, a Sunday nor one of
// the calendar's public holidays.
func (c Calendar) IsWorkingDay(d Date) bool {
	switch d.Weekday() {
	case time.Saturday, time.Sunday:
		return false
	}
	_, holiday := c.holidays[d]
	return !holiday
}

// RollForward returns d if it is a working day and otherwise the next
// working day: under 1182/71 Art. 3(4) a period whose last day is not a
// working day ends with the following working day.
func (c Calendar) RollForward(d Date) Date {
	for !c.IsWorkingDay(d) {
		d = d.AddDays(1)
	}
	return d
}

// endOfDay returns the last instant (to the nanosecond) of d in the
// calendar's zone: a period ends "with the expiry of the last hour" of its
// last day (1182/71 Art. 3(2)), and a request that is answered at 23:59 is
// still on time.
func (c Calendar) endOfDay(d Date) time.Time {
	return startOfDay(d.AddDays(1), c.Location()).Add(-time.Nanosecond)
}

// startOfDay returns the first instant at which the wall clock in loc shows
// date d or later. time.Date alone is not enough: where a DST change happens
// at midnight (e.g. America/Santiago) local midnight does not exist and
// time.Date may return 23:00 of the day before.
func startOfDay(d Date, loc *time.Location) time.Time {
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
	const window = 6 * time.Hour
	_, offset := t.Zone()
	_, before := t.Add(-window).Zone()
	if h, m, s := t.Clock(); h == 0 && m == 0 && s == 0 && offset == before {
		// The usual case: no clock change shortly before midnight.
		return t
	}

	// A clock change near midnight. Scan forward in quarter hours from a
	// point on an earlier day, then bisect to the nanosecond. Only the
	// wall-clock date is used, not time.ZoneBounds, which can return an
	// end before the instant in leap years past the zone's last explicit
	// transition (golang/go#81583) and so loop forever.
	lo := t.Add(-window)
	for !DateOf(lo, loc).Before(d) {
		lo = lo.Add(-window)
	}
	const step = 15 * time.Minute
	hi := lo.Add(step)
	for DateOf(hi, loc).Before(d) {
		lo, hi = hi, hi.Add(step)
	}
	for hi.Sub(lo) > time.Nanosecond {
		mid := lo.Add(hi.Sub(lo) / 2)
		if DateOf(mid, loc).Before(d) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// Deadlines are the dates by which a data-subject request must be answered.
// Section 1.0 asks for two: the legal deadline, and a stricter internal
// target the UI warns against, so staff do not plan to the last possible
// day.
type Deadlines struct {
	// Received is when the request reached an official channel.
	Received time.Time
	// Target is one month after the day of receipt with no roll-forward
	// (target_due_at).
	Target Date
	// Legal is Target rolled forward past weekends and public holidays
	// (legal_due_at, 1182/71 Art. 3(4)).
	Legal Date
	// LegalAt is the last nanosecond of Legal in the calendar's zone; the
	// request is late from LegalAt plus one nanosecond.
	LegalAt time.Time
	// TargetAt is the last nanosecond of Target in the calendar's zone.
	TargetAt time.Time
	// Extended records that the Art. 12(3) extension has been applied;
	// it can be used only once.
	Extended bool
}

// Deadlines returns the one-month deadlines (Art. 12(3)) for a request
// received at the given instant. The civil day of receipt is taken in the
// calendar's zone and is not counted (1182/71 Art. 3(1)).
func (c Calendar) Deadlines(received time.Time) Deadlines {
	return c.deadlines(received, 1)
}

func (c Calendar) deadlines(received time.Time, months int) Deadlines {
	target := AddMonths(DateOf(received, c.Location()), months)
	legal := c.RollForward(target)
	return Deadlines{
		Received: received,
		Target:   target,
		Legal:    legal,
		LegalAt:  c.endOfDay(legal),
		TargetAt: c.endOfDay(target),
	}
}

// ErrExtensionTooLate reports an extension asked for after the first legal
// deadline had passed; Art. 12(3) requires the subject to be told within
// the first month, so a late extension cannot cure a missed deadline.
var ErrExtensionTooLate = errors.New("dsr: extension requested after the legal deadline")

// ErrAlreadyExtended reports a second extension: Art. 12(3) allows "two
// further months" once, not repeatedly.
var ErrAlreadyExtended = errors.New("dsr: deadline already extended")

// Extend applies the Art. 12(3) extension by two further months to d, the
// deadlines first returned by c.Deadlines. It is allowed up to and
// including d.LegalAt; now is passed in so the decision is reproducible.
//
// The extended period is counted from receipt (receipt + 3 months, as
// R-02 specifies), not from the first deadline: for a request received on
// 31 January that gives 30 April, where adding two months to 28 February
// would wrongly give 28 April.
//
// Extend keeps no state: the caller must persist the result (with
// Extended set) and record the reason and the notice to the subject.
func (c Calendar) Extend(d Deadlines, now time.Time) (Deadlines, error) {
	if d.Extended {
		return d, ErrAlreadyExtended
	}
	if now.After(d.LegalAt) {
		return d, ErrExtensionTooLate
	}
	ext := c.deadlines(d.Received, 3)
	ext.Extended = true
	return ext, nil
}

// BreachDeadline returns when the 72-hour window to notify the supervisory
// authority of a personal data breach (Art. 33(1)) closes. The clock runs
// in elapsed hours from awareness: weekends and holidays count and a DST
// change does not stretch or shrink it.
func BreachDeadline(aware time.Time) time.Time {
	return aware.Add(72 * time.Hour)
}

// Easter returns Easter Sunday of the given year in the Gregorian calendar
// (the anonymous Gregorian, or Meeus/Jones/Butcher, algorithm). Several
// public holidays in EU Member States are fixed relative to it.
func Easter(year int) Date {
	a := year % 19 // position in the 19-year Metonic cycle
	b, c := year/100, year%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30 // days from 21 March to the paschal full moon, roughly
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7 // days from that full moon to the next Sunday
	m := (a + 11*h + 22*l) / 451
	n := h + l - 7*m + 114
	return Date{Year: year, Month: time.Month(n / 31), Day: n%31 + 1}
}

// GermanHolidays returns Germany's nationwide public holidays for year, as
// an example input to NewCalendar. Regional holidays (e.g. Epiphany in
// Bavaria) and one-off ones (31 October 2017) are not included, and the
// current rules are applied to every year, so add those explicitly where
// they matter.
func GermanHolidays(year int) []Date {
	easter := Easter(year)
	return []Date{
		{year, time.January, 1}, // Neujahr
		easter.AddDays(-2),      // Karfreitag
		easter.AddDays(1),       // Ostermontag
		{year, time.May, 1},     // Tag der Arbeit
		easter.AddDays(39),      // Christi Himmelfahrt
		easter.AddDays(50),      // Pfingstmontag
		{year, time.October, 3}, // Tag der Deutschen Einheit
		{year, time.December, 25},
		{year, time.December, 26},
	}
}
