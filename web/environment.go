package web

import "time"

// Environment page helpers.

// streams reports whether the environment page opens its SSE connection:
// always, except for a destroyed environment, which no longer changes.
func streams(e EnvironmentView) bool { return e.Status != "destroyed" }

func ownerText(e EnvironmentView) string {
	if e.Team != "" {
		return "by " + e.Owner + " (" + e.Team + ")"
	}
	return "by " + e.Owner
}

// isDrill reports whether the disaster-recovery card is shown.
func isDrill(e EnvironmentView) bool {
	return e.Kind == "dr" || e.RTO != "" || e.RPO != "" || e.SnapshotName != ""
}

// drillValue is an RTO or RPO, or what stands in for it until measured.
func drillValue(e EnvironmentView, v string) string {
	if v != "" {
		return v
	}
	if e.Status == "pending" || e.Status == "provisioning" {
		return "measuring…"
	}
	return "—"
}

func failureTitle(e EnvironmentView) string {
	switch {
	case e.Status == "destroy_failed" && e.DestroyGivenUp:
		return "Destroy failed: Mayfly stopped retrying, an administrator can retry it"
	case e.Status == "destroy_failed":
		return "Destroy failed: Mayfly keeps retrying"
	}
	return "Launch failed"
}

func outputsEmpty(e EnvironmentView) string {
	switch e.Status {
	case "pending", "provisioning":
		return "Outputs such as URLs appear here once the environment is ready."
	case "ready":
		return "This environment has no outputs."
	default:
		return "No outputs."
	}
}

// outputHref is the link of an output, or "" if it is not shown as a link:
// only absolute http(s) URLs are, and only while the environment is not
// destroyed (its address then leads nowhere, or to someone else's).
func outputHref(e EnvironmentView, o OutputView) string {
	if !o.IsURL || e.Status == "destroyed" {
		return ""
	}
	return linkURL(o.Value)
}

func timePtr(t time.Time) *time.Time { return &t }

// readyNote says how long an environment took to get ready.
func readyNote(e EnvironmentView) string {
	if e.ReadyAt == nil || e.CreatedAt.IsZero() || e.ReadyAt.Before(e.CreatedAt) {
		return ""
	}
	return "after " + Duration(e.ReadyAt.Sub(e.CreatedAt))
}

func first(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}

func logsEmpty(v LogsView) string {
	if len(v.Services) == 0 && v.Service == "" {
		if v.Live {
			return "No service has written any logs yet."
		}
		return "No logs were captured for this environment."
	}
	if v.Live {
		return "No output yet. New lines appear here as they are written."
	}
	return "This service wrote no output."
}
