// Package notify sends Mayfly's notices to the channels people configure:
// outgoing webhooks signed as Standard Webhooks, Slack-compatible incoming
// webhooks, and e-mail over SMTP. It knows nothing of the database: the
// envs package resolves who is told and records each attempt; a sender
// only delivers one message to one channel and says how that went.
package notify

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Message is one notice as the channels say it.
type Message struct {
	// ID identifies the message to its receiver (the webhook-id): the same
	// for every attempt of one delivery, so a receiver can drop repeats.
	ID      string
	Event   string
	Subject string
	Text    string
	At      time.Time
	// Environment is what the notice is about (nil: not about one).
	Environment *Environment
	Links       []Link
}

// Environment is the summary of an environment a message carries.
type Environment struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Owner    string `json:"owner,omitempty"`
	Team     string `json:"team,omitempty"`
	Template string `json:"template"`
	Version  string `json:"version"`
	Status   string `json:"status"`
	URL      string `json:"url,omitempty"` // its page in Mayfly
}

// Link is an action offered with a message.
type Link struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// StatusError is a receiver's answer that is not a success.
type StatusError struct {
	Code int
	Body string // the start of the answer, for the delivery log
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("answered %d", e.Code)
	}
	return fmt.Sprintf("answered %d: %s", e.Code, e.Body)
}

// SecretPrefix starts a Standard Webhooks signing secret: whsec_ and the
// key in base64.
const SecretPrefix = "whsec_"

// NewSecret returns a fresh signing secret (a 32-byte key).
func NewSecret() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// CheckSecret reports what is wrong with a signing secret ("" when
// nothing): whsec_ and base64 of 24 to 64 bytes.
func CheckSecret(secret string) string {
	if !strings.HasPrefix(secret, SecretPrefix) {
		return "must start with " + SecretPrefix + " (a Standard Webhooks secret)"
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return "must be " + SecretPrefix + " followed by base64"
	}
	if len(key) < 24 || len(key) > 64 {
		return fmt.Sprintf("has a %d-byte key; use 24 to 64 bytes", len(key))
	}
	return ""
}

// errEmpty is a message with nothing to say.
var errEmpty = errors.New("notify: message has neither subject nor text")

func (m Message) check() error {
	if m.Subject == "" && m.Text == "" {
		return errEmpty
	}
	return nil
}

// deadline bounds a send without one of its own.
func deadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
