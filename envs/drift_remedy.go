package envs

import (
	"context"

	"github.com/mayflyhq/mayfly/storage"
)

// The remedy of drift is a replace with the same version: a fresh stack
// built from what the version declares, swapped in once healthy, the
// drifted one destroyed (issue 12, item 1). A template chooses it with
// `drift: {remedy: replace}` (automatic) or leaves it to people (manual,
// the default), whom the environment page tells how to fix it.

// ErrReplaceUnavailable is what queueDriftReplace says until replacing a
// stack is built.
var ErrReplaceUnavailable = Errorf(EUnavailable, "replacing a stack with a fresh one of the same version is not available yet")

// queueDriftReplace is the hook of the automatic remedy: it queues, in tx
// (the transaction that records the drift), the replace of r's drifted
// stack with a fresh stack of r's own version, reason being the drift
// found. The replace work plugs in here; until then it returns
// ErrReplaceUnavailable, which the drift check records on the timeline.
func (s *Service) queueDriftReplace(ctx context.Context, tx *storage.Tx, r *storage.Environment, reason string) error {
	return ErrReplaceUnavailable
}
