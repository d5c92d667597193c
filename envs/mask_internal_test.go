package envs

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
)

func TestMasker(t *testing.T) {
	const secret = `p@ss w/rd+"<x>"é`
	m := newMasker(map[string]string{"token": secret, "pin": "12345", "other": "hunter22"})
	b := []byte(secret)
	tests := []struct{ name, in, want string }{
		{"plain", "login as admin:" + secret + " failed", "login as admin:*** failed"},
		{"query escaped", "GET /?t=" + url.QueryEscape(secret) + "&x=1", "GET /?t=***&x=1"},
		{"path escaped", "GET /u/" + url.PathEscape(secret) + "/x", "GET /u/***/x"},
		{"base64", "Authorization: Basic " + base64.StdEncoding.EncodeToString(b), "Authorization: Basic ***"},
		{"base64 unpadded", "t=" + base64.RawStdEncoding.EncodeToString(b) + ";", "t=***;"},
		{"base64url", base64.URLEncoding.EncodeToString(b), "***"},
		{"base64url unpadded", base64.RawURLEncoding.EncodeToString(b) + "!", "***!"},
		{"hex", "0x" + hex.EncodeToString(b), "0x***"},
		{"upper hex", strings.ToUpper(hex.EncodeToString(b)), "***"},
		{"JSON", `{"password":"p@ss w/rd+\"\u003cx\u003e\"é"}`, `{"password":"***"}`},
		{"JSON without HTML escapes", `{"password":"p@ss w/rd+\"<x>\"é"}`, `{"password":"***"}`},
		{"two secrets", "hunter22 and " + secret, "*** and ***"},
		{"too short to tell from text", "pin 12345", "pin 12345"},
		{"nothing secret", "all good", "all good"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.mask(tt.in); got != tt.want {
				t.Errorf("mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if newMasker(map[string]string{"pin": "12345"}) != nil || newMasker(nil) != nil {
		t.Error("a masker for nothing long enough to mask")
	}
	var none *masker
	if got := none.mask(secret); got != secret {
		t.Errorf("a nil masker changed %q to %q", secret, got)
	}
	if got := m.maskMap(map[string]string{"url": "http://x/?t=" + url.QueryEscape(secret)}); got["url"] != "http://x/?t=***" {
		t.Errorf("maskMap: %v", got)
	}
}

// A log's tail may start inside a secret whose beginning was cut: that
// start is masked too, wherever the cut.
func TestMaskTail(t *testing.T) {
	const secret = "correct-horse-battery"
	m := newMasker(map[string]string{"p": secret})
	log := "first line\nthe secret is " + secret + "\nlast line " + secret + "\n"
	// Up to where what is left of the secret is too short to tell.
	for cut := range len(log) - minMaskedLength {
		got, truncated := m.maskTail(log[cut:], cut > 0, 0)
		for i := minMaskedLength; i <= len(secret); i++ {
			if strings.Contains(got, secret[len(secret)-i:]) {
				t.Fatalf("cut at %d: %q shows the secret's last %d bytes", cut, got, i)
			}
		}
		if !strings.HasSuffix(got, "***\n") || truncated != (cut > 0) {
			t.Fatalf("cut at %d: %q (truncated %v), want the tail masked", cut, got, truncated)
		}
	}
	if got, truncated := m.maskTail(log, false, 12); got != "st line ***\n" || !truncated {
		t.Errorf("limit 12: %q (truncated %v), want the last 12 bytes of the masked log", got, truncated)
	}
}
