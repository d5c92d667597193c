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

// queueDriftReplace is the hook of the automatic remedy: it queues, in tx
// (the transaction that records the drift), the replace of r's drifted
// stack with a fresh stack of r's own version, reason being the drift
// found. A replace that cannot be queued (one is running already) is an
// *Error, which the drift check records on the timeline.
func (s *Service) queueDriftReplace(ctx context.Context, tx *storage.Tx, r *storage.Environment, reason string) error {
	// Read through tx: on SQLite's one connection another read would wait
	// for this transaction. The values are the ones the version accepted
	// at launch.
	row, err := tx.VersionByID(ctx, r.VersionID)
	if err != nil {
		return err
	}
	v, err := versionFromRow(row)
	if err != nil {
		return err
	}
	secrets, err := s.cipher.open(r.Secrets, r.ID)
	if err != nil {
		return err
	}
	_, err = s.queueReplace(ctx, tx, r, v, decodeMap(r.Params), secrets, System.Name, "Drift remedy: "+reason)
	return err
}
