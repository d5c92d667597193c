package web

import (
	"net/url"
	"strconv"
)

// TemplateDetailView is a template's page: its versions and, when two were
// chosen, the line diff between them.
type TemplateDetailView struct {
	Template TemplateView
	// From and To are the versions chosen to compare ("" none yet).
	From, To string
	Diff     *DiffView
	// Errors are the compare form's field errors (from, to).
	Errors map[string]string
	// CanLaunch says the viewer may launch its versions.
	CanLaunch bool
	// Cost is what its priced environments cost (nil: none was priced).
	Cost *CostLineView
}

// DiffView is the line diff between two versions' template.yaml.
type DiffView struct {
	From, To       string
	Added, Removed int
	Lines          []DiffLineView
}

// DiffLineView is one line of a diff: Op is "same", "removed" or "added";
// Old and New its line numbers (0: none).
type DiffLineView struct {
	Op       string
	Old, New int
	Text     string
}

// diffLineClass colours a diff line by what it does.
func diffLineClass(op string) string {
	switch op {
	case "added":
		return "bg-emerald-50 text-emerald-900"
	case "removed":
		return "bg-red-50 text-red-900"
	default:
		return "text-zinc-700"
	}
}

// diffMark is the unified diff's mark of a line.
func diffMark(op string) string {
	switch op {
	case "added":
		return "+"
	case "removed":
		return "-"
	default:
		return " "
	}
}

// lineNumber is a diff's line number, blank for none.
func lineNumber(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// templateURL is a template's page.
func templateURL(name string) string { return "/templates/" + url.PathEscape(name) }

// compareURL is a template's page comparing two of its versions.
func compareURL(name, from, to string) string {
	return templateURL(name) + "?from=" + url.QueryEscape(from) + "&to=" + url.QueryEscape(to)
}

// previousVersion is the version published before versions[i] (newest
// first), "" for the first.
func previousVersion(versions []VersionView, i int) string {
	if i+1 < len(versions) {
		return versions[i+1].Version
	}
	return ""
}
