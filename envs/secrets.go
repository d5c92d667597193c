package envs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
)

// Cipher encrypts secret parameter values at rest with AES-256-GCM.
type Cipher struct {
	aead cipher.AEAD
}

// NewCipher takes a 32-byte key.
func NewCipher(key []byte) (*Cipher, error) {
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
	return &Cipher{aead: aead}, nil
}

// sealVersion prefixes ciphertexts so that key rotation can tell formats apart.
const sealVersion = 1

func (c *Cipher) seal(values map[string]string, envID string) ([]byte, error) {
	if len(values) == 0 {
		return nil, nil
	}
	plain, err := json.Marshal(values)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("envs: nonce: %w", err)
	}
	out := append([]byte{sealVersion}, nonce...)
	// The environment id is bound as additional data: a ciphertext copied onto
	// another environment's row does not decrypt.
	return c.aead.Seal(out, nonce, plain, []byte(envID)), nil
}

func (c *Cipher) open(sealed []byte, envID string) (map[string]string, error) {
	if len(sealed) == 0 {
		return map[string]string{}, nil
	}
	ns := c.aead.NonceSize()
	if len(sealed) < 1+ns || sealed[0] != sealVersion {
		return nil, errors.New("envs: secrets: unknown format")
	}
	plain, err := c.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(envID))
	if err != nil {
		return nil, errors.New("envs: secrets: cannot decrypt (wrong key?)")
	}
	var values map[string]string
	if err := json.Unmarshal(plain, &values); err != nil {
		return nil, fmt.Errorf("envs: secrets: %w", err)
	}
	return values, nil
}
