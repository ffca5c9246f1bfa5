package probe

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestDependencyLight(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" || r.URL.Query().Get("format") != "json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"yellow","dependencies":[{"name":"store","status":"green"},{"name":"audit-spool","status":"yellow"}]}`))
	}))
	for name, want := range map[string]string{"store": "green", "audit-spool": "yellow", "register": "absent"} {
		if got := DependencyLight(srv.URL, name, time.Second); got != want {
			t.Errorf("DependencyLight(%q) = %q, want %q", name, got, want)
		}
	}
	if got := DependencyLight(srv.URL+"/elsewhere", "store", time.Second); got != "unreadable (404)" {
		t.Errorf("a page that is not /status: %q", got)
	}
	srv.Close()
	if got := DependencyLight(srv.URL, "store", time.Second); got != "unreachable" {
		t.Errorf("a closed server: %q", got)
	}
}
