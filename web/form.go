package web

import (
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Launch form helpers. A field is known by its key, the same as its input's
// name and its key in LaunchForm.Errors: "name", "ttl", "version",
// "params.<name>".

func paramKey(p ParamView) string { return "params." + p.Name }

// inputID is the id of a field's input: "launch-name", "launch-params-customer".
func inputID(key string) string {
	return "launch-" + strings.NewReplacer(".", "-", " ", "-").Replace(key)
}

func helpID(key string) string  { return inputID(key) + "-help" }
func errorID(key string) string { return inputID(key) + "-error" }

func hasError(errs map[string]string, key string) bool {
	_, ok := fieldError(errs, key)
	return ok
}

// ariaDescribedBy links an input to its help text and its error.
func ariaDescribedBy(errs map[string]string, key string, hasHelp bool) string {
	var help, err string
	if hasHelp {
		help = helpID(key)
	}
	if hasError(errs, key) {
		err = errorID(key)
	}
	return describedBy(help, err)
}

// fieldKeys are the keys of the form's fields, in page order.
func fieldKeys(f LaunchForm) []string {
	keys := []string{"name", "version", "ttl"}
	if f.Relaunch == nil {
		keys = append(keys, "labels")
	}
	for _, p := range f.Version.Params {
		keys = append(keys, paramKey(p))
	}
	if offersSameSnapshot(f) {
		keys = append(keys, "same_snapshot")
	}
	return keys
}

// offersSameSnapshot reports whether a relaunch form offers to restore the
// snapshot its source restored.
func offersSameSnapshot(f LaunchForm) bool { return f.Relaunch != nil && f.Relaunch.Snapshot != "" }

// reusedSecret reports whether a relaunch re-uses a secret left empty.
func reusedSecret(f LaunchForm, p ParamView) bool {
	return f.Relaunch != nil && p.Secret && slices.Contains(f.Relaunch.ReusedSecrets, p.Name)
}

// paramRequired is whether a parameter's input must be filled in: a
// relaunch's secret that is re-used need not be, one its source had that
// the viewer must type again must be.
func paramRequired(f LaunchForm, p ParamView) bool {
	switch {
	case reusedSecret(f, p):
		return false
	case f.Relaunch != nil && p.Secret && slices.Contains(f.Relaunch.RetypeSecrets, p.Name):
		return true
	}
	return p.Required
}

// firstError is the key of the first field, in page order, with an error: it
// gets the focus.
func firstError(f LaunchForm) string {
	for _, k := range fieldKeys(f) {
		if hasError(f.Errors, k) {
			return k
		}
	}
	return ""
}

// keyedError is an error whose key names no field of the form.
type keyedError struct {
	Key, Message string
}

// otherErrors are the errors of keys that match no field, so that none is
// silently dropped.
func otherErrors(f LaunchForm) []keyedError {
	known := map[string]bool{}
	for _, k := range fieldKeys(f) {
		known[k] = true
	}
	var out []keyedError
	for k, msg := range f.Errors {
		if !known[k] && msg != "" {
			out = append(out, keyedError{k, msg})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func namePlaceholder(f LaunchForm) string {
	switch f.Template.Kind {
	case "demo":
		return "e.g. acme-demo"
	case "dr":
		return "e.g. dr-drill-q3"
	default:
		return "e.g. " + valueOr(f.Template.Name, "my") + "-test"
	}
}

func versionOption(f LaunchForm, v VersionView) string {
	s := v.Version
	if v.Version == f.Template.Latest.Version {
		s += " (latest)"
	}
	if v.Deprecated {
		s += " (deprecated)"
	}
	return s
}

func ttlHelp(v VersionView) string {
	var parts []string
	if v.DefaultTTL != "" {
		parts = append(parts, "Default "+v.DefaultTTL)
	}
	if v.MaxTTL != "" {
		parts = append(parts, "max "+v.MaxTTL)
	}
	s := strings.Join(parts, ", ")
	if s != "" {
		s += ". "
	}
	return s + "A duration such as 90m or 2h."
}

func paramTypeLabel(p ParamView) string {
	if p.Secret {
		return "secret"
	}
	return valueOr(p.Type, "string")
}

// paramHelpText is a parameter's description, plus its constraints.
func paramHelpText(f LaunchForm, p ParamView) string {
	var parts []string
	if p.Description != "" {
		parts = append(parts, strings.TrimSpace(p.Description))
	}
	if p.Type == "int" && !p.Secret {
		switch {
		case p.Min != nil && p.Max != nil:
			parts = append(parts, "Between "+strconv.FormatInt(*p.Min, 10)+" and "+strconv.FormatInt(*p.Max, 10)+".")
		case p.Min != nil:
			parts = append(parts, "At least "+strconv.FormatInt(*p.Min, 10)+".")
		case p.Max != nil:
			parts = append(parts, "At most "+strconv.FormatInt(*p.Max, 10)+".")
		}
	}
	switch {
	case reusedSecret(f, p):
		parts = append(parts, "Leave it empty to re-use the value of "+f.Relaunch.SourceName+".")
	case p.Secret && f.Relaunch != nil && slices.Contains(f.Relaunch.RetypeSecrets, p.Name):
		parts = append(parts, "Secrets are re-used only for the environment's owner: type it again.")
	case p.Secret && (len(f.Errors) > 0 || f.General != ""):
		// The form came back refused: what was typed in is gone.
		parts = append(parts, "Secrets are not sent back to the browser: enter it again.")
	}
	return strings.Join(parts, " ")
}

func enumPlaceholder(p ParamView) string {
	if p.EmptyLabel != "" {
		return p.EmptyLabel
	}
	if p.Required {
		return "Choose…"
	}
	return "None"
}

// ttlInput is a version's default TTL as a form value.
func ttlInput(v VersionView) string { return valueOr(v.TTLInput, v.DefaultTTL) }
