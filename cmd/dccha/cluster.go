package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Settings are the Patroni failover settings (dynamic configuration, written to etcd at
// bootstrap). The defaults are the ones the failover proof measures; docs/deploy.md explains them.
type Settings struct {
	TTL          int // seconds the leader key lives without renewal
	LoopWait     int // seconds between two runs of each Patroni's loop
	RetryTimeout int // seconds Patroni retries etcd and PostgreSQL before demoting
	// WALRetrieveRetryInterval is how long a standby waits before retrying WAL after a failure,
	// e.g. while its primary restarts (PostgreSQL's default is 5 s).
	WALRetrieveRetryInterval string
	// PrimaryStartTimeout is how long (s) a crashed primary may take to come back before a
	// standby takes over; 0 fails over at once when a synchronous standby is there to take over.
	PrimaryStartTimeout int
}

// DefaultSettings gave write outages of a few seconds on a 2-core machine; a retry_timeout of
// 1 s made Patroni demote a healthy leader on a busy one. A primary_start_timeout of 0 hands a
// crashed primary's role to the synchronous standby (which holds every acknowledged commit, in
// strict mode) instead of waiting for crash recovery in place, which Patroni runs in single-user
// mode before it may rewind and took 10 s under load.
var DefaultSettings = Settings{TTL: 6, LoopWait: 1, RetryTimeout: 2, WALRetrieveRetryInterval: "500ms", PrimaryStartTimeout: 0}

// cluster is one etcd and three PostgreSQL nodes managed by Patroni, on loopback, in dir.
type cluster struct {
	dir      string
	pgBinDir string
	scope    string
	settings Settings
	cred     *syscall.Credential // the user PostgreSQL runs as when this process is root
	etcdPort int
	etcdPeer int
	etcd     *proc
	nodes    []*node
	// Passwords of the roles Patroni creates at bootstrap, random per cluster.
	superPassword, replPassword, rewindPassword string
}

// node is one Patroni-managed PostgreSQL.
type node struct {
	name    string
	pgPort  int
	apiPort int
	dir     string // data/, patroni.yml, patroni.log
	patroni *proc
}

func (n *node) dataDir() string    { return filepath.Join(n.dir, "data") }
func (n *node) configPath() string { return filepath.Join(n.dir, "patroni.yml") }
func (n *node) logPath() string    { return filepath.Join(n.dir, "patroni.log") }
func (n *node) api() string        { return "http://127.0.0.1:" + strconv.Itoa(n.apiPort) }

// proc is a child process and its exit.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startProc(cmd *exec.Cmd, logPath string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", logPath, err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(cmd.Path), err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM and kills the process when it has not exited within grace.
func (p *proc) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", filepath.Base(p.cmd.Path), err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		p.kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed", filepath.Base(p.cmd.Path), grace)
	}
}

// newCluster chooses ports and passwords; start brings it up.
func newCluster(dir string, settings Settings) (*cluster, error) {
	cred, err := unprivilegedUser()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, pgBinDir: "/usr/lib/postgresql/15/bin", scope: "dcc", settings: settings, cred: cred,
		etcdPort: ports[0], etcdPeer: ports[1],
		superPassword: randomSecret(), replPassword: randomSecret(), rewindPassword: randomSecret()}
	if d := os.Getenv("PG_BINDIR"); d != "" {
		c.pgBinDir = d
	}
	for i := range 3 {
		c.nodes = append(c.nodes, &node{name: fmt.Sprintf("pg%d", i+1), pgPort: ports[2+2*i], apiPort: ports[3+2*i],
			dir: filepath.Join(dir, fmt.Sprintf("pg%d", i+1))})
	}
	return c, nil
}

// start runs etcd and the three Patroni nodes and waits until the cluster is healthy.
func (c *cluster) start(ctx context.Context) error {
	for _, bin := range []string{"etcd", "patroni"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found: run .ci/deps.sh ha (Debian packages etcd-server, patroni)", bin)
		}
	}
	if _, err := os.Stat(filepath.Join(c.pgBinDir, "postgres")); err != nil {
		return fmt.Errorf("PostgreSQL 15 not found in %s: run .ci/deps.sh (Debian package postgresql-15)", c.pgBinDir)
	}
	etcdDir := filepath.Join(c.dir, "etcd")
	if err := os.MkdirAll(etcdDir, 0o700); err != nil {
		return err
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", c.etcdPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", c.etcdPeer)
	cmd := exec.Command("etcd", "--name", "etcd1", "--data-dir", filepath.Join(etcdDir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "etcd1="+peer, "--initial-cluster-state", "new", "--log-level", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p, err := startProc(cmd, filepath.Join(etcdDir, "etcd.log"))
	if err != nil {
		return err
	}
	c.etcd = p
	if err := waitFor(ctx, 30*time.Second, "etcd to answer", func() error {
		resp, err := http.Get(client + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd /health: %s", resp.Status)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, n := range c.nodes {
		if err := c.writeConfig(n); err != nil {
			return err
		}
		if err := c.startNode(n); err != nil {
			return err
		}
	}
	_, err = c.waitHealthy(ctx, 120*time.Second)
	return err
}

// writeConfig writes the node's patroni.yml. JSON is YAML, so encoding/json writes it.
func (c *cluster) writeConfig(n *node) error {
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	cfg := patroniConfig(c, n)
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(n.configPath(), b, 0o600); err != nil {
		return err
	}
	return c.chown(n.dir, n.configPath())
}

// patroniConfig is the node's Patroni configuration. The bootstrap.dcs part is the cluster-wide
// dynamic configuration, written to etcd by the node that initialises the cluster.
func patroniConfig(c *cluster, n *node) map[string]any {
	hba := []string{
		"local all all trust",
		"host replication replicator 127.0.0.1/32 scram-sha-256",
		"host all all 127.0.0.1/32 scram-sha-256",
	}
	return map[string]any{
		"scope": c.scope,
		"name":  n.name,
		"log":   map[string]any{"level": "INFO"},
		"restapi": map[string]any{
			"listen":          fmt.Sprintf("127.0.0.1:%d", n.apiPort),
			"connect_address": fmt.Sprintf("127.0.0.1:%d", n.apiPort),
		},
		"etcd3":    map[string]any{"hosts": fmt.Sprintf("127.0.0.1:%d", c.etcdPort)},
		"watchdog": map[string]any{"mode": "off"},
		"bootstrap": map[string]any{
			"dcs": map[string]any{
				"ttl":                     c.settings.TTL,
				"loop_wait":               c.settings.LoopWait,
				"retry_timeout":           c.settings.RetryTimeout,
				"primary_start_timeout":   c.settings.PrimaryStartTimeout,
				"maximum_lag_on_failover": 1 << 20,
				"synchronous_mode":        true,
				"synchronous_mode_strict": true,
				"postgresql": map[string]any{
					"use_pg_rewind": true,
					"use_slots":     true,
					"parameters": map[string]any{
						"synchronous_commit":          "on",
						"wal_log_hints":               "on",
						"wal_retrieve_retry_interval": c.settings.WALRetrieveRetryInterval,
						"max_connections":             100,
						"password_encryption":         "scram-sha-256",
						// Reads on standbys (DATABASE_READ_URL) are not cancelled by the
						// primary's vacuum of rows they still see.
						"hot_standby_feedback": "on",
					},
				},
			},
			"initdb": []any{map[string]any{"encoding": "UTF8"}, map[string]any{"locale": "C"}, "data-checksums"},
		},
		"postgresql": map[string]any{
			"listen":          fmt.Sprintf("127.0.0.1:%d", n.pgPort),
			"connect_address": fmt.Sprintf("127.0.0.1:%d", n.pgPort),
			"data_dir":        n.dataDir(),
			"bin_dir":         c.pgBinDir,
			"pgpass":          filepath.Join(n.dir, "pgpass"),
			"pg_hba":          hba,
			"authentication": map[string]any{
				"superuser":   map[string]any{"username": "postgres", "password": c.superPassword},
				"replication": map[string]any{"username": "replicator", "password": c.replPassword},
				"rewind":      map[string]any{"username": "rewinder", "password": c.rewindPassword},
			},
			// Local parameters: the socket beside the data, and the standby's retry interval
			// (a standby setting, so it is set on every node, not only in the cluster-wide part).
			"parameters": map[string]any{
				"unix_socket_directories":     n.dir,
				"wal_retrieve_retry_interval": c.settings.WALRetrieveRetryInterval,
			},
		},
	}
}

// startNode starts the node's Patroni (as the unprivileged user when this process is root).
func (c *cluster) startNode(n *node) error {
	cmd := exec.Command("patroni", n.configPath())
	cmd.Dir = n.dir
	cmd.Env = childEnv(n.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p, err := startProc(cmd, n.logPath())
	if err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	n.patroni = p
	return nil
}

// postmasterPID reads the node's postmaster.pid; 0 when PostgreSQL is not running.
func (n *node) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(n.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// killPostmaster sends SIGKILL to the node's postmaster: a PostgreSQL crash that Patroni sees.
func (n *node) killPostmaster() error {
	pid := n.postmasterPID()
	if pid == 0 {
		return fmt.Errorf("node %s: no running postmaster", n.name)
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// killNode sends SIGKILL to Patroni and the postmaster together: the node is lost.
func (n *node) killNode() error {
	pid := n.postmasterPID()
	if pid == 0 {
		return fmt.Errorf("node %s: no running postmaster", n.name)
	}
	errs := []error{syscall.Kill(-n.patroni.cmd.Process.Pid, syscall.SIGKILL), syscall.Kill(pid, syscall.SIGKILL)}
	<-n.patroni.done
	return errors.Join(errs...)
}

// member is one node as Patroni's REST API /cluster describes it.
type member struct {
	Name     string `json:"name"`
	Role     string `json:"role"`  // leader, sync_standby, replica
	State    string `json:"state"` // running, streaming, starting, stopped, ...
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Timeline int    `json:"timeline"`
	Lag      any    `json:"lag"`
}

type clusterState struct {
	Members []member `json:"members"`
}

// leader returns the leader member, if one is running.
func (s clusterState) leader() (member, bool) {
	for _, m := range s.Members {
		if m.Role == "leader" && m.State == "running" {
			return m, true
		}
	}
	return member{}, false
}

// healthy reports whether the cluster has a running leader, a running synchronous standby and
// every one of want members running, so that a commit is on two nodes and a node may be lost.
func (s clusterState) healthy(want int) error {
	var leader, sync, running int
	for _, m := range s.Members {
		up := m.State == "running" || m.State == "streaming"
		if up {
			running++
		}
		switch {
		case m.Role == "leader" && up && m.Timeline > 0:
			leader++
		case m.Role == "sync_standby" && up:
			sync++
		}
	}
	switch {
	case leader != 1:
		return fmt.Errorf("%d running leaders", leader)
	case sync < 1:
		return errors.New("no running synchronous standby")
	case running < want:
		return fmt.Errorf("%d of %d members running", running, want)
	}
	return nil
}

// state asks each node's REST API in turn for the cluster as Patroni sees it.
func (c *cluster) state() (clusterState, error) {
	hc := &http.Client{Timeout: time.Second}
	var errs []error
	for _, n := range c.nodes {
		resp, err := hc.Get(n.api() + "/cluster")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var s clusterState
		err = json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s /cluster: %w", n.name, err))
			continue
		}
		return s, nil
	}
	return clusterState{}, fmt.Errorf("no Patroni REST API answered: %w", errors.Join(errs...))
}

// waitHealthy waits until state().healthy(3) holds and returns that state.
func (c *cluster) waitHealthy(ctx context.Context, timeout time.Duration) (clusterState, error) {
	var s clusterState
	err := waitFor(ctx, timeout, "a healthy cluster (leader, synchronous standby, three members running)", func() error {
		var err error
		if s, err = c.state(); err != nil {
			return err
		}
		return s.healthy(len(c.nodes))
	})
	return s, err
}

// waitLeader waits until a running leader other than not is named, and returns it.
func (c *cluster) waitLeader(ctx context.Context, timeout time.Duration, not string) (member, error) {
	var m member
	err := waitFor(ctx, timeout, "a new leader", func() error {
		s, err := c.state()
		if err != nil {
			return err
		}
		l, ok := s.leader()
		if !ok || l.Name == not {
			return errors.New("no new running leader yet")
		}
		m = l
		return nil
	})
	return m, err
}

func (c *cluster) node(name string) *node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// hosts is the multi-host list of every node, for a libpq-style URL.
func (c *cluster) hosts() string {
	var hs []string
	for _, n := range c.nodes {
		hs = append(hs, fmt.Sprintf("127.0.0.1:%d", n.pgPort))
	}
	return strings.Join(hs, ",")
}

// stop stops every Patroni (which stops its PostgreSQL) and etcd; PostgreSQL left running by a
// killed Patroni is stopped by its pid file.
func (c *cluster) stop() error {
	var errs []error
	for _, n := range c.nodes {
		if n.patroni != nil {
			if err := n.patroni.stop(30 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		if pid := n.postmasterPID(); pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGQUIT)
			for i := 0; i < 50 && n.postmasterPID() != 0; i++ {
				time.Sleep(100 * time.Millisecond)
			}
			if pid := n.postmasterPID(); pid != 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if c.etcd != nil {
		if err := c.etcd.stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *cluster) chown(paths ...string) error {
	if c.cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("hand %s to uid %d: %w", p, c.cred.Uid, err)
		}
	}
	return nil
}

// unprivilegedUser returns the credentials to run Patroni and PostgreSQL with when this process
// is root (which PostgreSQL refuses): the "postgres" user. Otherwise nil.
func unprivilegedUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and no postgres user to run PostgreSQL as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// childEnv is the environment for Patroni: this one without libpq variables that could point it
// elsewhere, HOME in its directory, in the C locale.
func childEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") ||
			strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "PATRONI") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C", "HOME="+home)
}

// waitFor calls check every 200 ms until it returns nil, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s: %w", timeout, what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
