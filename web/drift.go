package web

import (
	"net/url"
	"time"

	"github.com/a-h/templ"
)

// DriftView is the Drift section of an environment page: what the drift
// checks say of its stack.
type DriftView struct {
	EnvironmentID string
	Version       string
	// Status is never_checked, in_sync, drifted or check_failed.
	Status string
	// LastState is the last completed check's result (in_sync, drifted,
	// "" never), shown under a failed check.
	LastState    string
	Checking     bool
	CheckedAt    *time.Time
	DriftedSince *time.Time
	Items        []DriftItemView
	Error        string
	ErrorAt      *time.Time
	NextCheck    *time.Time
	// Interval is the time between scheduled checks, "" when on demand
	// only; Remedy is manual or replace.
	Interval string
	Remedy   string
	// CanCheck offers "Check for drift": the environment is ready and the
	// viewer may act on it.
	CanCheck bool
}

// DriftItemView is one thing that drifted.
type DriftItemView struct {
	Resource    string
	Type        string
	Status      string // MODIFIED, DELETED, ADDED
	Detail      string
	Differences []DriftDifferenceView
}

// DriftDifferenceView is one property: what was declared, what is there.
type DriftDifferenceView struct {
	Path, Expected, Actual, Kind string
}

func driftURL(id string) string { return "/environments/" + url.PathEscape(id) + "/drift" }

func driftCheckURL(id string) templ.SafeURL {
	return templ.SafeURL("/environments/" + url.PathEscape(id) + "/drift-check")
}

func driftSchedule(v DriftView) string {
	if v.Interval == "" {
		return "Checked on demand only"
	}
	return "Checked every " + v.Interval
}

func driftStatusText(status string) string {
	switch status {
	case "in_sync":
		return "In sync"
	case "drifted":
		return "Drifted"
	case "check_failed":
		return "Check failed"
	}
	return "Never checked"
}

func driftStatusClass(status string) string {
	switch status {
	case "in_sync":
		return "inline-flex items-center rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700 ring-1 ring-emerald-200 ring-inset"
	case "drifted":
		return "inline-flex items-center rounded-full bg-red-50 px-2 py-0.5 text-xs font-medium text-red-700 ring-1 ring-red-200 ring-inset"
	case "check_failed":
		return "inline-flex items-center rounded-full bg-amber-50 px-2 py-0.5 text-xs font-medium text-amber-800 ring-1 ring-amber-200 ring-inset"
	}
	return "inline-flex items-center rounded-full bg-zinc-100 px-2 py-0.5 text-xs font-medium text-zinc-600 ring-1 ring-zinc-200 ring-inset"
}

func driftItemStatusClass(status string) string {
	if status == "DELETED" {
		return "rounded bg-red-50 px-1.5 py-0.5 font-mono text-[10px] font-medium text-red-700"
	}
	return "rounded bg-amber-50 px-1.5 py-0.5 font-mono text-[10px] font-medium text-amber-800"
}

func driftValue(s string) string { return valueOr(s, "(none)") }
