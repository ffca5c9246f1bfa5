package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/issuer"
)

// instance is one dccd configuration (data directory, store, address) that is started, killed
// and restarted; the address stays the same across restarts, as behind a load balancer.
type instance struct {
	s       *suite
	name    string
	dataDir string
	dbURL   string // empty: the embedded store
	addr    string
	env     []string
	logPath string

	proc *process
}

// process is one run of dccd.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (s *suite) newInstance(name, dataDir, dbURL string, extraEnv ...string) (*instance, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := []string{
		"DCC_DATA_DIR=" + dataDir,
		"DATABASE_URL=" + dbURL,
		"DCC_LISTEN=" + addr,
		"DCC_LOG_FORMAT=json",
		"DCC_LOG_LEVEL=warn",
		"DCC_PROVIDER_RATE=0",
		"DCC_STORE_TIMEOUT=2s",
		"DCC_SHUTDOWN_TIMEOUT=10s",
		"DCC_STATUS_INTERVAL=1s",
	}
	env = append(env, extraEnv...)
	return &instance{s: s, name: name, dataDir: dataDir, dbURL: dbURL, addr: addr, env: env,
		logPath: filepath.Join(filepath.Dir(dataDir), name+".log")}, nil
}

func (in *instance) url() string { return "http://" + in.addr }

// config is the instance's store configuration, for opening its store directly.
func (in *instance) config() setup.Config {
	c := setup.Defaults()
	c.DataDir, c.DatabaseURL = in.dataDir, in.dbURL
	return c
}

// openStore opens the instance's store from this process (dccd must not be running on the
// embedded store).
func (in *instance) openStore(ctx context.Context) (issuer.Store, error) {
	return setup.OpenStore(ctx, in.config())
}

// start runs dccd and waits until /readyz answers 200; it returns the time from exec to ready.
func (in *instance) start(ctx context.Context) (time.Duration, error) {
	logf, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command(in.s.dccd)
	cmd.Env = append(childEnv(), in.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start dccd: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	in.proc = p
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(in.url() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(begin), nil
			}
		}
		select {
		case <-p.done:
			return 0, fmt.Errorf("dccd exited during start (%v); log %s:\n%s", p.err, in.logPath, tail(in.logPath))
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("dccd not ready within 30 s; log %s", in.logPath)
		}
	}
}

// kill9 kills dccd without warning and waits for it to be gone.
func (in *instance) kill9() error {
	if err := in.proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9: %w", err)
	}
	<-in.proc.done
	return nil
}

// term sends SIGTERM and waits at most limit for the exit; it returns the exit code and how
// long the shutdown took.
func (in *instance) term(limit time.Duration) (int, time.Duration, error) {
	begin := time.Now()
	if err := in.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return -1, 0, fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-in.proc.done:
	case <-time.After(limit):
		_ = in.proc.cmd.Process.Kill()
		<-in.proc.done
		return -1, time.Since(begin), fmt.Errorf("dccd did not exit within %s of SIGTERM; killed", limit)
	}
	took := time.Since(begin)
	var ee *exec.ExitError
	if errors.As(in.proc.err, &ee) {
		return ee.ExitCode(), took, nil
	}
	if in.proc.err != nil {
		return -1, took, in.proc.err
	}
	return 0, took, nil
}

// stop ends a running dccd (SIGTERM) at the end of a scenario.
func (in *instance) stop() {
	if in.proc == nil {
		return
	}
	select {
	case <-in.proc.done:
		return
	default:
	}
	if _, _, err := in.term(15 * time.Second); err != nil {
		in.s.logf("stop %s: %v", in.name, err)
	}
}

// addProvider creates a provider of test results in env (sandbox or production) with dccctl
// and returns its key and principal id.
func (in *instance) addProvider(ctx context.Context, name string, env issuer.Environment) (provider, error) {
	cmd := exec.CommandContext(ctx, in.s.dccctl, "provider", "add", "--name", name, "--env", string(env), "--kinds", "test")
	cmd.Env = append(childEnv(), in.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return provider{}, fmt.Errorf("dccctl provider add: %w\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	key := strings.TrimSpace(lines[len(lines)-1])
	if !strings.HasPrefix(key, "dcc_") {
		return provider{}, fmt.Errorf("dccctl provider add: no key in %q", out)
	}
	st, err := in.openStoreShared(ctx)
	if err != nil {
		return provider{}, err
	}
	defer st.Close()
	p, err := st.PrincipalByName(ctx, name)
	if err != nil {
		return provider{}, fmt.Errorf("provider %s: %w", name, err)
	}
	return provider{name: name, id: p.ID, key: key, env: env}, nil
}

// openStoreShared opens the store while dccd may be running: PostgreSQL always, the embedded
// store too (SQLite in WAL mode takes readers and one writer from several processes).
func (in *instance) openStoreShared(ctx context.Context) (issuer.Store, error) {
	return in.openStore(ctx)
}

// dsc is the development DSC that signs the instance's certificates of env.
func (in *instance) dsc(env issuer.Environment) string {
	return filepath.Join(setup.DevelopmentKeyDir(in.dataDir, env), "dsc.crt")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// childEnv is this process's environment without settings of dccd that the suite chooses.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DCC_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
