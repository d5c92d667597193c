package envs

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mayflyhq/mayfly/storage"
)

// LaunchKeyTTL is how long an idempotency key answers with the launch it
// made; after it the key is free again (and swept).
const LaunchKeyTTL = 24 * time.Hour

// MaxLaunchKey bounds an idempotency key's length, in bytes.
const MaxLaunchKey = 255

// LaunchKeyField names the idempotency key in errors: it comes in a header.
const LaunchKeyField = "Idempotency-Key"

// digestPurpose derives the key of launch request digests (see deriveKey).
const digestPurpose = "launch request digest v1"

// errKeyTaken: a concurrent launch with the same key committed first.
var errKeyTaken = errors.New("envs: idempotency key taken")

// LaunchOnce is Launch with an idempotency key: the first launch with a
// key (per owner) records it in its transaction; a launch with the same key
// and the same request within LaunchKeyTTL launches nothing and answers
// with that environment, whatever its state now (replayed is true); the
// same key with a different request is refused. key "" is Launch.
func (s *Service) LaunchOnce(ctx context.Context, actor Actor, req LaunchRequest, key string) (env *Environment, replayed bool, err error) {
	if key == "" {
		env, err = s.Launch(ctx, actor, req)
		return env, false, err
	}
	defer func() {
		switch {
		case replayed:
			s.audit(ctx, actor, "environment.launch_replayed", env.ID, nil)
		case env == nil:
			s.audit(ctx, actor, "environment.launch", req.Template, err)
		}
	}()
	if err := Authorize(actor, PermLaunch); err != nil {
		return nil, false, err
	}
	if msg := launchKeyProblem(key); msg != "" {
		return nil, false, Invalid("launch request is not valid", FieldError{Field: LaunchKeyField, Message: msg})
	}
	owner := launchKeyOwner(actor)
	digests, err := s.launchDigests(req)
	if err != nil {
		return nil, false, err
	}
	digest := digests[0]
	if env, err := s.replayLaunch(ctx, owner, key, digests); env != nil || err != nil {
		return env, env != nil, err
	}
	env, err = s.launch(ctx, actor, req, func(tx *storage.Tx, envID string) error {
		err := tx.ClaimLaunchKey(ctx, &storage.LaunchKey{OwnerID: owner, Key: key, Digest: digest, EnvironmentID: envID, CreatedAt: s.now()},
			s.now().Add(-LaunchKeyTTL))
		if errors.Is(err, storage.ErrConflict) {
			return errKeyTaken
		}
		return err
	})
	if !errors.Is(err, errKeyTaken) {
		return env, false, err
	}
	// Another launch with this key committed while this one was checked.
	if env, err = s.replayLaunch(ctx, owner, key, digests); env != nil || err != nil {
		return env, env != nil, err
	}
	return nil, false, Errorf(EConflict, "another launch with this %s was under way; try again", LaunchKeyField)
}

// replayLaunch answers with the environment a live key made, nil if the
// key is free, or an error naming the header when the request differs.
func (s *Service) replayLaunch(ctx context.Context, owner, key string, digests []string) (*Environment, error) {
	k, err := s.store.LaunchKey(ctx, owner, key, s.now().Add(-LaunchKeyTTL))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !sameDigest(k.Digest, digests) {
		return nil, Invalid("launch request is not valid", FieldError{Field: LaunchKeyField,
			Message: fmt.Sprintf("was used for a different launch request (%s) in the last %s; use another key for another request", k.EnvironmentID, FormatDuration(LaunchKeyTTL))})
	}
	env, err := s.Environment(ctx, k.EnvironmentID)
	if ErrorCode(err) == ENotFound {
		return nil, nil // its environment is gone: the key is free (replaced in the claim)
	}
	return env, err
}

// launchKeyOwner scopes keys: the user, or the name of an actor without
// one.
func launchKeyOwner(a Actor) string {
	if a.UserID != "" {
		return a.UserID
	}
	return "name:" + a.Name
}

// launchKeyProblem says what is wrong with a key, "" when nothing.
func launchKeyProblem(key string) string {
	switch {
	case len(key) > MaxLaunchKey:
		return fmt.Sprintf("must be at most %d characters, got %d", MaxLaunchKey, len(key))
	case !utf8.ValidString(key):
		return "is not valid UTF-8"
	}
	for i, r := range key {
		if unicode.IsControl(r) {
			return fmt.Sprintf("must not contain control characters (%U at byte %d)", r, i)
		}
	}
	return ""
}

// launchDigests are HMACs of the request, keyed from the secret key (the
// current one first, then the previous ones): they tell requests apart
// without storing their values (secrets among them) in a form anyone could
// check a guess against.
func (s *Service) launchDigests(req LaunchRequest) ([]string, error) {
	b, err := launchCanonical(req)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(s.cipher.digestKeys))
	for i, k := range s.cipher.digestKeys {
		m := hmac.New(sha256.New, k)
		m.Write(b)
		out[i] = hex.EncodeToString(m.Sum(nil))
	}
	return out, nil
}

// sameDigest compares a stored digest with the request's, accepting one
// made with a previous secret key during a rotation.
func sameDigest(stored string, digests []string) bool {
	for _, d := range digests {
		if hmac.Equal([]byte(stored), []byte(d)) {
			return true
		}
	}
	return false
}

// launchCanonical is the request as the digest sees it: JSON, object keys
// sorted (encoding/json sorts map keys).
func launchCanonical(req LaunchRequest) ([]byte, error) {
	b, err := json.Marshal(struct {
		Template string            `json:"template"`
		Version  string            `json:"version"`
		Name     string            `json:"name"`
		Params   map[string]any    `json:"params"`
		TTL      string            `json:"ttl"`
		Labels   map[string]string `json:"labels"`
	}{req.Template, req.Version, req.Name, req.Params, req.TTL, req.Labels})
	if err != nil {
		return nil, Invalid("launch request is not valid", FieldError{Field: "params", Message: err.Error()})
	}
	return b, nil
}

// sweepLaunchKeys drops the keys past LaunchKeyTTL.
func (s *Service) sweepLaunchKeys(ctx context.Context) error {
	n, err := s.store.DeleteLaunchKeysBefore(ctx, s.now().Add(-LaunchKeyTTL))
	if n > 0 {
		s.log.Debug("launch keys swept", "count", n)
	}
	return err
}
