package envs

import (
	"bytes"
	"context"
	"testing"
)

// TestSignInGrantIsSealedAndResealed: the refresh token of a sign-in is
// stored sealed (never in clear), bound to its user, and re-encrypted with
// the new key on key rotation like secret parameters.
func TestSignInGrantIsSealedAndResealed(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	keyA, keyB := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	service := func(key []byte, previous ...[]byte) *Service {
		t.Helper()
		c, err := NewCipher(key, previous...)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(Config{Store: db, Cipher: c})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := service(keyA)
	sess, err := a.SignIn(ctx, Claims{Issuer: "https://idp.example", Subject: "sub-1", Email: "a@example.com",
		Grant: Grant{RefreshToken: "refresh-secret-1", AccessToken: "access-secret-1"}}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	row, err := db.User(ctx, sess.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(row.IdpGrant) == 0 || bytes.Contains(row.IdpGrant, []byte("refresh-secret-1")) || bytes.Contains(row.IdpGrant, []byte("access-secret-1")) {
		t.Fatalf("stored grant %q: want it sealed", row.IdpGrant)
	}
	// Copied onto another user's row, it does not open.
	other := *row
	other.Subject = "sub-2"
	if _, err := a.openGrant(&other); err == nil {
		t.Error("a grant opened for another subject")
	}

	if _, err := service(keyB, keyA).ResealSecrets(ctx); err != nil {
		t.Fatal(err)
	}
	row, err = db.User(ctx, sess.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	g, err := service(keyB).openGrant(row)
	if err != nil || g.RefreshToken != "refresh-secret-1" || g.AccessToken != "access-secret-1" {
		t.Errorf("grant after rotation, with the new key alone: %+v, %v", g, err)
	}
}
