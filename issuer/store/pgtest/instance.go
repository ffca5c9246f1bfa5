package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// instance is a private PostgreSQL server in a temporary directory.
type instance struct {
	dir  string // holds data/, sock/ and postgres.log
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process has exited
	err  error         // the server's exit status, set before done is closed
}

func startInstance(ctx context.Context, binDir string) (*instance, error) {
	for _, bin := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(binDir, bin)); err != nil {
			return nil, fmt.Errorf("PostgreSQL 15 not found (%s missing): run `make deps`, which installs "+
				"Debian's postgresql-15, or set DATABASE_URL to a server tests may create databases on", filepath.Join(binDir, bin))
		}
	}
	cred, err := unprivilegedUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dcc-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	inst := &instance{dir: dir}
	fail := func(err error) (*instance, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Mkdir(inst.sockDir(), 0o700); err != nil {
		return fail(fmt.Errorf("socket directory: %w", err))
	}
	if cred != nil {
		for _, p := range []string{dir, inst.sockDir()} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return fail(fmt.Errorf("hand %s to uid %d: %w", p, cred.Uid, err))
			}
		}
	}

	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), "-D", inst.dataDir(),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.Env = childEnv()
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}

	// The port is found free and then bound by postgres: another process may take it in between,
	// so a bind failure is retried with a new port.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		lastErr = inst.start(ctx, binDir, port, cred)
		if lastErr == nil {
			return inst, nil
		}
		if !strings.Contains(lastErr.Error(), "could not bind") && !strings.Contains(lastErr.Error(), "already in use") {
			break
		}
	}
	return fail(lastErr)
}

func (inst *instance) dataDir() string { return filepath.Join(inst.dir, "data") }
func (inst *instance) sockDir() string { return filepath.Join(inst.dir, "sock") }
func (inst *instance) logPath() string { return filepath.Join(inst.dir, "postgres.log") }

func (inst *instance) url(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", inst.port, database)
}

// start runs postgres on port and waits until it accepts connections.
func (inst *instance) start(ctx context.Context, binDir string, port int, cred *syscall.Credential) error {
	logFile, err := os.OpenFile(inst.logPath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(filepath.Join(binDir, "postgres"), "-D", inst.dataDir(),
		"-p", strconv.Itoa(port), "-k", inst.sockDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "max_connections=300",
	)
	cmd.Dir = inst.dir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group, so a terminal's Ctrl-C does not reach it before Stop does; SIGQUIT
	// (immediate shutdown) if the test binary dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	inst.port, inst.cmd, inst.done = port, cmd, make(chan struct{})
	go func() {
		inst.err = cmd.Wait()
		close(inst.done)
	}()

	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-inst.done:
			return fmt.Errorf("postgres exited during start-up (%v):\n%s", inst.err, inst.logTail())
		case <-ctx.Done():
			inst.kill()
			return fmt.Errorf("postgres start-up: %w\n%s", ctx.Err(), inst.logTail())
		case <-deadline.C:
			inst.kill()
			return fmt.Errorf("postgres did not accept connections within 30s:\n%s", inst.logTail())
		case <-tick.C:
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := ping(pctx, inst.url("postgres"))
			cancel()
			if err == nil {
				return nil
			}
		}
	}
}

// stop shuts the server down (fast shutdown, then kill) and removes its directory.
func (inst *instance) stop() error {
	var errs []error
	if inst.cmd != nil {
		if err := inst.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("signal postgres: %w", err))
		}
		select {
		case <-inst.done:
		case <-time.After(15 * time.Second):
			errs = append(errs, errors.New("postgres did not stop within 15s; killed"))
			inst.kill()
		}
	}
	if err := os.RemoveAll(inst.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", inst.dir, err))
	}
	return errors.Join(errs...)
}

func (inst *instance) kill() {
	_ = inst.cmd.Process.Kill()
	<-inst.done
}

func (inst *instance) logTail() string {
	b, err := os.ReadFile(inst.logPath())
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// unprivilegedUser returns the credentials to run PostgreSQL with when this process is root
// (which PostgreSQL refuses): the "postgres" user if it exists, else "nobody". Otherwise nil.
func unprivilegedUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("user %s: %w", name, err))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, fmt.Errorf("running as root and no unprivileged user to run PostgreSQL as: %w", errors.Join(errs...))
}

// childEnv is the environment for initdb and postgres: this one without libpq variables that
// could point them elsewhere, in the C locale.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C")
}
