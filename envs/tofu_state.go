package envs

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// The state of tofu stacks lives in Mayfly's database, served to
// OpenTofu/Terraform through its http backend (handlers/tofu_state.go):
// one state per stack, sealed with the secret key, so that every replica
// can plan, apply and destroy any stack and no state file is ever left on
// a disk. Each stack has its own credential (an HMAC of its id under a key
// derived from the secret key), which the tofu provider hands to the runs
// of that stack and to nothing else: it opens that one state only.

// tofuCredentialPurpose separates the stack credentials from the other
// HMACs made with the digest keys.
const tofuCredentialPurpose = "tofu state credential\x00"

// TofuCredential is the password of a stack's state (current key).
func (c *Cipher) TofuCredential(stack string) string {
	return tofuCredential(c.digestKeys[0], stack)
}

func tofuCredential(key []byte, stack string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tofuCredentialPurpose + stack))
	return hex.EncodeToString(m.Sum(nil))
}

// tofuCredentialOK checks a stack's password against the current key and
// the previous ones (a run started before a key rotation still finishes).
func (c *Cipher) tofuCredentialOK(stack, password string) bool {
	ok := false
	for _, k := range c.digestKeys {
		if hmac.Equal([]byte(tofuCredential(k, stack)), []byte(password)) {
			ok = true
		}
	}
	return ok
}

func tofuStateAD(stack string) []byte { return []byte("tofu state " + stack) }
func tofuRunAD(stack string) []byte   { return []byte("tofu run " + stack) }

// TofuClient is who calls the state backend: the stack, and the user name
// and password of its Basic authentication.
type TofuClient struct {
	Stack    string
	Username string
	Password string
	Address  string
}

// TofuLockedError says a state is locked by another lock; Info is that
// lock's info as its holder sent it (OpenTofu shows it back).
type TofuLockedError struct {
	Info []byte
}

func (e *TofuLockedError) Error() string { return "the state is locked by another run" }

// tofuStacks bound stack ids in URLs: what Mayfly makes them of.
func validTofuStack(stack string) bool {
	if stack == "" || len(stack) > 128 {
		return false
	}
	for _, r := range stack {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// tofuAuth refuses a client without its stack's credential (audited: a
// wrong password is someone trying).
func (s *Service) tofuAuth(ctx context.Context, c TofuClient) error {
	if !validTofuStack(c.Stack) || !s.cipher.tofuCredentialOK(c.Stack, c.Password) {
		err := Errorf(EUnauthorized, "wrong credential for the state of stack %q", c.Stack)
		s.audit(ctx, c.actor(), "tofu.state.refused", c.Stack, err)
		return err
	}
	return nil
}

func (c TofuClient) actor() Actor {
	name := strings.TrimSpace(c.Username)
	if name == "" {
		name = "tofu"
	}
	return Actor{Name: oneLine(name), Address: c.Address, Via: "tofu-state"}
}

// TofuStateGet returns a stack's state, nil when it has none.
func (s *Service) TofuStateGet(ctx context.Context, c TofuClient) ([]byte, error) {
	if err := s.tofuAuth(ctx, c); err != nil {
		return nil, err
	}
	row, err := s.store.TofuState(ctx, c.Stack)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && len(row.State) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.cipher.Open(row.State, tofuStateAD(c.Stack))
}

// TofuStatePut stores a stack's state; while the state is locked, only
// from the lock's holder (lockID).
func (s *Service) TofuStatePut(ctx context.Context, c TofuClient, lockID string, state []byte) error {
	if err := s.tofuAuth(ctx, c); err != nil {
		return err
	}
	if !json.Valid(state) {
		return Invalid("the state is not JSON", FieldError{Field: "body", Message: "must be a state document (JSON)"})
	}
	sealed, err := s.cipher.Seal(state, tofuStateAD(c.Stack))
	if err != nil {
		return err
	}
	err = s.store.PutTofuState(ctx, c.Stack, sealed, lockID, s.now())
	if errors.Is(err, storage.ErrConflict) {
		err = Errorf(EConflict, "the state of stack %s is locked by another run", c.Stack)
	}
	s.audit(ctx, c.actor(), "tofu.state.write", c.Stack, err)
	return err
}

// TofuStateClear empties a stack's state (the backend's DELETE).
func (s *Service) TofuStateClear(ctx context.Context, c TofuClient) error {
	if err := s.tofuAuth(ctx, c); err != nil {
		return err
	}
	err := s.store.ClearTofuState(ctx, c.Stack, s.now())
	s.audit(ctx, c.actor(), "tofu.state.delete", c.Stack, err)
	return err
}

// tofuLockInfo is the part of OpenTofu's lock info Mayfly reads.
type tofuLockInfo struct {
	ID string `json:"ID"`
}

// TofuStateLock takes a stack's lock with the lock info OpenTofu sends;
// a lock held by another fails with a *TofuLockedError.
func (s *Service) TofuStateLock(ctx context.Context, c TofuClient, info []byte) error {
	if err := s.tofuAuth(ctx, c); err != nil {
		return err
	}
	var li tofuLockInfo
	if err := json.Unmarshal(info, &li); err != nil || li.ID == "" {
		return Invalid("the lock info is not valid", FieldError{Field: "body", Message: `must be a lock info document with an "ID"`})
	}
	held, err := s.store.LockTofuState(ctx, c.Stack, li.ID, string(info), c.actor().Name, s.now())
	if errors.Is(err, storage.ErrConflict) {
		err = &TofuLockedError{Info: []byte(held.LockInfo)}
	}
	s.audit(ctx, c.actor(), "tofu.state.lock", c.Stack, auditable(err))
	return err
}

// TofuStateUnlock releases a stack's lock (the lock info names it by its
// ID, also for `force-unlock`); a lock held by another fails with a
// *TofuLockedError.
func (s *Service) TofuStateUnlock(ctx context.Context, c TofuClient, info []byte) error {
	if err := s.tofuAuth(ctx, c); err != nil {
		return err
	}
	var li tofuLockInfo
	if err := json.Unmarshal(info, &li); err != nil || li.ID == "" {
		return Invalid("the lock info is not valid", FieldError{Field: "body", Message: `must be a lock info document with an "ID"`})
	}
	held, err := s.store.UnlockTofuState(ctx, c.Stack, li.ID)
	if errors.Is(err, storage.ErrConflict) {
		err = &TofuLockedError{Info: []byte(held.LockInfo)}
	}
	s.audit(ctx, c.actor(), "tofu.state.unlock", c.Stack, auditable(err))
	return err
}

// auditable turns a lock conflict into a domain error for the audit log.
func auditable(err error) error {
	var locked *TofuLockedError
	if errors.As(err, &locked) {
		return Errorf(EConflict, "locked by another run")
	}
	return err
}

// TofuStates is what the tofu provider keeps in Mayfly's database besides
// the state its runs read and write through the backend: what a later
// run of a stack needs (its configuration and parameter values, secrets
// included, sealed), the stacks that have a state, and their locks. It
// is the provider's narrow view of the database (providers never touch it
// themselves).
type TofuStates struct{ s *Service }

// TofuStates returns the service's TofuStates.
func (s *Service) TofuStates() TofuStates { return TofuStates{s} }

// TofuStack is one stack with a state row.
type TofuStack struct {
	Stack     string
	CreatedAt time.Time
	Lock      TofuLock
}

// TofuLock is a stack's lock; ID is empty when it is not locked.
type TofuLock struct {
	ID     string
	Holder string // the user name that took it
	Info   string
	At     time.Time
}

// Credential is the password of a stack's state.
func (t TofuStates) Credential(stack string) string { return t.s.cipher.TofuCredential(stack) }

// SaveRun stores what later runs of a stack need.
func (t TofuStates) SaveRun(ctx context.Context, stack string, run []byte) error {
	sealed, err := t.s.cipher.Seal(run, tofuRunAD(stack))
	if err != nil {
		return err
	}
	return t.s.store.SaveTofuRun(ctx, stack, sealed, t.s.now())
}

// Run is what SaveRun stored, nil when the stack has none.
func (t TofuStates) Run(ctx context.Context, stack string) ([]byte, error) {
	row, err := t.s.store.TofuState(ctx, stack)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && len(row.Run) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return t.s.cipher.Open(row.Run, tofuRunAD(stack))
}

// State is a stack's state, nil when it has none.
func (t TofuStates) State(ctx context.Context, stack string) ([]byte, error) {
	return t.s.TofuStateGet(ctx, TofuClient{Stack: stack, Username: "mayfly", Password: t.Credential(stack)})
}

// Lock is a stack's lock (zero when it is not locked or has no row).
func (t TofuStates) Lock(ctx context.Context, stack string) (TofuLock, error) {
	row, err := t.s.store.TofuState(ctx, stack)
	if errors.Is(err, storage.ErrNotFound) {
		return TofuLock{}, nil
	}
	if err != nil {
		return TofuLock{}, err
	}
	return lockOf(row), nil
}

func lockOf(row *storage.TofuState) TofuLock {
	l := TofuLock{ID: row.LockID, Holder: row.LockHolder, Info: row.LockInfo}
	if row.LockedAt != nil {
		l.At = row.LockedAt.UTC()
	}
	return l
}

// Stacks lists the stacks that have a state row.
func (t TofuStates) Stacks(ctx context.Context) ([]TofuStack, error) {
	rows, err := t.s.store.TofuStates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TofuStack, 0, len(rows))
	for i := range rows {
		out = append(out, TofuStack{Stack: rows[i].StackID, CreatedAt: rows[i].CreatedAt.UTC(), Lock: lockOf(&rows[i])})
	}
	return out, nil
}

// Forget removes a destroyed stack's row: its state, run and lock.
func (t TofuStates) Forget(ctx context.Context, stack string) error {
	err := t.s.store.DeleteTofuState(ctx, stack)
	t.s.audit(ctx, System, "tofu.state.forget", stack, err)
	return err
}

// Now is the service's clock (lock ages).
func (t TofuStates) Now() time.Time { return t.s.now() }
