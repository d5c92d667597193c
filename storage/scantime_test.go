package storage

import (
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm/schema"
)

func TestParseDBTime(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-23 16:25:15.123456789+00:00", utc("2026-11-23T16:25:15.123456789Z")},
		{"2026-11-23 16:25:15.5+00:00", utc("2026-11-23T16:25:15.5Z")},
		{"2026-11-23 16:25:15+00:00", utc("2026-11-23T16:25:15Z")},
		{"2026-11-23 16:25:15.000123-05:30", utc("2026-11-23T21:55:15.000123Z")},
		{"2026-11-23T16:25:15.25+02:00", utc("2026-11-23T14:25:15.25Z")},
		{"2026-11-23 16:25:15Z", utc("2026-11-23T16:25:15Z")},
		{"2026-11-23 16:25:15", utc("2026-11-23T16:25:15Z")},
		{"2024-02-29 00:00:00+00:00", utc("2024-02-29T00:00:00Z")},
		// Not Mayfly's layout: read as the driver reads it.
		{"2026-11-23 16:25", utc("2026-11-23T16:25:00Z")},
		{"2026-11-23", utc("2026-11-23T00:00:00Z")},
		{"2026-11-23 16:25:15.5 +0000 UTC", utc("2026-11-23T16:25:15.5Z")},
	} {
		got, err := parseDBTime(c.in)
		if err != nil {
			t.Errorf("parseDBTime(%q): %v", c.in, err)
			continue
		}
		if !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("parseDBTime(%q) = %v, want %v in UTC", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01 00:00:00", "2026-02-30 00:00:00", "2026-11-23 24:00:00",
		"2026-11-23 16:25:15.", "2026-11-23 16:25:15+0", "2026-1x-23 16:25:15"} {
		if got, err := parseDBTime(bad); err == nil {
			t.Errorf("parseDBTime(%q) = %v, want an error", bad, got)
		}
	}
}

// The hand-written reader agrees with time.Parse on what the driver writes.
func TestParseTimeFastAgreesWithTimeParse(t *testing.T) {
	layout := "2006-01-02 15:04:05.999999999-07:00" // _time_format=sqlite
	at := time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)
	zones := []*time.Location{time.UTC, time.FixedZone("", -9*3600-30*60), time.FixedZone("", 14*3600)}
	for i := range 5000 {
		at = at.Add(time.Duration(i)*7919*time.Millisecond + time.Duration(i*104729)*time.Nanosecond)
		s := at.In(zones[i%len(zones)]).Format(layout)
		want, err := time.Parse(layout, s)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseTimeFast(s)
		if !ok || !got.Equal(want) {
			t.Fatalf("parseTimeFast(%q) = %v, %v; time.Parse gives %v", s, got, ok, want)
		}
	}
}

// The hand scans read every column of their model, in the model's order.
func TestScanColumnsMatchTheModels(t *testing.T) {
	for _, c := range []struct {
		model any
		cols  columnList
	}{
		{&Environment{}, environmentColumns},
		{&Event{}, eventColumns},
	} {
		s, err := schema.Parse(c.model, &sync.Map{}, schema.NamingStrategy{})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, f := range s.Fields {
			want = append(want, f.DBName)
		}
		got := strings.Split(c.cols.postgres, ", ")
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: columns\n  %v\nwant the model's\n  %v", s.Name, got, want)
		}
	}
}

func BenchmarkParseDBTime(b *testing.B) {
	s := time.Now().Format("2006-01-02 15:04:05.999999999-07:00")
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			if _, err := parseDBTime(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("time.Parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := time.Parse(dbTimeLayouts[0], s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
