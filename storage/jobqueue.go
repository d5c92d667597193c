package storage

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// JobQueue is River on the open database: riversqlite on SQLite, riverpgxv5
// on PostgreSQL. The two clients differ only in their transaction type;
// JobQueue hides that, so the orchestrator's code is the same on both.
type JobQueue struct {
	client queueClient
}

// queueClient is a River client of either transaction type.
type queueClient interface {
	insertTx(ctx context.Context, tx *Tx, args river.JobArgs, opts *river.InsertOpts) error
	insertManyTx(ctx context.Context, tx *Tx, params []river.InsertManyParams) error
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

type riverClient[TTx any] struct {
	*river.Client[TTx]
	txOf func(*Tx) TTx
}

func (c riverClient[TTx]) insertTx(ctx context.Context, tx *Tx, args river.JobArgs, opts *river.InsertOpts) error {
	_, err := c.Client.InsertTx(ctx, c.txOf(tx), args, opts)
	return err
}

func (c riverClient[TTx]) insertManyTx(ctx context.Context, tx *Tx, params []river.InsertManyParams) error {
	_, err := c.Client.InsertManyTx(ctx, c.txOf(tx), params)
	return err
}

// NewJobQueue builds the job queue on this database with River's
// configuration (workers, queues, periodic jobs).
func (db *DB) NewJobQueue(cfg *river.Config) (*JobQueue, error) {
	var client queueClient
	if db.pool != nil {
		c, err := river.NewClient(riverpgxv5.New(db.pool), cfg)
		if err != nil {
			return nil, fmt.Errorf("storage: job queue: %w", err)
		}
		client = riverClient[pgx.Tx]{Client: c, txOf: func(tx *Tx) pgx.Tx { return tx.pgxTx }}
	} else {
		c, err := river.NewClient(riversqlite.New(db.sql), cfg)
		if err != nil {
			return nil, fmt.Errorf("storage: job queue: %w", err)
		}
		client = riverClient[*sql.Tx]{Client: c, txOf: func(tx *Tx) *sql.Tx { return tx.sqlTx }}
	}
	return &JobQueue{client: client}, nil
}

// InsertTx adds a job in tx: it exists if and only if tx commits.
func (q *JobQueue) InsertTx(ctx context.Context, tx *Tx, args river.JobArgs, opts *river.InsertOpts) error {
	if err := q.client.insertTx(ctx, tx, args, opts); err != nil {
		return fmt.Errorf("storage: insert %s job: %w", args.Kind(), err)
	}
	return nil
}

// InsertManyTx adds many jobs in tx, in one statement per batch (River's
// InsertManyTx): they exist if and only if tx commits.
func (q *JobQueue) InsertManyTx(ctx context.Context, tx *Tx, params []river.InsertManyParams) error {
	if len(params) == 0 {
		return nil
	}
	if err := q.client.insertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("storage: insert %d %s jobs: %w", len(params), params[0].Args.Kind(), err)
	}
	return nil
}

// Start works jobs until Stop.
func (q *JobQueue) Start(ctx context.Context) error { return q.client.Start(ctx) }

// Stop stops fetching jobs and waits for running ones (until ctx ends).
func (q *JobQueue) Stop(ctx context.Context) error { return q.client.Stop(ctx) }

// StopAndCancel stops and cancels running jobs' contexts.
func (q *JobQueue) StopAndCancel(ctx context.Context) error { return q.client.StopAndCancel(ctx) }
