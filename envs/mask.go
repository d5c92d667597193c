package envs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mayflyhq/mayfly/storage"
)

// Secret parameter values reach the provider, and what the provider says
// back (events, failure reasons, outputs, logs) may quote them: a command
// line in a timeline label, a failed command's output in the reason. Every
// such text is masked where it enters Mayfly's records, or, for logs (which
// the stack writes itself), on the way out; see docs/decisions.md.

// minMaskedLength is the shortest secret value that is masked. A shorter
// one cannot be told from ordinary text: masking "abc" garbles every
// timeline line with those letters, and shows by what it hides what the
// secret is.
const minMaskedLength = 6

// masked replaces a secret value in text.
const masked = "***"

// masker replaces every secret value of one environment, and its usual
// encodings, in text. A nil masker masks nothing.
type masker struct {
	r *strings.Replacer
	// needles are the texts replaced, longest first: a log cut at any
	// point may start with the end of one (see maskTail).
	needles []string
}

// newMasker builds the masker of an environment's decrypted secrets; nil
// when none is long enough to be masked.
func newMasker(secrets map[string]string) *masker {
	var needles []string
	for _, v := range secrets {
		if len(v) < minMaskedLength {
			continue
		}
		needles = append(needles, encodings(v)...)
	}
	if len(needles) == 0 {
		return nil
	}
	// Longest first: where two start at the same place (a padded and an
	// unpadded base64), the Replacer takes the first in argument order.
	slices.SortFunc(needles, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	needles = slices.Compact(needles)
	pairs := make([]string, 0, 2*len(needles))
	for _, n := range needles {
		pairs = append(pairs, n, masked)
	}
	return &masker{r: strings.NewReplacer(pairs...), needles: needles}
}

// encodings are the forms a value commonly takes in command lines, URLs,
// configuration files and program output.
func encodings(v string) []string {
	b := []byte(v)
	out := []string{v,
		url.QueryEscape(v), url.PathEscape(v),
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
	}
	// A JSON string's content, with and without HTML escaping (<, >, & as
	// \u003c...).
	if j, err := json.Marshal(v); err == nil {
		out = append(out, string(j[1:len(j)-1]))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) == nil {
		j := bytes.TrimSpace(buf.Bytes())
		out = append(out, string(j[1:len(j)-1]))
	}
	return out
}

func (m *masker) mask(s string) string {
	if m == nil || s == "" {
		return s
	}
	return m.r.Replace(s)
}

func (m *masker) maskMap(in map[string]string) map[string]string {
	if m == nil {
		return in
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = m.mask(v)
	}
	return out
}

// longest is the length of the longest text replaced.
func (m *masker) longest() int { return len(m.needles[0]) }

// maskTail masks a log's tail: text is the last bytes of a log, earlier
// output cut off when truncated, and may then start with the end of a
// secret whose beginning was cut; such a start is masked too, when it is at
// least minMaskedLength long. Then the front is cut so that at most limit
// bytes are left (no limit when 0).
func (m *masker) maskTail(text string, truncated bool, limit int) (string, bool) {
	if m == nil {
		return text, truncated
	}
	head := ""
	if truncated {
		if n := m.secretEnd(text); n > 0 {
			head, text = masked, text[n:]
		}
	}
	out := head + m.mask(text)
	if limit > 0 && len(out) > limit {
		out, truncated = cutFront(out, len(out)-limit), true
	}
	return out, truncated
}

// secretEnd is the length of the longest end of a secret (or of one of its
// encodings), at least minMaskedLength long, that text starts with; 0 when
// there is none.
func (m *masker) secretEnd(text string) int {
	best := 0
	for _, n := range m.needles {
		for k := min(len(n)-1, len(text)); k >= max(minMaskedLength, best+1); k-- {
			if strings.HasPrefix(text, n[len(n)-k:]) {
				best = k
				break
			}
		}
	}
	return best
}

// cutFront drops at least n bytes from the front of s, at a character
// boundary.
func cutFront(s string, n int) string {
	for n < len(s) && !utf8.RuneStart(s[n]) {
		n++
	}
	return s[n:]
}

// masker returns the masker of an environment's secrets: nil when it has
// none (nothing is decrypted then). Secrets that cannot be decrypted were
// not given to the provider by this server either; that is logged, and
// nothing is masked.
func (s *Service) masker(r *storage.Environment) *masker {
	if r.SecretNames == "" || len(r.Secrets) == 0 {
		return nil
	}
	values, err := s.cipher.open(r.Secrets, r.ID)
	if err != nil {
		s.log.Error("cannot decrypt secrets to mask them", "environment", r.ID, "err", err)
		return nil
	}
	return newMasker(values)
}

// maskerOf is the masker a job carries in ctx, or else r's.
func (s *Service) maskerOf(ctx context.Context, r *storage.Environment) *masker {
	if m := maskerFrom(ctx); m != nil {
		return m
	}
	return s.masker(r)
}

type maskerKey struct{}

// withMasker carries a job's masker to the provider calls it makes, for
// what they log (a panic's value).
func withMasker(ctx context.Context, m *masker) context.Context {
	if m == nil {
		return ctx
	}
	return context.WithValue(ctx, maskerKey{}, m)
}

func maskerFrom(ctx context.Context) *masker {
	m, _ := ctx.Value(maskerKey{}).(*masker)
	return m
}
