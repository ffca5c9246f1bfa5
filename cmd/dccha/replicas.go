package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/signing/keys"
)

// service is the application on the cluster: its database and role, the keys every replica
// shares, the provider credential of the load, and the dccd replicas.
type service struct {
	dir         string
	bin         string // directory of the built dccd, dccctl and dccload
	appPassword string
	databaseURL string // multi-host, target_session_attrs=read-write
	readURL     string // multi-host, target_session_attrs=prefer-standby
	keysDir     string // the shared data directory holding keys and the subject key
	key         string // provider API key
	replicas    []*replica
	env         []string // extra environment for every replica
}

// replica is one dccd.
type replica struct {
	name string
	addr string
	dir  string
	env  []string // when set, the whole environment instead of replicaEnv's
	proc *proc
}

func (r *replica) url() string { return "http://" + r.addr }

// createDatabase makes the application role and database on the leader, as the superuser.
func (s *service) createDatabase(ctx context.Context, c *cluster, leader member) error {
	admin := (&url.URL{Scheme: "postgres", User: url.UserPassword("postgres", c.superPassword),
		Host: fmt.Sprintf("127.0.0.1:%d", leader.Port), Path: "/postgres", RawQuery: "sslmode=disable"}).String()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to leader %s: %w", leader.Name, err)
	}
	defer conn.Close(ctx)
	// The password is random hex, so quoting it as a literal is safe.
	for _, q := range []string{
		fmt.Sprintf(`CREATE ROLE dcc LOGIN PASSWORD '%s'`, s.appPassword),
		`CREATE DATABASE dcc OWNER dcc`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(q)[1], err)
		}
	}
	// A standby has the database once it has replayed its creation; until then a connection to
	// it fails with "database does not exist", which ends pgx's walk over the hosts.
	for _, n := range c.nodes {
		u := serviceURL(&cluster{nodes: []*node{n}}, s.appPassword, "any")
		if err := waitFor(ctx, 30*time.Second, "database dcc on "+n.name, func() error {
			nc, err := pgx.Connect(ctx, u)
			if err != nil {
				return err
			}
			return nc.Close(ctx)
		}); err != nil {
			return err
		}
	}
	return nil
}

// write commits one transaction that takes a transaction id, through the read-write URL: it
// returns once a primary has it and, in strict synchronous mode, a standby too.
func (s *service) write() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.databaseURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `SELECT txid_current()`)
	return err
}

// serviceURL is the application's connection URL over every node.
func serviceURL(c *cluster, password, attrs string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("dcc", password), Host: c.hosts(), Path: "/dcc",
		RawQuery: "sslmode=disable&connect_timeout=2&target_session_attrs=" + attrs}
	return u.String()
}

// prepare migrates the schema, creates the keys every replica shares and a sandbox provider,
// all with dccctl devsetup against the cluster.
func (s *service) prepare(ctx context.Context) error {
	s.keysDir = filepath.Join(s.dir, "shared")
	key, err := s.devsetup(ctx, "DCC_DATA_DIR="+s.keysDir, "DATABASE_URL="+s.databaseURL)
	s.key = key
	return err
}

// devsetup runs dccctl devsetup with env and returns the provider key it prints last.
func (s *service) devsetup(ctx context.Context, env ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "dccctl"), "devsetup")
	cmd.Env = append(cleanEnv(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("dccctl devsetup: %w\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	key := strings.TrimSpace(lines[len(lines)-1])
	if key == "" {
		return "", errors.New("dccctl devsetup printed no key")
	}
	return key, nil
}

// startSingle starts the reference of the bench: one dccd on its embedded store, no cluster
// (the single-node setup of docs/perf.md), and returns it with its provider key.
func (s *service) startSingle(ctx context.Context) (*replica, string, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(s.dir, "single")
	key, err := s.devsetup(ctx, "DCC_DATA_DIR="+dir)
	if err != nil {
		return nil, "", err
	}
	r := &replica{name: "single", addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), dir: dir}
	r.env = append(cleanEnv(), "DCC_DATA_DIR="+dir, "DCC_LISTEN="+r.addr, "DCC_LOG_FORMAT=json", "DCC_PROVIDER_RATE=0",
		"DCC_ISSUE_PER_CREDENTIAL="+strconv.Itoa(setup.DefaultIssueConcurrency()))
	return r, key, s.startReplica(ctx, r)
}

// replicaEnv is a replica's configuration: the same database, keys and subject key for every
// replica (as distributed files), its own listen address and scratch directory.
func (s *service) replicaEnv(r *replica) []string {
	env := cleanEnv()
	for _, e := range []issuer.Environment{issuer.Production, issuer.Sandbox} {
		dir := setup.DevelopmentKeyDir(s.keysDir, e)
		prefix := "DCC_" + strings.ToUpper(string(e))
		env = append(env, prefix+"_KEY_FILE="+filepath.Join(dir, keys.KeyFile), prefix+"_CERT_FILE="+filepath.Join(dir, keys.CertFile))
	}
	env = append(env,
		"DCC_SUBJECT_KEY_FILE="+filepath.Join(s.keysDir, "subject.key"),
		"DATABASE_URL="+s.databaseURL,
		"DATABASE_READ_URL="+s.readURL,
		"DCC_DATA_DIR="+r.dir,
		"DCC_LISTEN="+r.addr,
		"DCC_LOG_FORMAT=json",
		// The load's one credential stands for many providers: no per-credential rate, and it
		// may hold every admission slot (as many as the default concurrency).
		"DCC_PROVIDER_RATE=0",
		"DCC_ISSUE_PER_CREDENTIAL="+strconv.Itoa(setup.DefaultIssueConcurrency()),
	)
	return append(env, s.env...)
}

// startReplica starts a replica and waits until /healthz answers.
func (s *service) startReplica(ctx context.Context, r *replica) error {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.bin, "dccd"))
	cmd.Env = r.env
	if cmd.Env == nil {
		cmd.Env = s.replicaEnv(r)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p, err := startProc(cmd, filepath.Join(r.dir, "dccd.log"))
	if err != nil {
		return fmt.Errorf("replica %s: %w", r.name, err)
	}
	r.proc = p
	hc := &http.Client{Timeout: time.Second}
	return waitFor(ctx, 60*time.Second, "dccd "+r.name+" to answer /healthz", func() error {
		if p.exited() {
			return fmt.Errorf("dccd %s exited (%v); see %s", r.name, p.err, filepath.Join(r.dir, "dccd.log"))
		}
		resp, err := hc.Get(r.url() + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %s", resp.Status)
		}
		return nil
	})
}

func (s *service) stop() error {
	var errs []error
	for _, r := range s.replicas {
		if r.proc != nil {
			if err := r.proc.stop(30 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// cleanEnv is this environment without settings that would point a child elsewhere.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DCC_") || strings.HasPrefix(kv, "DATABASE_") || strings.HasPrefix(kv, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// freePorts asks the kernel for n distinct free ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on Linux
	return hex.EncodeToString(b)
}
