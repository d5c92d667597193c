package envs

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
)

// Cipher encrypts secret parameter values at rest with AES-256-GCM. It
// encrypts with the current key and decrypts with it or any previous key,
// so keys can be rotated: configure the new key with the old ones as
// previous keys, run ResealSecrets, then drop the old ones.
type Cipher struct {
	aead     cipher.AEAD
	previous []cipher.AEAD
	// digestKeys are HMAC keys derived from the current key and the
	// previous ones (see launchDigest): digests of requests that must be
	// compared later without being readable.
	digestKeys [][]byte
	// linkKey signs one-click links (see links.go), derived from the
	// current key: a rotation voids the links sent before it.
	linkKey []byte
}

// deriveKey derives a key for another purpose from a secret key, so the
// encryption key itself is used for nothing else.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("mayfly " + purpose))
	return m.Sum(nil)
}

// NewCipher takes the current 32-byte key and any previous keys.
func NewCipher(key []byte, previous ...[]byte) (*Cipher, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	c := &Cipher{aead: aead, digestKeys: [][]byte{deriveKey(key, digestPurpose)}, linkKey: deriveKey(key, linkPurpose)}
	for i, k := range previous {
		a, err := newAEAD(k)
		if err != nil {
			return nil, fmt.Errorf("envs: previous key %d: %w", i+1, err)
		}
		c.previous = append(c.previous, a)
		c.digestKeys = append(c.digestKeys, deriveKey(k, digestPurpose))
	}
	return c, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("envs: secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envs: secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envs: secret key: %w", err)
	}
	return aead, nil
}

// sealVersion prefixes ciphertexts so that key rotation can tell formats apart.
const sealVersion = 1

// sealBytesVersion prefixes what Seal returns, so that a sealed byte string
// and a row's sealed parameters never open as one another, whatever their
// additional data.
const sealBytesVersion = 2

func (c *Cipher) seal(values map[string]string, envID string) ([]byte, error) {
	if len(values) == 0 {
		return nil, nil
	}
	plain, err := json.Marshal(values)
	if err != nil {
		return nil, err
	}
	// The environment id is bound as additional data: a ciphertext copied onto
	// another environment's row does not decrypt.
	return c.sealWith(sealVersion, plain, []byte(envID))
}

// sealWith encrypts plain with the current key: the version byte, a random
// nonce, then the ciphertext.
func (c *Cipher) sealWith(version byte, plain, additional []byte) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("envs: nonce: %w", err)
	}
	out := append([]byte{version}, nonce...)
	return c.aead.Seal(out, nonce, plain, additional), nil
}

func (c *Cipher) open(sealed []byte, envID string) (map[string]string, error) {
	values, _, err := c.openAny(sealed, envID)
	return values, err
}

// openAny decrypts with the current key or a previous one; current reports
// which.
func (c *Cipher) openAny(sealed []byte, envID string) (values map[string]string, current bool, err error) {
	if len(sealed) == 0 {
		return map[string]string{}, true, nil
	}
	plain, current, err := c.openWith(sealVersion, sealed, []byte(envID))
	if err != nil {
		return nil, false, err
	}
	if err := json.Unmarshal(plain, &values); err != nil {
		return nil, false, fmt.Errorf("envs: secrets: %w", err)
	}
	return values, current, nil
}

// openWith decrypts what sealWith made with the given version byte, trying
// the current key and then each previous one.
func (c *Cipher) openWith(version byte, sealed, additional []byte) (plain []byte, current bool, err error) {
	ns := c.aead.NonceSize()
	if len(sealed) < 1+ns || sealed[0] != version {
		return nil, false, errors.New("envs: secrets: unknown format")
	}
	for i, a := range append([]cipher.AEAD{c.aead}, c.previous...) {
		if plain, err = a.Open(nil, sealed[1:1+ns], sealed[1+ns:], additional); err == nil {
			return plain, i == 0, nil
		}
	}
	return nil, false, errors.New("envs: secrets: cannot decrypt with the current or any previous key")
}

// Seal encrypts plain with the current key, binding additional (which Open
// must be given again): for providers that keep secrets in files, such as
// the local provider's stack.json.
func (c *Cipher) Seal(plain, additional []byte) ([]byte, error) {
	return c.sealWith(sealBytesVersion, plain, additional)
}

// Open decrypts what Seal made, with the current key or a previous one.
func (c *Cipher) Open(sealed, additional []byte) ([]byte, error) {
	plain, _, err := c.openWith(sealBytesVersion, sealed, additional)
	return plain, err
}

// ResealSecrets re-encrypts with the current key every secret still sealed
// with a previous key, and returns how many environments it changed; the
// users' sign-in grants and the notification channels' secrets are
// resealed too (see resealGrants, resealChannels). It is
// idempotent and runs at start whenever previous keys are configured.
func (s *Service) ResealSecrets(ctx context.Context) (int, error) {
	rows, err := s.store.SecretRows(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		values, current, err := s.cipher.openAny(r.Secrets, r.ID)
		if err != nil {
			return n, fmt.Errorf("envs: reseal %s: %w", r.ID, err)
		}
		if current {
			continue
		}
		sealed, err := s.cipher.seal(values, r.ID)
		if err != nil {
			return n, err
		}
		if err := s.store.SetSecrets(ctx, r.ID, sealed, s.now()); err != nil {
			return n, err
		}
		n++
	}
	if c, err := s.resealChannels(ctx); err != nil {
		return n, err
	} else if c > 0 {
		s.log.Info("re-encrypted notification channel secrets with the current key", "channels", c)
	}
	if g, err := s.resealGrants(ctx); err != nil {
		return n, err
	} else if g > 0 {
		s.log.Info("re-encrypted sign-in grants with the current key", "users", g)
	}
	return n, nil
}
