package web

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Class names are written out whole, never assembled, so that Tailwind (which
// scans web/ for them) finds every one.

const badgeBase = "inline-flex shrink-0 items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium whitespace-nowrap ring-1 ring-inset "

// statusClasses returns the badge colours and the dot colours of a status.
func statusClasses(status string) (badge, dot string) {
	switch status {
	case "pending":
		return badgeBase + "bg-zinc-100 text-zinc-700 ring-zinc-500/20", "size-1.5 rounded-full bg-zinc-400"
	case "provisioning":
		return badgeBase + "bg-blue-50 text-blue-700 ring-blue-600/20", "size-1.5 rounded-full bg-blue-500 motion-safe:animate-pulse"
	case "ready":
		return badgeBase + "bg-emerald-50 text-emerald-700 ring-emerald-600/20", "size-1.5 rounded-full bg-emerald-500"
	case "failed":
		return badgeBase + "bg-red-50 text-red-700 ring-red-600/20", "size-1.5 rounded-full bg-red-500"
	case "destroying":
		return badgeBase + "bg-amber-50 text-amber-800 ring-amber-600/25", "size-1.5 rounded-full bg-amber-500 motion-safe:animate-pulse"
	case "destroyed":
		return badgeBase + "bg-white text-zinc-500 ring-zinc-300", "size-1.5 rounded-full bg-zinc-300"
	case "destroy_failed":
		return badgeBase + "bg-rose-100 text-rose-800 ring-rose-600/30", "size-1.5 rounded-full bg-rose-600"
	default:
		return badgeBase + "bg-zinc-100 text-zinc-700 ring-zinc-500/20", "size-1.5 rounded-full bg-zinc-400"
	}
}

// statusBadgeClass and statusDotClass split statusClasses for templates.
func statusBadgeClass(status string) string { b, _ := statusClasses(status); return b }
func statusDotClass(status string) string   { _, d := statusClasses(status); return d }

const kindBase = "inline-flex shrink-0 items-center rounded-md px-1.5 py-0.5 text-xs font-medium whitespace-nowrap ring-1 ring-inset "

func kindBadgeClass(kind string) string {
	switch kind {
	case "replica":
		return kindBase + "bg-violet-50 text-violet-700 ring-violet-600/20"
	case "demo":
		return kindBase + "bg-sky-50 text-sky-700 ring-sky-600/20"
	case "dr":
		return kindBase + "bg-orange-50 text-orange-700 ring-orange-600/20"
	default:
		return kindBase + "bg-zinc-50 text-zinc-600 ring-zinc-500/20"
	}
}

// kindLabel is the word shown for a template kind.
func kindLabel(kind string) string {
	switch kind {
	case "replica":
		return "replica"
	case "demo":
		return "demo"
	case "dr":
		return "DR drill"
	case "":
		return "template"
	default:
		return kind
	}
}

// eventIconClass colours the timeline dot of an event.
func eventIconClass(e EventView) string {
	const base = "flex size-7 shrink-0 items-center justify-center rounded-full ring-4 ring-white "
	if e.Kind == "status" {
		switch e.Status {
		case "ready":
			return base + "bg-emerald-100 text-emerald-700"
		case "failed", "destroy_failed":
			return base + "bg-red-100 text-red-700"
		case "provisioning":
			return base + "bg-blue-100 text-blue-700"
		case "destroying", "destroyed":
			return base + "bg-amber-100 text-amber-800"
		default:
			return base + "bg-zinc-100 text-zinc-600"
		}
	}
	switch e.Kind {
	case "action":
		return base + "bg-indigo-100 text-indigo-700"
	default:
		return base + "bg-zinc-100 text-zinc-600"
	}
}

// eventIcon names the icon of an event.
func eventIcon(e EventView) string {
	switch e.Kind {
	case "status":
		switch e.Status {
		case "ready":
			return "check"
		case "failed", "destroy_failed":
			return "alert"
		case "destroying", "destroyed":
			return "trash"
		default:
			return "refresh"
		}
	case "action":
		return "user"
	default:
		return "server"
	}
}

// URLs. Path segments are escaped; names and ids are usually plain slugs.

func launchURL(template, version string) string {
	u := "/templates/" + url.PathEscape(template) + "/launch"
	if version != "" {
		u += "?version=" + url.QueryEscape(version)
	}
	return u
}

func environmentURL(id string) string { return "/environments/" + url.PathEscape(id) }

func extendURL(id string) string   { return environmentURL(id) + "/extend" }
func destroyURL(id string) string  { return environmentURL(id) + "/destroy" }
func relaunchURL(id string) string { return environmentURL(id) + "/relaunch" }

// stackStatusText is a stack's status as people read it.
func stackStatusText(s string) string {
	switch s {
	case "in_service":
		return "in service"
	case "standby":
		return "on standby for a rollback"
	case "building":
		return "building"
	case "failed":
		return "failed, being destroyed"
	}
	return s
}

func replaceURL(id string) string  { return environmentURL(id) + "/replace" }
func rollbackURL(id string) string { return environmentURL(id) + "/rollback" }

// replaceParamsURL fetches the replace form's parameters of a version
// ("": the one the select sends).
func replaceParamsURL(id, version string) string {
	if version == "" {
		return environmentURL(id) + "/replace/params"
	}
	return environmentURL(id) + "/replace/params?version=" + url.QueryEscape(version)
}

// cancelURL is where the launch form's Cancel goes back to.
func cancelURL(f LaunchForm) string {
	if f.Relaunch != nil {
		return environmentURL(f.Relaunch.SourceID)
	}
	return "/catalog"
}

// formURL is where the launch form posts, and what changing its version
// fetches: the template's launch URL, or a relaunch's.
func formURL(f LaunchForm) string {
	if f.Relaunch != nil {
		return relaunchURL(f.Relaunch.SourceID)
	}
	return launchURL(f.Template.Name, "")
}

// streamURL is the SSE stream of an environment, resuming after the last
// event the page already shows, so that none is appended twice.
func streamURL(id string, events []EventView) string {
	u := environmentURL(id) + "/stream"
	var last int64
	for _, e := range events {
		last = max(last, e.ID)
	}
	if last > 0 {
		u += "?after=" + strconv.FormatInt(last, 10)
	}
	return u
}

func logsURL(id, service string) string {
	u := environmentURL(id) + "/logs"
	if service != "" {
		u += "?service=" + url.QueryEscape(service)
	}
	return u
}

// environmentsURL is the environments page filtered by status.
func environmentsURL(status string) string {
	if status == "" {
		return "/environments"
	}
	return "/environments?status=" + url.QueryEscape(status)
}

// environmentsPageURL is one page of the environments page.
func environmentsPageURL(status, cursor string) string {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	q.Set("cursor", cursor)
	return "/environments?" + q.Encode()
}

// withFilters adds the list's filters but its status (label=k=v, repeated;
// q, template, owner) to a URL of the environments page, so tabs, pages
// and the refresh keep them.
func withFilters(u string, l EnvironmentList) string {
	q := url.Values{}
	if len(l.Labels) > 0 {
		q["label"] = l.Labels
	}
	for k, v := range map[string]string{"q": l.Search, "template": l.Template, "owner": l.Owner} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return u
	}
	return withQuery(u, q.Encode())
}

// withQuery appends an encoded query to u.
func withQuery(u, q string) string {
	if strings.Contains(u, "?") {
		return u + "&" + q
	}
	return u + "?" + q
}

// rowsURL is the self-refreshing rows partial of a page of the
// environments page.
func rowsURL(status, cursor string) string {
	u := "/environments?partial=rows"
	if status != "" {
		u += "&status=" + url.QueryEscape(status)
	}
	if cursor != "" {
		u += "&cursor=" + url.QueryEscape(cursor)
	}
	return u
}

// linkURL returns value if it is an absolute http(s) URL that can be
// rendered as a link, "" otherwise.
func linkURL(value string) string {
	u, err := url.Parse(value)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return value
}

// paramLabel is a parameter's label, or its name.
func paramLabel(p ParamView) string {
	if p.Label != "" {
		return p.Label
	}
	return p.Name
}

// paramValue is what a parameter's input shows: the submitted value when the
// form comes back with errors, otherwise the default. Secrets are never
// shown again.
func paramValue(f LaunchForm, p ParamView) string {
	if p.Secret {
		return ""
	}
	if v, ok := f.Params[p.Name]; ok {
		return v
	}
	return p.Default
}

// paramChecked is the state of a bool parameter's checkbox. An unchecked box
// is not submitted at all, so once the form has been submitted (f.Params is
// not nil) a missing value means unchecked, not "use the default".
func paramChecked(f LaunchForm, p ParamView) bool {
	if f.Params != nil {
		return f.Params[p.Name] == "true"
	}
	return p.Default == "true"
}

// launchVersions are the versions offered by the launch form: the
// non-deprecated ones, plus the chosen one even if deprecated.
func launchVersions(f LaunchForm) []VersionView {
	var vs []VersionView
	found := false
	for _, v := range f.Template.Versions {
		if v.Version == f.Version.Version {
			found = true
		} else if v.Deprecated {
			continue
		}
		vs = append(vs, v)
	}
	if !found && f.Version.Version != "" {
		vs = append([]VersionView{f.Version}, vs...)
	}
	return vs
}

// olderVersions are a template's versions other than its latest.
func olderVersions(t TemplateView) []VersionView {
	var vs []VersionView
	for _, v := range t.Versions {
		if v.Version != t.Latest.Version {
			vs = append(vs, v)
		}
	}
	return vs
}

// fieldError returns the error of a form field and whether there is one.
func fieldError(errs map[string]string, key string) (string, bool) {
	msg, ok := errs[key]
	return msg, ok && msg != ""
}

// describedBy joins the ids of a field's help and error texts.
func describedBy(ids ...string) string {
	var out []string
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return strings.Join(out, " ")
}

// statusTab is one filter tab of the environments page.
type statusTab struct {
	Status string // the ?status= value
	Label  string
	Count  int
}

// liveStatuses are the statuses of the default ("") filter.
var liveStatuses = []string{"pending", "provisioning", "ready"}

func statusTabs(l EnvironmentList) []statusTab {
	live, all := 0, 0
	for s, n := range l.Counts {
		all += n
		for _, ls := range liveStatuses {
			if s == ls {
				live += n
			}
		}
	}
	tabs := []statusTab{
		{"", "Live", live},
		{"ready", "Ready", l.Counts["ready"]},
		{"provisioning", "Provisioning", l.Counts["provisioning"]},
		{"failed", "Failed", l.Counts["failed"]},
	}
	// Rare statuses get a tab only when there is something to see.
	for _, s := range []struct{ status, label string }{
		{"pending", "Pending"},
		{"destroying", "Destroying"},
		{"destroy_failed", "Destroy failed"},
	} {
		if l.Counts[s.status] > 0 || l.Status == s.status {
			tabs = append(tabs, statusTab{s.status, s.label, l.Counts[s.status]})
		}
	}
	tabs = append(tabs,
		statusTab{"destroyed", "Destroyed", l.Counts["destroyed"]},
		statusTab{"all", "All", all},
	)
	return tabs
}

func tabClass(active bool) string {
	if active {
		return "inline-flex shrink-0 items-center gap-2 border-b-2 border-indigo-600 px-1 pb-3 text-sm font-medium text-indigo-600"
	}
	return "inline-flex shrink-0 items-center gap-2 border-b-2 border-transparent px-1 pb-3 text-sm font-medium text-zinc-500 hover:border-zinc-300 hover:text-zinc-700"
}

func tabCountClass(active bool) string {
	if active {
		return "rounded-full bg-indigo-50 px-2 py-0.5 text-xs font-medium text-indigo-600 tabular-nums"
	}
	return "rounded-full bg-zinc-100 px-2 py-0.5 text-xs font-medium text-zinc-600 tabular-nums"
}

func navClass(active bool) string {
	if active {
		return "rounded-md bg-zinc-100 px-3 py-1.5 text-sm font-medium text-zinc-900"
	}
	return "rounded-md px-3 py-1.5 text-sm font-medium text-zinc-600 hover:bg-zinc-50 hover:text-zinc-900"
}

func serviceTabClass(active bool) string {
	if active {
		return "rounded-md bg-zinc-800 px-2.5 py-1 font-mono text-xs font-medium text-white"
	}
	return "rounded-md px-2.5 py-1 font-mono text-xs font-medium text-zinc-400 hover:bg-zinc-800/60 hover:text-zinc-200"
}

// inputClass is the class of a text input, select or textarea.
func inputClass(invalid bool) string {
	if invalid {
		return "block w-full rounded-lg border border-red-400 bg-white px-3 py-2 text-sm text-zinc-900 shadow-xs placeholder:text-zinc-400 focus:border-red-500 focus:outline-none focus:ring-3 focus:ring-red-500/15"
	}
	return "block w-full rounded-lg border border-zinc-300 bg-white px-3 py-2 text-sm text-zinc-900 shadow-xs placeholder:text-zinc-400 focus:border-indigo-500 focus:outline-none focus:ring-3 focus:ring-indigo-500/15"
}

// initials is the avatar text of a user name.
func initials(name string) string {
	fields := strings.FieldsFunc(name, func(r rune) bool { return r == ' ' || r == '.' || r == '_' || r == '-' || r == '@' })
	out := ""
	for _, f := range fields {
		if len(out) == 2 {
			break
		}
		out += strings.ToUpper(string([]rune(f)[:1]))
	}
	if out == "" {
		return "?"
	}
	return out
}

func pageTitle(p Page) string {
	if p.Title == "" {
		return "Mayfly"
	}
	return p.Title + " · Mayfly"
}

// htmxConfig is the htmx configuration, in a meta tag so no inline script is
// needed. includeIndicatorStyles: htmx would otherwise inject an inline
// <style> (CSP). allowEval: nothing needs it; one less way to run script.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false}`

// Buttons: add the padding where they are used (" px-3 py-1.5", " px-4 py-2").
const (
	btnBase      = "inline-flex items-center justify-center gap-1.5 rounded-lg text-sm font-medium shadow-xs transition focus-visible:outline-2 focus-visible:outline-offset-2 disabled:cursor-not-allowed disabled:opacity-60"
	btnPrimary   = btnBase + " bg-indigo-600 text-white hover:bg-indigo-500 focus-visible:outline-indigo-600"
	btnSecondary = btnBase + " bg-white text-zinc-800 ring-1 ring-zinc-300 ring-inset hover:bg-zinc-50 focus-visible:outline-indigo-600"
	btnDanger    = btnBase + " bg-white text-red-600 ring-1 ring-red-300 ring-inset hover:bg-red-50 focus-visible:outline-red-600"
)

// valueOr returns s, or def when s is empty.
func valueOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func emptyTitle(status string) string {
	switch status {
	case "":
		return "No live environments"
	case "all":
		return "No environments yet"
	default:
		return "Nothing " + strings.ReplaceAll(status, "_", " ")
	}
}

func emptyText(status string) string {
	switch status {
	case "", "all":
		return "Pick a template from the catalog and launch one: it is ready in a minute and cleans up after itself."
	default:
		return "No environment has this status right now."
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func countPillClass(attention bool) string {
	if attention {
		return "rounded-full bg-red-50 px-2 py-0.5 text-xs font-medium text-red-700 tabular-nums ring-1 ring-red-600/20 ring-inset"
	}
	return "rounded-full bg-zinc-100 px-2 py-0.5 text-xs font-medium text-zinc-600 tabular-nums"
}

// errorTitle and errorMessage fill in what an ErrorView leaves empty.
func errorTitle(e ErrorView) string {
	if e.Title != "" {
		return e.Title
	}
	switch e.Status {
	case 400:
		return "That request did not make sense"
	case 401:
		return "Please sign in"
	case 403:
		return "You cannot do that"
	case 404:
		return "Page not found"
	case 409:
		return "That conflicts with something"
	default:
		if e.Status >= 500 {
			return "Something went wrong"
		}
		return "Something is not right"
	}
}

func errorMessage(e ErrorView) string {
	if e.Message != "" {
		return e.Message
	}
	switch e.Status {
	case 404:
		return "It may have been destroyed, or the link is wrong."
	case 403:
		return "You do not have access to this. Ask an administrator if you think you should."
	default:
		if e.Status >= 500 {
			return "It is not your fault. Try again in a moment; if it keeps happening, tell whoever runs Mayfly."
		}
		return "Go back and try again."
	}
}

// firstOr is the first of a list ("" when empty); restOf the others.
func firstOr(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}

func restOf(l []string) []string {
	if len(l) < 2 {
		return nil
	}
	return l[1:]
}

// joinLabels shows a label filter: "pr=1 and commit=abc".
func joinLabels(l []string) string { return strings.Join(l, " and ") }

// liveText is a version's count of live environments: "3 environments".
func liveText(n int) string {
	if n == 1 {
		return "1 environment"
	}
	return strconv.Itoa(n) + " environments"
}

// deprecatedText is the environment page's line about a deprecated
// version: "v1.2.0 is deprecated; it will be replaced ... — 1.3.0 is
// available".
func deprecatedText(e EnvironmentView) string {
	s := "v" + e.Version + " is deprecated"
	if e.Deprecation != "" {
		s += "; " + e.Deprecation
	}
	if e.NewerVersion != "" {
		s += " — " + e.NewerVersion + " is available"
	}
	return s
}

// deprecationProgressText says why an environment is still on its
// deprecated version, after its deprecation date.
func deprecationProgressText(v DeprecationProgressView) string {
	verb, noun := "replace", "replaced"
	if v.Action == "destroy" {
		verb, noun = "destroy", "destroyed"
	}
	switch {
	case v.State == "replacing":
		s := fmt.Sprintf("Its deprecation date passed: replacing it with %s (attempt %d of %d).", v.Target, v.Attempts, v.MaxAttempts)
		if v.Reason != "" {
			s += " The try before failed: " + v.Reason + "."
		}
		return s
	case v.State == "gave_up":
		return fmt.Sprintf("Its deprecation date passed but it could not be %s: %s. Mayfly gave up after %d attempts; %s it by hand.",
			noun, valueOr(v.Reason, "no reason was recorded"), v.Attempts, verb)
	case v.Attempts == 0:
		return fmt.Sprintf("Its deprecation date passed: it is about to be %s.", noun)
	default:
		return fmt.Sprintf("Its deprecation date passed but it is not %s yet: %s (attempt %d of %d).", noun, v.Reason, v.Attempts, v.MaxAttempts)
	}
}

// filterSuffix is a rollout's filter in its page's subtitle.
func filterSuffix(f string) string {
	if f == "" {
		return ""
	}
	return ", " + f
}

// versionChoiceText is how the replace form offers a version: the one in
// service is a fresh stack of the same version, a deprecated one says so.
func versionChoiceText(c VersionChoice, current string) string {
	t := c.Version
	if c.Version == current {
		t += " (in service: a fresh stack)"
	}
	if c.Deprecated {
		t += " (deprecated)"
	}
	return t
}

// patternTitle is the title of a field with a pattern, which the browser
// shows when a value does not match it: the template's words for it, or
// the pattern itself.
func patternTitle(p ParamView) string {
	if p.PatternHint != "" {
		return p.PatternHint
	}
	return "Must match " + p.Pattern
}

// BrowserPattern is a parameter's pattern (RE2, as the server checks it)
// written for an input's pattern attribute, which browsers compile as a
// JavaScript RegExp with the v flag. That flag refuses punctuation left
// unescaped in a character class ("[a-z0-9 .&-]" is a syntax error, and a
// browser then ignores the attribute without a word), so every literal
// punctuation character in a class is escaped. A pattern using RE2 syntax
// JavaScript lacks (flags, POSIX classes, \A, \z, \Q) gets no attribute
// (""): the server's check, with the template's hint, still applies.
func BrowserPattern(pattern string) string {
	for _, re2only := range []string{"(?i", "(?m", "(?s", "(?U", "(?P", "(?-", "[:", `\A`, `\z`, `\Q`, `\C`} {
		if strings.Contains(pattern, re2only) {
			return ""
		}
	}
	var b strings.Builder
	inClass, atoms := false, 0 // atoms: class members so far
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c == '\\' && i+1 < len(pattern) {
			if n := pattern[i+1]; (n == 'p' || n == 'P') && (i+2 >= len(pattern) || pattern[i+2] != '{') {
				return "" // \pL: JavaScript needs \p{L}
			}
			b.WriteString(pattern[i : i+2])
			i++
			atoms++
			continue
		}
		if !inClass {
			if c == '[' {
				inClass, atoms = true, 0
				b.WriteByte(c)
				if i+1 < len(pattern) && pattern[i+1] == '^' {
					b.WriteByte('^')
					i++
				}
				if i+1 < len(pattern) && pattern[i+1] == ']' { // "[]a]": a literal ]
					b.WriteString(`\]`)
					i++
					atoms++
				}
				continue
			}
			b.WriteByte(c)
			continue
		}
		switch {
		case c == ']':
			inClass = false
			b.WriteByte(c)
		case c == '-' && atoms > 0 && i+1 < len(pattern) && pattern[i+1] != ']':
			b.WriteByte(c) // a range: a-z
			atoms = -1     // the range's end is no start of another
		case strings.IndexByte("!#$%&()*+,-./:;<=>?@[^`{|}~", c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
			atoms++
		default:
			b.WriteByte(c)
			atoms++
		}
	}
	return b.String()
}
