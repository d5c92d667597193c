package envs

import (
	"bytes"
	"testing"
)

func TestCipherSealOpen(t *testing.T) {
	keyA, keyB := bytes.Repeat([]byte{0xa1}, 32), bytes.Repeat([]byte{0xb2}, 32)
	old, err := NewCipher(keyA)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := NewCipher(keyB, keyA)
	if err != nil {
		t.Fatal(err)
	}
	plain, ad := []byte(`[{"args":["check","hunter2"]}]`), []byte("env-1")
	sealed, err := old.Seal(plain, ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("the sealed bytes hold the plain text")
	}
	for _, tc := range []struct {
		name   string
		c      *Cipher
		sealed []byte
		ad     []byte
		ok     bool
	}{
		{"same key", old, sealed, ad, true},
		{"previous key after rotation", rotated, sealed, ad, true},
		{"other additional data", old, sealed, []byte("env-2"), false},
		{"unknown key", func() *Cipher { c, _ := NewCipher(keyB); return c }(), sealed, ad, false},
		{"tampered", old, append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), ad, false},
		{"empty", old, nil, ad, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.Open(tc.sealed, tc.ad)
			if tc.ok && (err != nil || !bytes.Equal(got, plain)) {
				t.Fatalf("Open = %q, %v; want %q", got, err, plain)
			}
			if !tc.ok && err == nil {
				t.Fatalf("Open = %q, want an error", got)
			}
		})
	}

	// Sealed bytes and sealed parameters never open as one another.
	params, err := old.seal(map[string]string{"password": "hunter2"}, "env-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Open(params, ad); err == nil {
		t.Error("Open opened sealed parameters")
	}
	if _, err := old.open(sealed, "env-1"); err == nil {
		t.Error("open (parameters) opened what Seal made")
	}
}
