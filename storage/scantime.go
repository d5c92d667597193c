package storage

import (
	"fmt"
	"time"
)

// Timestamps on SQLite are text, and modernc's driver turns a column declared
// DATETIME into a time.Time by trying time.Parse with one layout after
// another; in the listings' profile that was an eighth of the CPU. The hand
// scans select timestamps as `+column` on SQLite (a unary plus is a no-op on
// the value, but the result is an expression, which has no declared type, so
// the driver hands over the text) and parse the one layout Mayfly writes
// here. PostgreSQL has no unary plus for timestamps, and its driver decodes
// them cheaply, so there the plus is dropped (sqlColumns).

// scanTime is a nullable timestamp destination for either driver.
type scanTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (s *scanTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s = scanTime{}
		return nil
	case time.Time:
		*s = scanTime{Time: v, Valid: true}
		return nil
	case string:
		t, err := parseDBTime(v)
		*s = scanTime{Time: t, Valid: err == nil}
		return err
	case []byte:
		t, err := parseDBTime(string(v))
		*s = scanTime{Time: t, Valid: err == nil}
		return err
	}
	return fmt.Errorf("storage: cannot read %T as a time", v)
}

// Ptr is the time, or nil for NULL.
func (s scanTime) Ptr() *time.Time {
	if !s.Valid {
		return nil
	}
	t := s.Time
	return &t
}

// dbTimeLayouts are the layouts modernc's driver reads, in its order: what
// parseDBTime falls back on for text it does not read itself.
var dbTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
	"2006-01-02 15:04:05.999999999 -0700 MST",
}

// parseDBTime reads a timestamp as SQLite stores it, in UTC. The layout
// Mayfly writes (_time_format=sqlite: "2006-01-02 15:04:05.999999999-07:00",
// also with a T, a Z or no zone) is read by hand; anything else goes through
// time.Parse with the driver's layouts.
func parseDBTime(s string) (time.Time, error) {
	if t, ok := parseTimeFast(s); ok {
		return t, nil
	}
	for _, layout := range dbTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("storage: %q is not a time", s)
}

// parseTimeFast reads "YYYY-MM-DD HH:MM:SS[.fraction][Z|±HH:MM]" (a space or
// a T between date and time) and reports false for anything else, including
// a field out of range.
func parseTimeFast(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		frac := rest[1:n]
		if len(frac) == 0 || len(frac) > 9 {
			return time.Time{}, false
		}
		v, _ := digits(frac)
		for range 9 - len(frac) {
			v *= 10
		}
		nsec, rest = v, rest[n:]
	}
	offset := 0
	switch {
	case rest == "" || rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digits(rest[1:3])
		om, okm := digits(rest[4:6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 31 April and the like roll over into the next month
		return time.Time{}, false
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}

// digits reads a run of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
