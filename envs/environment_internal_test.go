package envs

import (
	"encoding/json"
	"maps"
	"testing"
)

// decodeMap gives what json.Unmarshal gives, whichever way it reads.
func TestDecodeMapAgreesWithJSON(t *testing.T) {
	for _, m := range []map[string]string{
		nil,
		{"url": "https://web-1.example.invalid/"},
		{"region": "eu-west-1", "size": "small", "empty": ""},
		{"quote": `say "hi"`, "back": `C:\path`, "html": "<b>&</b>", "nl": "a\nb", "uni": "héllo ☃"},
		{"": "no name", "comma,colon:": "{}"},
	} {
		s := encodeMap(m)
		if got := decodeMap(s); !maps.Equal(got, m) && !(len(m) == 0 && len(got) == 0) {
			t.Errorf("decodeMap(%s) = %v, want %v", s, got, m)
		}
	}
}

func FuzzDecodeMap(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"b"}`, `{"a":"b","c":"d"}`, `{"a":"\"b"}`, `{"a": "b"}`, `{"a":1}`,
		`{"a":"b",}`, `{"a":"b"`, `{"a"}`, `{"a":"b""c":"d"}`, "{\"a\":\"\xff\"}", "{\"a\":\"\t\"}", `{"a":"b","a":"c"}`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := decodeFlatMap(s)
		if !ok {
			return // json.Unmarshal reads it
		}
		want := map[string]string{}
		if s != "" {
			if err := json.Unmarshal([]byte(s), &want); err != nil {
				t.Fatalf("decodeFlatMap(%q) read %v; json.Unmarshal refuses it: %v", s, m, err)
			}
		}
		if !maps.Equal(m, want) {
			t.Fatalf("decodeFlatMap(%q) = %v; json.Unmarshal gives %v", s, m, want)
		}
	})
}

func BenchmarkDecodeMap(b *testing.B) {
	s := encodeMap(map[string]string{"region": "eu-west-1", "size": "small"})
	b.Run("flat", func(b *testing.B) {
		for b.Loop() {
			decodeMap(s)
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		for b.Loop() {
			m := map[string]string{}
			_ = json.Unmarshal([]byte(s), &m)
		}
	})
}
