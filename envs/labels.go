package envs

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mayflyhq/mayfly/storage"
)

// Labels are key=value pairs an environment carries from its launch
// (pr=123, commit=abc), for people and pipelines to find it by.
const (
	maxLabels          = 32
	maxLabelValueBytes = 63
	// maxLabelFilters bounds a listing's label filter (they AND).
	maxLabelFilters = 32
)

var labelKeyRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]{0,62}$`)

// ValidateLabels checks an environment's labels: at most 32, each key 1-63
// of a-z 0-9 . _ / - starting with a letter or digit, each value up to 63
// bytes of UTF-8 without NUL or control characters. Each problem names its
// label (labels.<key>).
func ValidateLabels(labels map[string]string) []FieldError {
	var fields []FieldError
	if len(labels) > maxLabels {
		return []FieldError{{Field: "labels", Message: fmt.Sprintf("%d labels; at most %d are allowed", len(labels), maxLabels)}}
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		field := "labels." + truncate(k, 63)
		if msg := labelKeyProblem(k); msg != "" {
			fields = append(fields, FieldError{Field: field, Message: msg})
			continue
		}
		if msg := labelValueProblem(labels[k]); msg != "" {
			fields = append(fields, FieldError{Field: field, Message: msg})
		}
	}
	return fields
}

func labelKeyProblem(k string) string {
	if msg := textProblem(k); msg != "" {
		return "key " + msg
	}
	if !labelKeyRe.MatchString(k) {
		return "key must be 1-63 lowercase letters, digits, dots, underscores, slashes or dashes, starting with a letter or digit"
	}
	return ""
}

func labelValueProblem(v string) string {
	if msg := textProblem(v); msg != "" {
		return "value " + msg
	}
	if len(v) > maxLabelValueBytes {
		return fmt.Sprintf("value must be at most %d bytes", maxLabelValueBytes)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return "value must not contain control characters"
		}
	}
	if !utf8.ValidString(v) {
		return "value is not valid UTF-8"
	}
	return ""
}

// ParseLabelFilter reads a label filter: each item is key=value, and an
// environment must carry all of them. Problems name the field "label".
func ParseLabelFilter(items []string) ([]storage.Label, error) {
	if len(items) > maxLabelFilters {
		return nil, Invalid("filter is not valid", FieldError{Field: "label", Message: fmt.Sprintf("%d labels; give at most %d", len(items), maxLabelFilters)})
	}
	var out []storage.Label
	for _, item := range items {
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, Invalid("filter is not valid", FieldError{Field: "label", Message: fmt.Sprintf("%q is not key=value", truncate(item, 80))})
		}
		if msg := labelKeyProblem(k); msg != "" {
			return nil, Invalid("filter is not valid", FieldError{Field: "label", Message: fmt.Sprintf("%q: %s", truncate(k, 80), msg)})
		}
		if msg := labelValueProblem(v); msg != "" {
			return nil, Invalid("filter is not valid", FieldError{Field: "label", Message: fmt.Sprintf("%s: %s", k, msg)})
		}
		l := storage.Label{Key: k, Value: v}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// FormatLabels shows labels as people type them: k=v, sorted by key.
func FormatLabels(labels map[string]string) []string {
	out := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		out = append(out, k+"="+labels[k])
	}
	return out
}
