package embedded_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/embedded"
	"github.com/sedcc/dcc/issuer/store/storetest"
)

// killDirEnv, when set, makes the test binary a child that records certificates into the
// directory it names until it is killed (see TestRecordSurvivesSIGKILL).
const killDirEnv = "DCC_EMBEDDED_KILL_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killDirEnv); dir != "" {
		os.Exit(recordUntilKilled(dir))
	}
	os.Exit(m.Run())
}

func openStore(t testing.TB, dir string) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Reopenable(
		func(t *testing.T) string { return t.TempDir() },
		func(t *testing.T, dir string) issuer.Store { return openStore(t, dir) },
	))
}

func TestOpenCreatesWALFileInDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	s := openStore(t, dir)
	if want := filepath.Join(dir, embedded.FileName); s.Path() != want {
		t.Errorf("Path = %s, want %s", s.Path(), want)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// The journal mode is a property of the file: read it with a connection of our own.
	db, err := sql.Open("sqlite", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %s, want wal", mode)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("data directory mode %o is open to others", perm)
	}
}

// TestFilesAreTheOwnersOnly: the database and its WAL hold keyed personnummer hashes and
// certificates; they are created 0600 whatever the umask, and an existing file open to others
// is narrowed.
func TestFilesAreTheOwnersOnly(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	s := openStore(t, dir)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		for _, name := range []string{embedded.FileName, embedded.FileName + "-wal", embedded.FileName + "-shm"} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if errors.Is(err, fs.ErrNotExist) && name != embedded.FileName {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("%s has mode %04o", name, perm)
			}
		}
	}
	check()
	s.Close()

	if err := os.Chmod(filepath.Join(dir, embedded.FileName), 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir)
	if err := s2.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	check()
}

func TestOpenTwiceSameDir(t *testing.T) {
	// dccctl and dccd may have the same file open: both stores see each other's writes.
	dir := t.TempDir()
	a, b := openStore(t, dir), openStore(t, dir)
	p := issuer.Principal{ID: "p1", Name: "Lab", Role: issuer.RoleProvider, CreatedAt: time.Unix(1, 0).UTC()}
	if err := a.CreatePrincipal(t.Context(), p); err != nil {
		t.Fatalf("CreatePrincipal: %v", err)
	}
	if _, err := b.Principal(t.Context(), "p1"); err != nil {
		t.Fatalf("second store does not see the first's principal: %v", err)
	}
}

func TestOpenFailsOnUnusableDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.Open(file); err == nil {
		t.Error("Open succeeded on a path that is a regular file")
	}
}

// TestRecordSurvivesSIGKILL runs a child process that records certificates and reports each one
// acknowledged, kills it with SIGKILL mid-stream, and checks that every acknowledged Record is
// in the file.
func TestRecordSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	lines := bufio.NewScanner(out)
	for len(acked) < 150 && lines.Scan() {
		acked = append(acked, lines.Text())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() { // acknowledgements written before the kill landed
		acked = append(acked, lines.Text())
	}
	_ = cmd.Wait()
	if len(acked) < 150 {
		t.Fatalf("child acknowledged only %d Records before exiting", len(acked))
	}

	s := openStore(t, dir)
	for _, uvci := range acked {
		if _, err := s.CertificateByUVCI(t.Context(), uvci); err != nil {
			t.Errorf("acknowledged certificate %s lost after SIGKILL: %v", uvci, err)
		}
	}
}

func recordUntilKilled(dir string) int {
	s, err := embedded.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		r := storetest.SampleRecord(fmt.Sprintf("kill-%d", i))
		if err := s.Record(context.Background(), r); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 1
		}
		fmt.Fprintln(w, r.Certificate.UVCI)
		if err := w.Flush(); err != nil {
			return 1 // the parent stopped reading
		}
	}
}

// BenchmarkRecord measures durable Records (certificate, request record and audit event in one
// fsynced transaction) from parallel callers.
func BenchmarkRecord(b *testing.B) {
	s := openStore(b, b.TempDir())
	before := storetest.SelfCPU(b)
	storetest.BenchmarkRecord(b, s)
	b.ReportMetric(float64((storetest.SelfCPU(b)-before).Microseconds())/float64(b.N), "cpu-µs/op")
}
