package httpapi_test

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/sedcc/dcc/docs"
	"github.com/sedcc/dcc/issuer/httpapi"
	"github.com/sedcc/dcc/issuer/metrics"
)

// routeKey names a route as "METHOD /path" with echo's :param written {param}.
func routeKey(method, path string) string {
	return method + " " + regexp.MustCompile(`:(\w+)`).ReplaceAllString(path, "{$1}")
}

// servedRoutes lists what echo serves, from a server built like the real one.
func servedRoutes(t *testing.T) (*httpapi.Server, map[string]bool) {
	t.Helper()
	e := newEnv(t, "embedded", envOptions{})
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Built as dccd builds it: every optional part present, so every route is registered.
	srv := httpapi.New(httpapi.Options{Issuer: e.svc, Revocations: e.revs, Credentials: e.creds, Values: e.values,
		OpenAPI: docs.OpenAPI, Metrics: m, Citizens: e.startIdP(time.Now, nil, false, nil)})
	out := map[string]bool{}
	for _, r := range srv.EchoRoutes() {
		out[routeKey(r.Method, r.Path)] = true
	}
	if len(out) < 5 {
		t.Fatalf("only %d routes served; the walk would prove nothing", len(out))
	}
	return srv, out
}

// TestOpenAPICoversEveryRoute: docs/openapi.yaml describes every served route, and nothing that
// is not served.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	_, served := servedRoutes(t)
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("served but not in docs/openapi.yaml: %s", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("in docs/openapi.yaml but not served: %s", r)
		}
	}
}

// rolesTable reads docs/roles.md.
func rolesTable(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile("../../docs/roles.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	row := regexp.MustCompile(`^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*(\S+)\s*\|\s*([^|]+)\|`)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var roles []string
		for _, r := range strings.Split(m[3], ",") {
			roles = append(roles, strings.TrimSpace(r))
		}
		slices.Sort(roles)
		out[m[1]+" "+m[2]] = roles
	}
	return out
}

// TestRoleTableCoversEveryRoute: every served route has an entry in docs/roles.md with exactly
// the roles the server enforces, and callers without the role are turned away.
func TestRoleTableCoversEveryRoute(t *testing.T) {
	srv, served := servedRoutes(t)
	table := rolesTable(t)
	declared := map[string][]string{}
	for _, r := range srv.Routes() {
		roles := slices.Clone(r.Roles)
		slices.Sort(roles)
		declared[routeKey(r.Method, r.Path)] = roles
	}
	for r := range served {
		roles, ok := table[r]
		if !ok {
			t.Errorf("route %s has no entry in docs/roles.md", r)
			continue
		}
		if !slices.Equal(roles, declared[r]) {
			t.Errorf("route %s: docs/roles.md says %v, the server enforces %v", r, roles, declared[r])
		}
	}
	for r := range table {
		if !served[r] {
			t.Errorf("docs/roles.md lists %s, which is not served", r)
		}
	}

	// Enforcement: each route called without a credential, and with each credential whose role
	// it does not list.
	e := newEnv(t, "embedded", envOptions{citizens: true})
	keys := map[string]string{"provider": e.sandbox, "support": e.support}
	for r, roles := range declared {
		method, path, _ := strings.Cut(r, " ")
		path = regexp.MustCompile(`\{\w+\}`).ReplaceAllString(path, "x")
		if slices.Contains(roles, "public") {
			continue
		}
		var body []byte
		if method == http.MethodPost {
			body = []byte(`{}`)
		}
		if a := e.do(method, path, "", body); a.status != http.StatusUnauthorized {
			t.Errorf("%s without a credential: %d", r, a.status)
		}
		for role, key := range keys {
			if slices.Contains(roles, role) {
				continue
			}
			if a := e.do(method, path, key, body); a.status != http.StatusForbidden {
				t.Errorf("%s with a %s credential: %d, want 403", r, role, a.status)
			}
		}
	}
}
