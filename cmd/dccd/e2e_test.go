package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer/document/qrdecode"
	"github.com/sedcc/dcc/issuer/store/pgtest"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/registry/standin"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The end-to-end tests run the real binaries the way a new user would: dccd on a fresh data
// directory, dccctl to create a provider, HTTP requests, and the certificates checked with
// `dccctl verify` and with the independent Node.js verifier.

type binaries struct{ dccd, dccctl, root string }

func build(t *testing.T) binaries {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir, "./cmd/dccd", "./cmd/dccctl")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return binaries{dccd: filepath.Join(dir, "dccd"), dccctl: filepath.Join(dir, "dccctl"), root: root}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type server struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	done chan error
}

// start runs dccd with env and waits until /readyz answers.
func start(t *testing.T, b binaries, env []string) *server {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(b.dccd)
	cmd.Env = append(os.Environ(), append(env, "DCC_LISTEN="+addr, "DCC_LOG_FORMAT=json")...)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, url: "http://" + addr, logs: logs, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("dccd exited: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dccd not ready: %v\n%s", err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func run(t *testing.T, dir string, env []string, stdin []byte, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), code
}

func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	return last
}

func post(t *testing.T, url, key string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

func hc1Of(t *testing.T, m map[string]any) (uvci, hc1 string) {
	t.Helper()
	for _, k := range []string{"testProof", "recoveryProof", "vaccinationProof"} {
		if p, ok := m[k].(map[string]any); ok {
			meta := p["metadata"].(map[string]any)
			if hc1, ok := meta["hc1"].(string); ok {
				return meta["uvci"].(string), hc1
			}
			// A compatibility answer has no extensions: the HC1 is what its QR code says.
			raw, err := base64.StdEncoding.DecodeString(p["qrCode"].(map[string]any)["image"].(string))
			if err != nil {
				t.Fatal(err)
			}
			hc1, err := qrdecode.Text(raw)
			if err != nil {
				t.Fatal(err)
			}
			return meta["uvci"].(string), hc1
		}
	}
	t.Fatalf("no proof in %v", m)
	return "", ""
}

// TestNewUser: a fresh data directory, every kind of certificate over HTTP, each accepted by
// `dccctl verify` and by the independent verifier; then SIGKILL after the answers and a restart
// that still finds every certificate; then SIGTERM, which exits 0.
func TestNewUser(t *testing.T) {
	b := build(t)
	for _, store := range []string{"embedded", "postgres"} {
		t.Run(store, func(t *testing.T) {
			data := t.TempDir()
			env := []string{"DCC_DATA_DIR=" + data, "DATABASE_URL="}
			if store == "postgres" {
				env = []string{"DCC_DATA_DIR=" + data, "DATABASE_URL=" + pgtest.NewDatabase(t)}
			}
			srv := start(t, b, env)
			out, code := run(t, b.root, env, nil, b.dccctl, "provider", "add", "--name", "Vårdcentralen Test", "--env", "sandbox", "--kinds", "test,recovery,vaccination")
			if code != 0 {
				t.Fatalf("provider add: %d %s", code, out)
			}
			key := lastLine(out)
			if !strings.HasPrefix(key, "dcc_") {
				t.Fatalf("provider add's last line is not a key: %q", key)
			}

			now := fhirtest.Now(time.Now())
			requests := []struct {
				path string
				body []byte
			}{
				{"/api/v1/observation", fhirtest.Observation(fhirtest.RAT, now)},
				{"/observation", fhirtest.Observation(fhirtest.NAAT, now, fhirtest.PNR("198503122387"))},
				{"/api/v1/observation", fhirtest.Observation(fhirtest.NoPNR, now)},
				{"/recovery", fhirtest.Observation(fhirtest.Recovery, now)},
				{"/immunization", fhirtest.Immunization(fhirtest.Comirnaty, now)},
				{"/api/v1/immunization", fhirtest.Immunization(fhirtest.Spikevax, now)},
				{"/api/v1/immunization", fhirtest.Immunization(fhirtest.Vaxzevria, now)},
				{"/api/v1/immunization", fhirtest.Immunization(fhirtest.Jcovden, now)},
				{"/api/v1/immunization", fhirtest.Immunization(fhirtest.Nuvaxovid, now)},
			}
			cert := filepath.Join(data, "keys", "sandbox", "dsc.crt")
			otherCert := filepath.Join(data, "keys", "production", "dsc.crt")
			node := filepath.Join(b.root, "signing", "testdata", "jsverify", "verify.js")
			if _, err := os.Stat(filepath.Join(b.root, "signing", "testdata", "jsverify", "node_modules")); err != nil && os.Getenv("DCC_SKIP_INTEROP") != "1" {
				t.Fatal("the independent verifier's packages are missing: run `make deps`")
			}
			uvcis := map[string]string{}
			for _, r := range requests {
				status, m := post(t, srv.url+r.path, key, r.body)
				if status != http.StatusOK {
					t.Fatalf("%s: %d %v", r.path, status, m)
				}
				uvci, hc1 := hc1Of(t, m)
				uvcis[uvci] = hc1
				if out, code := run(t, b.root, nil, nil, b.dccctl, "verify", "--cert", cert, hc1); code != 0 {
					t.Errorf("dccctl verify refused %s: %s", r.path, out)
				}
				if out, code := run(t, b.root, nil, nil, b.dccctl, "verify", "--cert", otherCert, hc1); code == 0 {
					t.Errorf("dccctl verify accepted %s under the production DSC: %s", r.path, out)
				}
				if os.Getenv("DCC_SKIP_INTEROP") != "1" {
					if out, code := run(t, b.root, nil, nil, "node", node, "--cert", cert, hc1); code != 0 {
						t.Errorf("the independent verifier refused %s: %s", r.path, out)
					}
				}
				out, code := run(t, b.root, nil, nil, b.dccctl, "decode", hc1)
				if code != 0 || !strings.Contains(out, uvci) {
					t.Errorf("dccctl decode: %d %s", code, out)
				}
			}

			// Acknowledged means durable: kill without warning, restart, replay every request.
			if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-srv.done
			srv = start(t, b, env)
			for _, r := range requests {
				status, m := post(t, srv.url+r.path, key, r.body)
				if status != http.StatusOK {
					t.Fatalf("after restart %s: %d %v", r.path, status, m)
				}
				uvci, hc1 := hc1Of(t, m)
				if uvcis[uvci] != hc1 {
					t.Errorf("after SIGKILL and restart %s came back as another certificate", r.path)
				}
			}

			// SIGTERM: graceful shutdown, exit 0.
			if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-srv.done:
				if err != nil {
					t.Fatalf("dccd after SIGTERM: %v\n%s", err, srv.logs)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("dccd did not stop on SIGTERM")
			}
			for _, secret := range []string{"198503122387", "191212121212", "Tolvansson", "Öberg", "HC1:"} {
				if strings.Contains(srv.logs.String(), secret) {
					t.Errorf("the server log contains %q", secret)
				}
			}
		})
	}
}

// TestBadConfiguration: a bad variable stops the start with a message naming it.
func TestBadConfiguration(t *testing.T) {
	var stderr bytes.Buffer
	code := runMain(t, map[string]string{"DCC_LOG_FORMAT": "xml", "DCC_MAX_TEST_AGE": "three days"}, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "DCC_LOG_FORMAT") || !strings.Contains(stderr.String(), "DCC_MAX_TEST_AGE") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

func runMain(t *testing.T, env map[string]string, stderr io.Writer) int {
	t.Helper()
	return runWith(nil, func(k string) string { return env[k] }, stderr)
}

// TestShutdownFinishesInFlight: SIGTERM while a request is being served (the register is slow)
// lets that request finish with its certificate, refuses new connections, and exits 0.
func TestShutdownFinishesInFlight(t *testing.T) {
	b := build(t)
	pop, err := fileregister.Open("", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	si, err := standin.New(standin.Options{Register: pop})
	if err != nil {
		t.Fatal(err)
	}
	if err := si.SetFaults(standin.Faults{Latency: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewServer(si)
	defer func() { si.Close(); reg.Close() }()

	data := t.TempDir()
	// The status monitor probes the register once at start and then not again within the test.
	env := []string{"DCC_DATA_DIR=" + data, "DATABASE_URL=", "DCC_REGISTER_URL=" + reg.URL, "DCC_REGISTER_TIMEOUT=5s", "DCC_REGISTER_BUDGET=6s",
		"DCC_STATUS_INTERVAL=1h"}
	srv := start(t, b, env)
	// A production key: sandbox requests never reach DCC_REGISTER_URL.
	out, code := run(t, b.root, env, nil, b.dccctl, "provider", "add", "--name", "Lab", "--env", "production", "--kinds", "test")
	if code != 0 {
		t.Fatalf("provider add: %s", out)
	}
	key := lastLine(out)

	type result struct {
		status int
		body   string
		err    error
	}
	// The start-up probe of the register has arrived; the next look-up is the request's.
	deadline := time.Now().Add(10 * time.Second)
	for si.Stats().Lookups == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the status monitor never probed the register")
		}
		time.Sleep(10 * time.Millisecond)
	}
	probes := si.Stats().Lookups
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.url+"/api/v1/observation",
			bytes.NewReader(fhirtest.Observation(fhirtest.RAT, fhirtest.Now(time.Now()), fhirtest.PNR("198503122387"))))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(raw)}
	}()
	// Wait until the request is inside the service, waiting for the register.
	deadline = time.Now().Add(10 * time.Second)
	for si.Stats().Lookups == probes {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the register")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("in-flight request during shutdown: %v %d %s", r.err, r.status, r.body)
	}
	select {
	case err := <-srv.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dccd did not exit")
	}
	if _, err := http.Get(srv.url + "/healthz"); err == nil {
		t.Fatal("dccd still accepts connections after shutting down")
	}
}
