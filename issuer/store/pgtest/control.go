package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// CreateDatabase creates an empty database with a random name and returns its URL. Unlike
// NewDatabase it leaves dropping it to the caller (or to Stop, for a private server); it is for
// programs such as the fault suite that use the server outside `go test`.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name, err := s.createDatabase(ctx)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	return withDatabase(s.adminURL, name)
}

// Halt stops a private server the way an operator or a crash of the host does (fast shutdown:
// sessions are cut), keeping its data for Resume. It fails for a server from DATABASE_URL,
// which is not this program's to stop.
func (s *Server) Halt() error {
	if s.local == nil {
		return errors.New("pgtest: the server at DATABASE_URL cannot be halted")
	}
	inst := s.local
	if err := inst.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pgtest: signal postgres: %w", err)
	}
	select {
	case <-inst.done:
		return nil
	case <-time.After(15 * time.Second):
		inst.kill()
		return errors.New("pgtest: postgres did not stop within 15s; killed")
	}
}

// Resume starts a halted private server again on the same port and waits until it accepts
// connections.
func (s *Server) Resume(ctx context.Context) error {
	if s.local == nil {
		return errors.New("pgtest: the server at DATABASE_URL cannot be resumed")
	}
	inst := s.local
	select {
	case <-inst.done:
	default:
		return errors.New("pgtest: the server is running")
	}
	// A fast shutdown removes its pid file; a stale one from a kill would stop the start.
	_ = os.Remove(filepath.Join(inst.dataDir(), "postmaster.pid"))
	cred, err := unprivilegedUser()
	if err != nil {
		return err
	}
	binDir := os.Getenv("PGTEST_BINDIR")
	if binDir == "" {
		binDir = DefaultBinDir
	}
	if err := inst.start(ctx, binDir, inst.port, cred); err != nil {
		return fmt.Errorf("pgtest: resume: %w", err)
	}
	return nil
}
