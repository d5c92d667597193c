package envs

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParamType is the type of a template parameter.
type ParamType string

const (
	ParamString ParamType = "string"
	ParamInt    ParamType = "int"
	ParamBool   ParamType = "bool"
	ParamEnum   ParamType = "enum"
)

// maxParamLength bounds any single parameter value.
const maxParamLength = 4096

// maxPatternHint bounds a parameter's pattern_hint, a one-line message.
const maxPatternHint = 200

// Param is one typed parameter of a template version.
type Param struct {
	Name        string    `json:"name"`
	Label       string    `json:"label,omitempty"`
	Description string    `json:"description,omitempty"`
	Type        ParamType `json:"type"`
	Required    bool      `json:"required,omitempty"`
	Default     string    `json:"default,omitempty"`
	HasDefault  bool      `json:"has_default,omitempty"`
	// Pattern must match the whole value (it is anchored for you).
	Pattern string `json:"pattern,omitempty"`
	// PatternHint says in words what Pattern accepts ("2-40 letters,
	// digits or spaces"); it is the error message of a value that does
	// not match. omitempty keeps the digests of older versions.
	PatternHint string   `json:"pattern_hint,omitempty"`
	Min         *int64   `json:"min,omitempty"` // value bounds for int, length bounds for string
	Max         *int64   `json:"max,omitempty"`
	Options     []string `json:"options,omitempty"`
	Secret      bool     `json:"secret,omitempty"`
}

// DisplayLabel is the label, or the name when there is none.
func (p Param) DisplayLabel() string {
	if p.Label != "" {
		return p.Label
	}
	return p.Name
}

// normalize checks one value against the parameter and returns it in
// canonical form ("42", "true"), or a message saying what is wrong.
func (p Param) normalize(s string) (string, string) {
	if len(s) > maxParamLength {
		return "", fmt.Sprintf("must be at most %d bytes", maxParamLength)
	}
	switch p.Type {
	case ParamInt:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return "", fmt.Sprintf("%q is not a whole number", s)
		}
		if p.Min != nil && n < *p.Min {
			return "", fmt.Sprintf("must be at least %d", *p.Min)
		}
		if p.Max != nil && n > *p.Max {
			return "", fmt.Sprintf("must be at most %d", *p.Max)
		}
		return strconv.FormatInt(n, 10), ""
	case ParamBool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return "", fmt.Sprintf("%q is not true or false", s)
		}
		return strconv.FormatBool(b), ""
	case ParamEnum:
		for _, o := range p.Options {
			if s == o {
				return s, ""
			}
		}
		return "", fmt.Sprintf("%q is not one of %s", s, strings.Join(p.Options, ", "))
	default:
		if !utf8.ValidString(s) {
			return "", "is not valid UTF-8"
		}
		n := int64(utf8.RuneCountInString(s))
		if p.Min != nil && n < *p.Min {
			return "", fmt.Sprintf("must be at least %d characters", *p.Min)
		}
		if p.Max != nil && n > *p.Max {
			return "", fmt.Sprintf("must be at most %d characters", *p.Max)
		}
		if p.Pattern != "" {
			re, err := regexp.Compile(`^(?:` + p.Pattern + `)$`)
			if err != nil || !re.MatchString(s) {
				if p.PatternHint != "" {
					return "", p.PatternHint
				}
				return "", fmt.Sprintf("does not match the pattern %s", p.Pattern)
			}
		}
		return s, ""
	}
}

// ValidateParams checks values (as decoded from JSON or a form) against the
// parameter schema, fills in defaults and returns every value as a string.
// All problems are returned together, one FieldError per parameter, named
// "params.<name>".
func ValidateParams(schema []Param, values map[string]any) (map[string]string, []FieldError) {
	out := make(map[string]string, len(schema))
	var errs []FieldError
	known := make(map[string]bool, len(schema))
	for _, p := range schema {
		known[p.Name] = true
		field := "params." + p.Name
		raw, present := values[p.Name]
		s, err := paramString(raw)
		if err == "" {
			err = textProblem(s)
		}
		if err != "" {
			errs = append(errs, FieldError{Field: field, Message: err})
			continue
		}
		if !present || raw == nil || (s == "" && p.Type != ParamString) || (s == "" && p.Required) {
			switch {
			case p.HasDefault:
				s = p.Default
			case p.Required:
				errs = append(errs, FieldError{Field: field, Message: "is required"})
				continue
			case p.Type == ParamBool:
				s = "false"
			default:
				if present && s == "" {
					out[p.Name] = ""
				}
				continue
			}
		}
		v, msg := p.normalize(s)
		if msg != "" {
			errs = append(errs, FieldError{Field: field, Message: msg})
			continue
		}
		out[p.Name] = v
	}
	var unknown []string
	for name := range values {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		errs = append(errs, FieldError{Field: "params." + name, Message: "is not a parameter of this template"})
	}
	return out, errs
}

// paramString turns a decoded JSON or form value into the string form
// validation works on.
func paramString(v any) (string, string) {
	switch x := v.(type) {
	case nil:
		return "", ""
	case string:
		return x, ""
	case bool:
		return strconv.FormatBool(x), ""
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10), ""
		}
		return strconv.FormatFloat(x, 'f', -1, 64), ""
	case int:
		return strconv.Itoa(x), ""
	case int64:
		return strconv.FormatInt(x, 10), ""
	default:
		return "", "must be a string, number or boolean"
	}
}

// textProblem says what in s a process cannot be given, "" when nothing:
// a NUL byte ends a string for exec (arguments, environment) and for
// PostgreSQL, so a value with one would be accepted and then fail; bytes
// that are not UTF-8 cannot be stored as text either.
func textProblem(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Sprintf("must not contain a NUL byte (\\0, at byte %d): a command line or environment variable cannot carry one", i)
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	return ""
}

// truncate shortens s to at most n bytes (on a rune boundary) for an error
// message, marking the cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
