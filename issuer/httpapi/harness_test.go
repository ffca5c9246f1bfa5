package httpapi_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sedcc/dcc/docs"
	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/issuer/httpapi"
	"github.com/sedcc/dcc/issuer/idp"
	"github.com/sedcc/dcc/issuer/idtoken"
	"github.com/sedcc/dcc/issuer/metrics"
	"github.com/sedcc/dcc/issuer/queue"
	"github.com/sedcc/dcc/issuer/requestid"
	"github.com/sedcc/dcc/issuer/store/embedded"
	"github.com/sedcc/dcc/issuer/store/pgtest"
	"github.com/sedcc/dcc/issuer/store/postgres"
	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/trust"
	"github.com/sedcc/dcc/signing/uvci"
	"github.com/sedcc/dcc/signing/valueset"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// stores are the two store implementations every HTTP test runs against.
var stores = []string{"embedded", "postgres"}

// testEnv is a complete service on a real listener: real store, real signers with their own
// development DSCs, the file register (or the one a test passes), real credentials.
type testEnv struct {
	t        testing.TB
	url      string
	store    issuer.Store
	svc      *issuer.Service
	revs     *issuer.Revocations
	creds    *issuer.Credentials
	now      time.Time
	dscs     map[issuer.Environment]*x509.Certificate
	values   *valueset.Catalogue
	logs     *syncBuffer
	sandbox  string // key of a sandbox provider with every kind
	prod     string // key of a production provider with every kind
	testOnly string // key of a sandbox provider that may only issue tests
	support  string // key of a support staff member
	queue    *issuer.AuditQueue
	server   *httptest.Server
	// idp is the stand-in identity provider when the env serves citizens.
	idp *idp.Server
	// line is the citizens' virtual queue when the env has one.
	line *queue.Queue
	// perAddress limits the queue's newcomers per client address.
	perAddress httpapi.RateLimit
}

type envOptions struct {
	register registry.Register
	// sandboxRegister resolves sandbox requests; nil uses register, standing for a sandbox
	// register of test persons with the same faults.
	sandboxRegister registry.Register
	clock           func() time.Time
	rate            httpapi.RateLimit
	authFails       httpapi.AuthFailureLimit // failed authentications per address (zero: off)
	bodyTimeout     time.Duration            // zero: the server's default
	slotsPerCred    int                      // admission slots one credential may hold (zero: no cap)
	store           issuer.Store             // used instead of opening one of the stores
	admit           *admission.Limiter
	changes         []httpapi.APIChange
	tls             *tls.Config // serve TLS with this configuration (the test server's own certificate)
	// sandboxKinds, when set, are the only kinds the sandbox DSC's extended key usages name.
	sandboxKinds []dcc.Kind
	// citizens serves the citizens' API and web page, with a stand-in identity provider.
	citizens bool
	// citizenAdmit is the citizens' budget.
	citizenAdmit *admission.Limiter
	// productionOnly: citizens see production certificates only, as in production (by default
	// the tests' citizens also see the sandbox certificates the sandbox providers issue).
	productionOnly bool
	// queueRate, when above 0, puts the virtual queue in front of the citizens' entries,
	// admitting that many a second (bursts of queueBurst) from the env's store.
	queueRate  float64
	queueBurst int
	// replica: the env shares another env's store (store), whose principals exist already.
	replica bool
	// queuePerAddress limits the queue's newcomers per client address.
	queuePerAddress httpapi.RateLimit
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func openStore(t testing.TB, kind string) issuer.Store {
	t.Helper()
	ctx := context.Background()
	var st issuer.Store
	switch kind {
	case "embedded":
		s, err := embedded.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		st = s
	case "postgres":
		url := pgtest.NewDatabase(t)
		if err := postgres.Migrate(ctx, url); err != nil {
			t.Fatal(err)
		}
		s, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st = s
	default:
		t.Fatalf("unknown store %q", kind)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newEnv(t testing.TB, storeKind string, o envOptions) *testEnv {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	clock := o.clock
	if clock == nil {
		clock = func() time.Time { return now }
	}
	st := o.store
	if st == nil {
		st = openStore(t, storeKind)
	}
	values := valueset.MustLoad()
	e := &testEnv{t: t, store: st, now: now, values: values, dscs: map[issuer.Environment]*x509.Certificate{}, logs: &syncBuffer{}}

	signers := map[issuer.Environment]issuer.Signer{}
	for _, env := range []issuer.Environment{issuer.Sandbox, issuer.Production} {
		ko := keys.Options{CommonName: "test " + string(env), Now: now.Add(-time.Hour)}
		if env == issuer.Sandbox {
			ko.Kinds = o.sandboxKinds
		}
		key, cert, err := keys.Generate(t.TempDir(), ko)
		if err != nil {
			t.Fatal(err)
		}
		s, err := hcert.NewSigner(key, cert)
		if err != nil {
			t.Fatal(err)
		}
		signers[env] = issuer.HCertSigner{Signer: s, Country: "SE"}
		e.dscs[env] = cert
	}
	reg := o.register
	if reg == nil {
		fr, err := fileregister.Open("", now)
		if err != nil {
			t.Fatal(err)
		}
		reg = fr
	}
	sandboxReg := o.sandboxRegister
	if sandboxReg == nil {
		sandboxReg = reg
	}
	log := slog.New(requestid.Handler(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	svc, err := issuer.New(issuer.Options{
		Config:          issuer.Config{CitizenService: o.citizens, CitizenSandbox: o.citizens && !o.productionOnly},
		Store:           st,
		Audit:           st,
		Signers:         signers,
		UVCIs:           uvci.Generator{Country: "SE", Prefix: "DCC"},
		Register:        reg,
		SandboxRegister: sandboxReg,
		Parser:          fhir.NewParser(fhir.Options{Now: clock, Values: values}),
		Values:          values,
		SubjectKey:      bytes.Repeat([]byte{7}, 32),
		Clock:           clock,
		Log:             log,
		NewID:           newID,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.revs, err = issuer.NewRevocations(issuer.RevocationsOptions{Store: st, Signers: signers, Country: "SE",
		Values: values, Clock: clock, Log: log, NewID: newID})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.revs.RecordSigningCertificates(ctx); err != nil {
		t.Fatal(err)
	}
	e.creds = issuer.NewCredentials(st, clock, time.Minute)
	e.queue = issuer.NewAuditQueue(st, log, newID, clock, issuer.AuditQueueOptions{Size: 1000})
	t.Cleanup(func() { _ = e.queue.Close(context.Background()) })
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.admit != nil {
		if err := m.WatchLimiters(o.admit); err != nil {
			t.Fatal(err)
		}
	}
	var cit *httpapi.Citizens
	if o.citizens {
		if o.queueRate > 0 {
			q, err := queue.New(queue.Config{Rate: o.queueRate, Burst: o.queueBurst, Key: bytes.Repeat([]byte{5}, 32),
				Store: st, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			e.line = q
		}
		e.perAddress = o.queuePerAddress
		cit = e.startIdP(clock, o.citizenAdmit, !o.productionOnly, e.line)
	}
	srv := httpapi.New(httpapi.Options{Issuer: svc, Revocations: e.revs, Credentials: e.creds, Values: values, Log: log,
		Clock: clock, OpenAPI: docs.OpenAPI, Version: "test", ProviderRate: o.rate, AuthFailures: o.authFails, Admission: o.admit,
		BodyTimeout: o.bodyTimeout, SlotsPerCredential: o.slotsPerCred, Changes: o.changes,
		Metrics: m, AuditQueue: e.queue, Citizens: cit})
	ts := httptest.NewUnstartedServer(srv.Handler())
	if o.tls != nil {
		ts.TLS = o.tls
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	e.url, e.server = ts.URL, ts

	if o.replica {
		return e
	}
	all := []issuer.Kind{issuer.KindTest, issuer.KindRecovery, issuer.KindVaccination}
	add := func(name string, role issuer.Role, env issuer.Environment, kinds []issuer.Kind) string {
		_, token, err := e.creds.Add(ctx, issuer.NewPrincipal{Name: name, Role: role, Environment: env, Kinds: kinds})
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	e.sandbox = add("Sandbox Clinic", issuer.RoleProvider, issuer.Sandbox, all)
	e.prod = add("Production Clinic", issuer.RoleProvider, issuer.Production, all)
	e.testOnly = add("Test-only Lab", issuer.RoleProvider, issuer.Sandbox, []issuer.Kind{issuer.KindTest})
	e.support = add("Support Person", issuer.RoleSupport, "", nil)
	return e
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// answer is an HTTP response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer is not JSON (%d): %v\n%s", a.status, err, a.body)
	}
	return m
}

// outcome decodes an OperationOutcome answer.
func (a answer) outcome(t testing.TB) httpapi.OperationOutcome {
	t.Helper()
	var oo httpapi.OperationOutcome
	if err := json.Unmarshal(a.body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("answer is not an OperationOutcome (%d): %v\n%s", a.status, err, a.body)
	}
	return oo
}

// codes lists the stable codes of an OperationOutcome answer with their FHIRPaths.
func (a answer) codes(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, is := range a.outcome(t).Issue {
		if len(is.Details.Coding) == 0 || is.Details.Text == "" {
			t.Fatalf("issue without code or text: %+v", is)
		}
		path := ""
		if len(is.Expression) > 0 {
			path = is.Expression[0]
		}
		out[is.Details.Coding[0].Code] = path
	}
	return out
}

// has reports whether an OperationOutcome answer carries the code.
func (a answer) has(t testing.TB, code string) bool {
	t.Helper()
	_, ok := a.codes(t)[code]
	return ok
}

func (e *testEnv) do(method, path, key string, body []byte, header ...string) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *testEnv) post(path, key string, body []byte, header ...string) answer {
	e.t.Helper()
	return e.do(http.MethodPost, path, key, body, header...)
}

// trustList holds both environments' DSCs.
func (e *testEnv) trustList(envs ...issuer.Environment) *trust.List {
	e.t.Helper()
	l := trust.New("")
	for _, env := range envs {
		l.Add(e.dscs[env], string(env))
	}
	return l
}

// startIdP starts a stand-in identity provider on its own listener and builds the citizens'
// routes against it, as dccd does.
func (e *testEnv) startIdP(clock func() time.Time, admit *admission.Limiter, sandbox bool, line *queue.Queue) *httpapi.Citizens {
	e.t.Helper()
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	e.t.Cleanup(ts.Close)
	p, err := idp.New(idp.Options{Issuer: ts.URL, Clock: clock})
	if err != nil {
		e.t.Fatal(err)
	}
	h, e.idp = p, p
	v, err := idtoken.New(idtoken.Options{Issuer: ts.URL, Audience: p.Audience(), ClientID: p.ClientID(), Clock: clock})
	if err != nil {
		e.t.Fatal(err)
	}
	cit, err := httpapi.NewCitizens(httpapi.CitizenOptions{Verifier: v, Admission: admit, View: issuer.NewCitizenView(e.store, e.svc, sandbox), Queue: line, NewcomersPerAddress: e.perAddress,
		Web: &httpapi.WebOptions{Issuer: ts.URL, ClientID: p.ClientID(), SessionKey: bytes.Repeat([]byte{9}, 32)}})
	if err != nil {
		e.t.Fatal(err)
	}
	return cit
}

// failureLogs are the log lines at warning level or above about a request, other than its access
// log line.
func (e *testEnv) failureLogs(requestID string) []string {
	var out []string
	for _, line := range strings.Split(e.logs.String(), "\n") {
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if !strings.Contains(line, requestID) || json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if (rec.Level == "WARN" || rec.Level == "ERROR") && rec.Msg != "http request" {
			out = append(out, line)
		}
	}
	return out
}
