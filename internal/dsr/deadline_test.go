package dsr_test

import (
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // so zone tests do not depend on the machine's zoneinfo

	"github.com/gdprd/gdprd/internal/dsr"
)

// date parses a YYYY-MM-DD literal or stops the test.
func date(t *testing.T, s string) dsr.Date {
	t.Helper()
	d, err := dsr.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// instant parses an RFC 3339 literal or stops the test.
func instant(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// location loads an IANA zone (from the embedded tzdata) or stops the test.
func location(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// germany returns a calendar for Germany's national holidays in the given
// years, in Europe/Berlin.
func germany(t testing.TB, years ...int) dsr.Calendar {
	t.Helper()
	var hs []dsr.Date
	for _, y := range years {
		hs = append(hs, dsr.GermanHolidays(y)...)
	}
	return dsr.NewCalendar(location(t, "Europe/Berlin"), hs...)
}

// TestWorkedExamples checks the table in section 1.0 of
// docs/gdpr-requirements.md, row by row, with no holidays in UTC.
func TestWorkedExamples(t *testing.T) {
	cal := dsr.NewCalendar(time.UTC)
	tests := []struct {
		received      string
		target        string
		targetWeekday time.Weekday
		legal         string
		extended      string
		extWeekday    time.Weekday
	}{
		{"2025-03-05T10:00:00Z", "2025-04-05", time.Saturday, "2025-04-07", "2025-06-05", time.Thursday},
		{"2025-01-31T10:00:00Z", "2025-02-28", time.Friday, "2025-02-28", "2025-04-30", time.Wednesday},
		{"2024-01-31T10:00:00Z", "2024-02-29", time.Thursday, "2024-02-29", "2024-04-30", time.Tuesday},
	}
	for _, tt := range tests {
		t.Run(tt.received, func(t *testing.T) {
			got := cal.Deadlines(instant(t, tt.received))
			if want := date(t, tt.target); got.Target != want {
				t.Errorf("Target = %v, want %v", got.Target, want)
			}
			if wd := got.Target.Weekday(); wd != tt.targetWeekday {
				t.Errorf("Target weekday = %v, want %v", wd, tt.targetWeekday)
			}
			if want := date(t, tt.legal); got.Legal != want {
				t.Errorf("Legal = %v, want %v", got.Legal, want)
			}
			wantAt := instant(t, tt.legal+"T23:59:59.999999999Z")
			if !got.LegalAt.Equal(wantAt) {
				t.Errorf("LegalAt = %v, want %v", got.LegalAt, wantAt)
			}

			ext, err := cal.Extend(got, got.Received.Add(24*time.Hour))
			if err != nil {
				t.Fatalf("Extend: %v", err)
			}
			if want := date(t, tt.extended); ext.Legal != want || ext.Target != want {
				t.Errorf("extended Target, Legal = %v, %v, want %v", ext.Target, ext.Legal, want)
			}
			if wd := ext.Legal.Weekday(); wd != tt.extWeekday {
				t.Errorf("extended weekday = %v, want %v", wd, tt.extWeekday)
			}
		})
	}

	t.Run("breach 2025-06-06T16:00Z", func(t *testing.T) {
		got := dsr.BreachDeadline(instant(t, "2025-06-06T16:00:00Z"))
		if want := instant(t, "2025-06-09T16:00:00Z"); !got.Equal(want) {
			t.Errorf("BreachDeadline = %v, want %v", got, want)
		}
	})
}

func TestAddMonths(t *testing.T) {
	tests := []struct {
		name string
		from string
		n    int
		want string
	}{
		{"plain", "2025-03-05", 1, "2025-04-05"},
		{"Jan 29 leap", "2024-01-29", 1, "2024-02-29"},
		{"Jan 30 leap", "2024-01-30", 1, "2024-02-29"},
		{"Jan 31 leap", "2024-01-31", 1, "2024-02-29"},
		{"Jan 29 non-leap", "2025-01-29", 1, "2025-02-28"},
		{"Jan 30 non-leap", "2025-01-30", 1, "2025-02-28"},
		{"Jan 31 non-leap", "2025-01-31", 1, "2025-02-28"},
		{"Jan 28 non-leap", "2025-01-28", 1, "2025-02-28"},
		{"Feb 29", "2024-02-29", 1, "2024-03-29"},
		{"Feb 28 leap is not a month end rule", "2024-02-28", 1, "2024-03-28"},
		{"Dec 31 into next year", "2024-12-31", 1, "2025-01-31"},
		{"Aug 31", "2025-08-31", 1, "2025-09-30"},
		{"Mar 31", "2025-03-31", 1, "2025-04-30"},
		{"century non-leap", "2100-01-31", 1, "2100-02-28"},
		{"400-year leap", "2000-01-31", 1, "2000-02-29"},
		{"3 months from Jan 31", "2025-01-31", 3, "2025-04-30"},
		{"3 months from Nov 30 to non-leap Feb", "2024-11-30", 3, "2025-02-28"},
		{"3 months from Nov 30 to leap Feb", "2023-11-30", 3, "2024-02-29"},
		{"3 months from Dec 31", "2024-12-31", 3, "2025-03-31"},
		{"3 months from May 31", "2025-05-31", 3, "2025-08-31"},
		{"3 months from Oct 31", "2025-10-31", 3, "2026-01-31"},
		{"12 months from Feb 29", "2024-02-29", 12, "2025-02-28"},
		{"zero", "2025-01-31", 0, "2025-01-31"},
		{"backwards", "2025-03-31", -1, "2025-02-28"},
		{"backwards over a year", "2025-01-15", -13, "2023-12-15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := dsr.AddMonths(date(t, tt.from), tt.n), date(t, tt.want); got != want {
				t.Errorf("AddMonths(%s, %d) = %v, want %v", tt.from, tt.n, got, want)
			}
		})
	}
}

func TestRollForward(t *testing.T) {
	empty := dsr.NewCalendar(time.UTC)
	de := germany(t, 2025, 2026)
	tests := []struct {
		name string
		cal  dsr.Calendar
		from string
		want string
	}{
		{"working day stays", empty, "2025-04-04", "2025-04-04"},
		{"Saturday", empty, "2025-04-05", "2025-04-07"},
		{"Sunday", empty, "2025-04-06", "2025-04-07"},
		{"no holidays: Good Friday is a working day", empty, "2026-04-03", "2026-04-03"},
		{"Good Friday over Easter Monday", de, "2026-04-03", "2026-04-07"},
		{"Easter Saturday", de, "2026-04-04", "2026-04-07"},
		{"Easter Monday", de, "2026-04-06", "2026-04-07"},
		{"Christmas Thursday over the weekend", de, "2025-12-25", "2025-12-29"},
		{"Whit Saturday", de, "2026-05-23", "2026-05-26"},
		{"Ascension Thursday", de, "2026-05-14", "2026-05-15"},
		{"New Year's Eve is a working day", de, "2025-12-31", "2025-12-31"},
		{"Christmas Friday", de, "2026-12-25", "2026-12-28"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := tt.cal.RollForward(date(t, tt.from)), date(t, tt.want); got != want {
				t.Errorf("RollForward(%s) = %v, want %v", tt.from, got, want)
			}
		})
	}
}

func TestDeadlinesHolidays(t *testing.T) {
	de := germany(t, 2025, 2026)
	tests := []struct {
		name     string
		received string
		target   string
		legal    string
		legalAt  string
	}{
		{"target on Good Friday", "2026-03-03T09:00:00+01:00", "2026-04-03", "2026-04-07", "2026-04-07T23:59:59.999999999+02:00"},
		{"target on Whit Saturday", "2026-04-23T09:00:00+02:00", "2026-05-23", "2026-05-26", "2026-05-26T23:59:59.999999999+02:00"},
		{"target on Christmas", "2025-11-25T09:00:00+01:00", "2025-12-25", "2025-12-29", "2025-12-29T23:59:59.999999999+01:00"},
		{"no roll-forward", "2026-03-02T09:00:00+01:00", "2026-04-02", "2026-04-02", "2026-04-02T23:59:59.999999999+02:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := de.Deadlines(instant(t, tt.received))
			if want := date(t, tt.target); got.Target != want {
				t.Errorf("Target = %v, want %v", got.Target, want)
			}
			if want := date(t, tt.legal); got.Legal != want {
				t.Errorf("Legal = %v, want %v", got.Legal, want)
			}
			if want := instant(t, tt.legalAt); !got.LegalAt.Equal(want) {
				t.Errorf("LegalAt = %v, want %v", got.LegalAt, want)
			}
		})
	}
}

func TestDeadlinesTimeZones(t *testing.T) {
	tests := []struct {
		name     string
		cal      dsr.Calendar
		received string
		target   string
		legal    string
		targetAt string
		legalAt  string
	}{
		{
			// 23:30Z is 01:30 CEST on 1 April (DST began 30 March);
			// the target, 1 May, is a holiday in Germany.
			name:     "Berlin, next day locally, summer time",
			cal:      germany(t, 2025),
			received: "2025-03-31T23:30:00Z",
			target:   "2025-05-01",
			legal:    "2025-05-02",
			targetAt: "2025-05-01T23:59:59.999999999+02:00",
			legalAt:  "2025-05-02T23:59:59.999999999+02:00",
		},
		{
			name:     "same instant in UTC is still 31 March",
			cal:      dsr.NewCalendar(time.UTC),
			received: "2025-03-31T23:30:00Z",
			target:   "2025-04-30",
			legal:    "2025-04-30",
			targetAt: "2025-04-30T23:59:59.999999999Z",
			legalAt:  "2025-04-30T23:59:59.999999999Z",
		},
		{
			name:     "Berlin, next day locally, winter time",
			cal:      germany(t, 2025),
			received: "2025-01-30T23:30:00Z",
			target:   "2025-02-28",
			legal:    "2025-02-28",
			targetAt: "2025-02-28T23:59:59.999999999+01:00",
			legalAt:  "2025-02-28T23:59:59.999999999+01:00",
		},
		{
			name:     "Berlin, one nanosecond before local midnight",
			cal:      germany(t, 2025),
			received: "2025-03-31T21:59:59.999999999Z",
			target:   "2025-04-30",
			legal:    "2025-04-30",
			targetAt: "2025-04-30T23:59:59.999999999+02:00",
			legalAt:  "2025-04-30T23:59:59.999999999+02:00",
		},
		{
			// Santiago moves its clocks from 00:00 to 01:00 on
			// 8 September 2024, so 7 September ends at 23:59:59 -04
			// and local midnight never happens.
			name:     "Santiago, day ends at a DST gap",
			cal:      dsr.NewCalendar(location(t, "America/Santiago")),
			received: "2024-08-07T12:00:00-04:00",
			target:   "2024-09-07",
			legal:    "2024-09-09",
			targetAt: "2024-09-07T23:59:59.999999999-04:00",
			legalAt:  "2024-09-09T23:59:59.999999999-03:00",
		},
		{
			// On 6 April 2025 Santiago goes back from 00:00 -03 to
			// 23:00 -04 on 5 April; the repeated hour still belongs to
			// 5 April.
			name:     "Santiago, day ends after a repeated hour",
			cal:      dsr.NewCalendar(location(t, "America/Santiago")),
			received: "2025-03-05T12:00:00-03:00",
			target:   "2025-04-05",
			legal:    "2025-04-07",
			targetAt: "2025-04-05T23:59:59.999999999-04:00",
			legalAt:  "2025-04-07T23:59:59.999999999-04:00",
		},
		{
			// Havana goes back from 01:00 CDT to 00:00 CST on
			// 3 November 2024, so that midnight happens twice; the
			// first one ends 2 November.
			name:     "Havana, midnight happens twice",
			cal:      dsr.NewCalendar(location(t, "America/Havana")),
			received: "2024-10-02T12:00:00-04:00",
			target:   "2024-11-02",
			legal:    "2024-11-04",
			targetAt: "2024-11-02T23:59:59.999999999-04:00",
			legalAt:  "2024-11-04T23:59:59.999999999-05:00",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cal.Deadlines(instant(t, tt.received))
			if want := date(t, tt.target); got.Target != want {
				t.Errorf("Target = %v, want %v", got.Target, want)
			}
			if want := date(t, tt.legal); got.Legal != want {
				t.Errorf("Legal = %v, want %v", got.Legal, want)
			}
			if want := instant(t, tt.targetAt); !got.TargetAt.Equal(want) {
				t.Errorf("TargetAt = %v, want %v", got.TargetAt, want)
			}
			if want := instant(t, tt.legalAt); !got.LegalAt.Equal(want) {
				t.Errorf("LegalAt = %v, want %v", got.LegalAt, want)
			}
		})
	}
}

func TestExtend(t *testing.T) {
	cal := dsr.NewCalendar(time.UTC)
	first := cal.Deadlines(instant(t, "2025-03-05T10:00:00Z")) // legal 2025-04-07
	tests := []struct {
		name    string
		d       dsr.Deadlines
		now     time.Time
		wantErr error
	}{
		{"on the day of receipt", first, first.Received, nil},
		{"last instant of the legal day", first, instant(t, "2025-04-07T23:59:59.999999999Z"), nil},
		{"one nanosecond late", first, instant(t, "2025-04-08T00:00:00Z"), dsr.ErrExtensionTooLate},
		{"after the target but before the rolled-forward legal day", first, instant(t, "2025-04-06T12:00:00Z"), nil},
		{"a month late", first, instant(t, "2025-05-07T12:00:00Z"), dsr.ErrExtensionTooLate},
		{"already extended", mustExtend(t, cal, first), first.Received, dsr.ErrAlreadyExtended},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cal.Extend(tt.d, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Extend error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if got != tt.d {
					t.Errorf("Extend changed the deadlines on error: %+v", got)
				}
				return
			}
			want := dsr.Deadlines{
				Received: first.Received,
				Target:   date(t, "2025-06-05"),
				Legal:    date(t, "2025-06-05"),
				LegalAt:  instant(t, "2025-06-05T23:59:59.999999999Z"),
				TargetAt: instant(t, "2025-06-05T23:59:59.999999999Z"),
				Extended: true,
			}
			if got != want {
				t.Errorf("Extend = %+v, want %+v", got, want)
			}
		})
	}
}

// TestExtendCountsFromReceipt checks that the extension is receipt + 3
// months, not the first target + 2 months, which differ after month ends.
func TestExtendCountsFromReceipt(t *testing.T) {
	cal := dsr.NewCalendar(time.UTC)
	tests := []struct {
		received string
		target   string
		legal    string
	}{
		{"2025-01-31T08:00:00Z", "2025-04-30", "2025-04-30"}, // not 04-28
		{"2024-11-30T08:00:00Z", "2025-02-28", "2025-02-28"},
		{"2023-11-30T08:00:00Z", "2024-02-29", "2024-02-29"},
		{"2024-12-31T08:00:00Z", "2025-03-31", "2025-03-31"},
		{"2025-05-31T08:00:00Z", "2025-08-31", "2025-09-01"}, // Sunday
	}
	for _, tt := range tests {
		t.Run(tt.received, func(t *testing.T) {
			ext := mustExtend(t, cal, cal.Deadlines(instant(t, tt.received)))
			if want := date(t, tt.target); ext.Target != want {
				t.Errorf("extended Target = %v, want %v", ext.Target, want)
			}
			if want := date(t, tt.legal); ext.Legal != want {
				t.Errorf("extended Legal = %v, want %v", ext.Legal, want)
			}
		})
	}
}

// mustExtend extends d at its Received instant or stops the test.
func mustExtend(t *testing.T, cal dsr.Calendar, d dsr.Deadlines) dsr.Deadlines {
	t.Helper()
	ext, err := cal.Extend(d, d.Received)
	if err != nil {
		t.Fatalf("Extend: %v", err)
	}
	return ext
}

func TestBreachDeadline(t *testing.T) {
	berlin := location(t, "Europe/Berlin")
	tests := []struct {
		name  string
		aware time.Time
		want  time.Time
	}{
		{"over a weekend", instant(t, "2025-06-06T16:00:00Z"), instant(t, "2025-06-09T16:00:00Z")},
		// 72 elapsed hours across the spring DST change show as 73
		// hours on a Berlin wall clock.
		{"across DST in Berlin", time.Date(2025, 3, 29, 12, 0, 0, 0, berlin), time.Date(2025, 4, 1, 13, 0, 0, 0, berlin)},
		{"across a leap day", instant(t, "2024-02-28T00:00:00.5Z"), instant(t, "2024-03-02T00:00:00.5Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dsr.BreachDeadline(tt.aware); !got.Equal(tt.want) {
				t.Errorf("BreachDeadline(%v) = %v, want %v", tt.aware, got, tt.want)
			}
		})
	}
}

func TestEaster(t *testing.T) {
	tests := []struct {
		year int
		want string
	}{
		{1818, "1818-03-22"}, // earliest possible date
		{1943, "1943-04-25"}, // latest possible date
		{2000, "2000-04-23"},
		{2008, "2008-03-23"},
		{2019, "2019-04-21"},
		{2024, "2024-03-31"},
		{2025, "2025-04-20"},
		{2026, "2026-04-05"},
		{2027, "2027-03-28"},
		{2038, "2038-04-25"},
		{2285, "2285-03-22"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got, want := dsr.Easter(tt.year), date(t, tt.want); got != want {
				t.Errorf("Easter(%d) = %v, want %v", tt.year, got, want)
			}
		})
	}

	t.Run("a Sunday from 22 March to 25 April", func(t *testing.T) {
		for y := 1583; y <= 4099; y++ {
			e := dsr.Easter(y)
			lo, hi := dsr.Date{Year: y, Month: time.March, Day: 22}, dsr.Date{Year: y, Month: time.April, Day: 25}
			if e.Weekday() != time.Sunday || e.Before(lo) || e.After(hi) {
				t.Fatalf("Easter(%d) = %v (%v)", y, e, e.Weekday())
			}
		}
	})
}

func TestGermanHolidays(t *testing.T) {
	tests := []struct {
		year int
		want []string
	}{
		{2025, []string{"2025-01-01", "2025-04-18", "2025-04-21", "2025-05-01", "2025-05-29", "2025-06-09", "2025-10-03", "2025-12-25", "2025-12-26"}},
		{2026, []string{"2026-01-01", "2026-04-03", "2026-04-06", "2026-05-01", "2026-05-14", "2026-05-25", "2026-10-03", "2026-12-25", "2026-12-26"}},
	}
	for _, tt := range tests {
		t.Run(tt.want[0][:4], func(t *testing.T) {
			got := dsr.GermanHolidays(tt.year)
			if len(got) != len(tt.want) {
				t.Fatalf("GermanHolidays(%d) = %v, want %v", tt.year, got, tt.want)
			}
			for i, w := range tt.want {
				if got[i] != date(t, w) {
					t.Errorf("GermanHolidays(%d)[%d] = %v, want %s", tt.year, i, got[i], w)
				}
			}
		})
	}
}

func TestIsWorkingDay(t *testing.T) {
	de := germany(t, 2026)
	tests := []struct {
		cal  dsr.Calendar
		day  string
		want bool
	}{
		{de, "2026-04-02", true},  // Thursday
		{de, "2026-04-03", false}, // Good Friday
		{de, "2026-04-04", false}, // Saturday
		{de, "2026-04-05", false}, // Sunday
		{de, "2026-04-06", false}, // Easter Monday
		{de, "2027-03-26", true},  // Good Friday 2027, not in the calendar
		{dsr.Calendar{}, "2026-04-03", true},
		{dsr.Calendar{}, "2026-04-04", false},
	}
	for _, tt := range tests {
		t.Run(tt.day, func(t *testing.T) {
			if got := tt.cal.IsWorkingDay(date(t, tt.day)); got != tt.want {
				t.Errorf("IsWorkingDay(%s) = %v, want %v", tt.day, got, tt.want)
			}
		})
	}
}

func TestZeroCalendarIsUTC(t *testing.T) {
	received := instant(t, "2025-03-31T23:30:00Z")
	got := dsr.Calendar{}.Deadlines(received)
	want := dsr.NewCalendar(time.UTC).Deadlines(received)
	if got != want {
		t.Errorf("zero Calendar = %+v, want %+v", got, want)
	}
	if loc := (dsr.Calendar{}).Location(); loc != time.UTC {
		t.Errorf("zero Calendar location = %v, want UTC", loc)
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in      string
		want    dsr.Date
		wantErr bool
	}{
		{in: "2024-02-29", want: dsr.Date{Year: 2024, Month: time.February, Day: 29}},
		{in: "0999-12-31", want: dsr.Date{Year: 999, Month: time.December, Day: 31}},
		{in: "2025-02-29", wantErr: true},
		{in: "2025-2-3", wantErr: true},
		{in: "2025-03-05T10:00:00Z", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := dsr.ParseDate(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDate(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseDate(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if err == nil && got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestDateCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"2025-01-31", "2025-02-01", -1},
		{"2025-02-01", "2025-01-31", 1},
		{"2024-12-31", "2025-01-01", -1},
		{"2025-03-05", "2025-03-05", 0},
		{"2025-03-05", "2025-03-04", 1},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			a, b := date(t, tt.a), date(t, tt.b)
			if got := a.Compare(b); got != tt.want {
				t.Errorf("Compare = %d, want %d", got, tt.want)
			}
			if got := a.Before(b); got != (tt.want < 0) {
				t.Errorf("Before = %v", got)
			}
			if got := a.After(b); got != (tt.want > 0) {
				t.Errorf("After = %v", got)
			}
		})
	}
}
