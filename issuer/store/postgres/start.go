package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/sedcc/dcc/issuer"
)

// errSchemaPending is what every operation returns while Start has not yet brought the schema to
// this build's version: the database has not answered since the process started.
var errSchemaPending = fmt.Errorf("%w: database not reached since start (migrations pending)", issuer.ErrStoreUnavailable)

// StartOptions tune Start's background connection loop. The zero value is a good default.
type StartOptions struct {
	Options
	// MinBackoff and MaxBackoff bound the pause between attempts (defaults 100ms and 5s); the
	// pause doubles after each failure, with jitter, up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Log receives one line when the database is first unreachable, one every minute while it
	// stays so, and one when the schema is ready. Nil discards.
	Log *slog.Logger
}

// Start returns a store at once, whether or not the database answers: a process that starts
// during a database outage serves (its readiness fails and every operation answers
// ErrStoreUnavailable) instead of exiting, and becomes ready by itself. A background loop applies
// the migrations (Migrate) with exponential backoff until they succeed or ctx ends; until then
// every operation fails with an error wrapping issuer.ErrStoreUnavailable. Only a malformed URL is
// an error here.
func Start(ctx context.Context, databaseURL string, o StartOptions) (*Store, error) {
	s, err := open(ctx, databaseURL, o.Options, true)
	if err != nil {
		return nil, err
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	go s.migrateLoop(ctx, databaseURL, o)
	return s, nil
}

// Migrated is closed once the schema is current (always closed for a store from Open).
func (s *Store) Migrated() <-chan struct{} { return s.migrated }

func (s *Store) migrateLoop(ctx context.Context, databaseURL string, o StartOptions) {
	backoff := o.MinBackoff
	var firstFailure, lastLog time.Time
	for {
		actx, cancel := context.WithTimeout(ctx, s.timeout)
		err := Migrate(actx, databaseURL)
		cancel()
		if err == nil {
			s.schemaReady.Store(true)
			close(s.migrated)
			if !firstFailure.IsZero() {
				o.Log.Info("store: database reached, schema current", "waited", time.Since(firstFailure).Round(time.Millisecond))
			}
			return
		}
		now := time.Now()
		if firstFailure.IsZero() {
			firstFailure = now
		}
		if lastLog.IsZero() || now.Sub(lastLog) >= time.Minute {
			lastLog = now
			level := slog.LevelWarn
			if !errors.Is(err, issuer.ErrStoreUnavailable) {
				// A database that answers but refuses the migration needs an operator.
				level = slog.LevelError
			}
			o.Log.Log(ctx, level, "store: database not ready, retrying", "err", err, "down_for", now.Sub(firstFailure).Round(time.Second))
		}
		// Full jitter over [backoff/2, backoff): replicas that start together do not retry in step.
		pause := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		backoff = min(2*backoff, o.MaxBackoff)
	}
}
