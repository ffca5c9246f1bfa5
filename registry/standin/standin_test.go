package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/registry/pnr"
	"github.com/sedcc/dcc/registry/registerapi"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newServer(t *testing.T, o Options) (*Server, *httptest.Server) {
	t.Helper()
	reg, err := fileregister.Open("", now)
	if err != nil {
		t.Fatal(err)
	}
	o.Register = reg
	o.Clock = func() time.Time { return now }
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		srv.Close()
	})
	return s, srv
}

func do(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func lookup(t *testing.T, base, token, number string) (int, string) {
	t.Helper()
	return do(t, http.MethodPost, base+registerapi.LookupPath, token, `{"personnummer":"`+number+`"}`)
}

func TestLookupAnswers(t *testing.T) {
	s, srv := newServer(t, Options{Token: "tok"})
	unknown := "19800101000" + string(pnr.CheckDigit("19800101000"))
	cases := []struct {
		name   string
		token  string
		body   string
		status int
		code   string
	}{
		{"found", "tok", `{"personnummer":"191212121212"}`, 200, ""},
		{"not found", "tok", `{"personnummer":"` + unknown + `"}`, 404, registerapi.CodeNotFound},
		{"bad check digit", "tok", `{"personnummer":"191212121213"}`, 400, registerapi.CodeBadRequest},
		{"not JSON", "tok", `personnummer=191212121212`, 400, registerapi.CodeBadRequest},
		{"unknown field", "tok", `{"personnummer":"191212121212","x":1}`, 400, registerapi.CodeBadRequest},
		{"no token", "", `{"personnummer":"191212121212"}`, 401, registerapi.CodeUnauthorized},
		{"wrong token", "nope", `{"personnummer":"191212121212"}`, 401, registerapi.CodeUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, http.MethodPost, srv.URL+registerapi.LookupPath, tc.token, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.code == "" {
				p, err := registerapi.DecodePerson(strings.NewReader(body))
				if err != nil || p.GivenName != "Tolvan" || p.FamilyName != "Tolvansson" {
					t.Fatalf("%+v %v", p, err)
				}
				return
			}
			code, err := registerapi.DecodeError(strings.NewReader(body))
			if err != nil || code != tc.code {
				t.Fatalf("code %q %v, want %q", code, err, tc.code)
			}
			if strings.Contains(body, "191212121") {
				t.Fatalf("error body echoes the number: %s", body)
			}
		})
	}
	if st := s.Stats(); st.Lookups != int64(len(cases)) || st.Found != 1 || st.NotFound != 1 || st.Rejected != 5 {
		t.Fatalf("stats %+v", st)
	}
	if status, _ := do(t, http.MethodGet, srv.URL+registerapi.LookupPath, "tok", ""); status != http.StatusMethodNotAllowed {
		t.Fatalf("GET look-up: %d", status)
	}
}

func TestSamordningsnummer(t *testing.T) {
	_, srv := newServer(t, Options{})
	status, body := lookup(t, srv.URL, "", "199001751248")
	if status != 200 || !strings.Contains(body, "1990-01-15") {
		t.Fatalf("%d %s", status, body)
	}
}

func TestFaultSwitches(t *testing.T) {
	s, srv := newServer(t, Options{})
	set := func(f Faults) {
		t.Helper()
		if err := s.SetFaults(f); err != nil {
			t.Fatal(err)
		}
	}

	set(Faults{NotFound: true})
	if status, body := lookup(t, srv.URL, "", "191212121212"); status != 404 || !strings.Contains(body, registerapi.CodeNotFound) {
		t.Fatalf("forced not found: %d %s", status, body)
	}

	for _, st := range []int{0, 500, 502, 503, 504} {
		set(Faults{ErrorRate: 1, ErrorStatus: st})
		want := st
		if st == 0 {
			want = 503
		}
		if status, _ := lookup(t, srv.URL, "", "191212121212"); status != want {
			t.Fatalf("error status %d: got %d", st, status)
		}
	}

	set(Faults{Outage: true})
	resp, err := http.Post(srv.URL+registerapi.LookupPath, "application/json", strings.NewReader(`{"personnummer":"191212121212"}`))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("outage answered %d", resp.StatusCode)
	}
	// The stand-in's own endpoints stay up during an outage.
	if status, _ := do(t, http.MethodGet, srv.URL+"/healthz", "", ""); status != 200 {
		t.Fatalf("healthz %d", status)
	}

	set(Faults{Timeout: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+registerapi.LookupPath, strings.NewReader(`{"personnummer":"191212121212"}`))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("hung request answered %d", resp.StatusCode)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung request: %v", err)
	}

	set(Faults{Latency: 30 * time.Millisecond})
	if status, _ := lookup(t, srv.URL, "", "191212121212"); status != 200 {
		t.Fatalf("latency: %d", status)
	}

	s.ClearFaults()
	if s.Faults() != (Faults{}) {
		t.Fatalf("not cleared: %+v", s.Faults())
	}
	st := s.Stats()
	if st.Dropped != 1 || st.Hung != 1 || st.Errors != 5 || st.NotFound != 1 || st.Found != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestErrorRateDraws(t *testing.T) {
	draws := []float64{0.1, 0.6, 0.49, 0.5}
	i := 0
	s, srv := newServer(t, Options{Rand: func() float64 { d := draws[i]; i++; return d }})
	if err := s.SetFaults(Faults{ErrorRate: 0.5}); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range draws {
		status, _ := lookup(t, srv.URL, "", "191212121212")
		got = append(got, status)
	}
	if want := []int{503, 200, 503, 200}; !equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCloseReleasesHungRequests(t *testing.T) {
	s, srv := newServer(t, Options{})
	if err := s.SetFaults(Faults{Timeout: true}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(srv.URL+registerapi.LookupPath, "application/json", strings.NewReader(`{"personnummer":"191212121212"}`))
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	for s.Stats().Hung == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	r := <-done
	if r.err != nil || r.status != http.StatusGatewayTimeout {
		t.Fatalf("released request: %d %v", r.status, r.err)
	}
	s.ClearFaults()
	if status, _ := lookup(t, srv.URL, "", "191212121212"); status != 503 {
		t.Fatalf("closed stand-in answered %d", status)
	}
}

func TestAdminAPI(t *testing.T) {
	s, srv := newServer(t, Options{AdminToken: "adm"})
	url := srv.URL + "/admin/faults"

	if status, _ := do(t, http.MethodPost, url, "", `{"outage":true}`); status != 401 {
		t.Fatalf("admin without token: %d", status)
	}
	if status, _ := do(t, http.MethodGet, url, "wrong", ""); status != 401 {
		t.Fatalf("admin with wrong token: %d", status)
	}
	if s.Faults() != (Faults{}) {
		t.Fatal("unauthorised request changed the faults")
	}

	status, body := do(t, http.MethodPost, url, "adm", `{"latency":"2s","errorRate":0.5,"errorStatus":500,"timeout":true,"outage":true,"notFound":true}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	want := Faults{Latency: 2 * time.Second, ErrorRate: 0.5, ErrorStatus: 500, Timeout: true, Outage: true, NotFound: true}
	if s.Faults() != want {
		t.Fatalf("faults %+v", s.Faults())
	}
	var echoed Faults
	if err := json.Unmarshal([]byte(body), &echoed); err != nil || echoed != want {
		t.Fatalf("echo %s: %+v %v", body, echoed, err)
	}

	// POST replaces: fields left out are off.
	if status, _ := do(t, http.MethodPost, url, "adm", `{"notFound":true}`); status != 200 || s.Faults() != (Faults{NotFound: true}) {
		t.Fatalf("replace: %d %+v", status, s.Faults())
	}
	status, body = do(t, http.MethodGet, url, "adm", "")
	if status != 200 || strings.TrimSpace(body) != `{"notFound":true}` {
		t.Fatalf("GET: %d %s", status, body)
	}

	for _, bad := range []string{`{"latency":"soon"}`, `{"errorRate":2}`, `{"errorStatus":404}`, `{"outgae":true}`, `{"latency":"1h"}`, `not json`} {
		if status, _ := do(t, http.MethodPost, url, "adm", bad); status != 400 {
			t.Errorf("%s: %d", bad, status)
		}
	}
	if s.Faults() != (Faults{NotFound: true}) {
		t.Fatalf("a refused POST changed the faults: %+v", s.Faults())
	}

	if status, body := do(t, http.MethodDelete, url, "adm", ""); status != 200 || strings.TrimSpace(body) != `{}` {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	if s.Faults() != (Faults{}) {
		t.Fatalf("not cleared: %+v", s.Faults())
	}

	if _, err := lookupOK(srv.URL); err != nil {
		t.Fatal(err)
	}
	status, body = do(t, http.MethodGet, srv.URL+"/admin/stats", "adm", "")
	var st Stats
	if status != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Lookups != 1 || st.Found != 1 {
		t.Fatalf("stats %d %s", status, body)
	}
}

func lookupOK(base string) (registry.Person, error) {
	resp, err := http.Post(base+registerapi.LookupPath, "application/json", bytes.NewReader([]byte(`{"personnummer":"191212121212"}`)))
	if err != nil {
		return registry.Person{}, err
	}
	defer resp.Body.Close()
	return registerapi.DecodePerson(resp.Body)
}

func TestNewNeedsARegister(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("built without a population")
	}
}
