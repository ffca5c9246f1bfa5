package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sedcc/dcc/registry/registerapi"
	"github.com/sedcc/dcc/registry/standin"
)

// TestMain lets the test binary run as dccregister itself, so the tests can send it signals.
func TestMain(m *testing.M) {
	if os.Getenv("DCCREGISTER_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{envListen: "127.0.0.1:9999", envAdminToken: "from-env", envPopulation: "pop.json"}
	getenv := func(k string) string { return env[k] }
	c, err := parseConfig(nil, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != "127.0.0.1:9999" || c.adminToken != "from-env" || c.population != "pop.json" {
		t.Fatalf("%+v", c)
	}
	c, err = parseConfig([]string{"--listen", "127.0.0.1:1", "--admin-token", "flag"}, getenv, io.Discard)
	if err != nil || c.listen != "127.0.0.1:1" || c.adminToken != "flag" {
		t.Fatalf("flags must win: %+v %v", c, err)
	}
	c, err = parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil || c.listen != "127.0.0.1:8090" || c.population != "" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for _, args := range [][]string{{"--listen", "nohostport"}, {"extra"}, {"--nope"}} {
		if _, err := parseConfig(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestList(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"--list"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"191212121212", "Tolvan Tolvansson", "samordningsnummer", "protected", "deceased", "Åsa Öberg"} {
		if !strings.Contains(s, want) {
			t.Errorf("list lacks %q:\n%s", want, s)
		}
	}
}

func TestBadPopulationNamesTheVariable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pop.json")
	if err := os.WriteFile(path, []byte(`[{"personnummer":"191212121213","givenName":"A","familyName":"B","birthDate":"1912-12-12"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"--population", path, "--list"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), envPopulation) || !strings.Contains(err.Error(), "entry 0") {
		t.Fatalf("%v", err)
	}
	if strings.Contains(err.Error(), "191212121213") {
		t.Fatalf("number in clear: %v", err)
	}
}

// TestServeFaultsAndGracefulShutdown runs the command, switches a fault over the admin
// endpoint, holds a look-up with it, and checks that SIGTERM releases the look-up and ends the
// process cleanly.
func TestServeFaultsAndGracefulShutdown(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--listen", "127.0.0.1:0", "--admin-token", "adm", "--faults", `{"latency":"1ms"}`)
	cmd.Env = append(os.Environ(), "DCCREGISTER_TEST_AS_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})

	// The address is in the first log line; the rest of the log is drained in the background.
	addrRE := regexp.MustCompile(`addr=(http://127\.0\.0\.1:\d+)`)
	lines := bufio.NewScanner(stderr)
	var base string
	var logged strings.Builder
	for lines.Scan() {
		logged.WriteString(lines.Text() + "\n")
		if m := addrRE.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatalf("no address logged:\n%s", logged.String())
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(stderr)
		rest <- string(b)
	}()
	go func() { exited <- cmd.Wait() }()

	p, err := post(base+registerapi.LookupPath, "", `{"personnummer":"191212121212"}`)
	if err != nil || p.status != 200 {
		t.Fatalf("look-up: %+v %v", p, err)
	}
	if p, err := post(base+"/admin/faults", "adm", `{"timeout":true}`); err != nil || p.status != 200 {
		t.Fatalf("set faults: %+v %v", p, err)
	}
	var f standin.Faults
	if p, err := get(base+"/admin/faults", "adm"); err != nil || json.Unmarshal([]byte(p.body), &f) != nil || !f.Timeout {
		t.Fatalf("get faults: %+v %v", p, err)
	}

	held := make(chan reply, 1)
	go func() {
		p, err := post(base+registerapi.LookupPath, "", `{"personnummer":"191212121212"}`)
		if err != nil {
			p.body = err.Error()
		}
		held <- p
	}()
	waitForHung(t, base)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, <-rest)
		}
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if p := <-held; p.status != http.StatusGatewayTimeout {
		t.Fatalf("held look-up at shutdown: %+v", p)
	}
	log := <-rest
	if !strings.Contains(log, "shutting down") {
		t.Fatalf("log:\n%s", log)
	}
	for _, private := range []string{"191212121212", "Tolvan"} {
		if strings.Contains(logged.String()+log, private) {
			t.Fatalf("log shows personal data %q:\n%s", private, log)
		}
	}
}

type reply struct {
	status int
	body   string
}

func post(url, token, body string) (reply, error) {
	return send(http.MethodPost, url, token, body)
}

func get(url, token string) (reply, error) { return send(http.MethodGet, url, token, "") }

func send(method, url, token, body string) (reply, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, body: string(b)}, err
}

func waitForHung(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := get(base+"/admin/stats", "adm")
		var st standin.Stats
		if err == nil && json.Unmarshal([]byte(p.body), &st) == nil && st.Hung > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("look-up never held: %+v %v", p, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
