package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sedcc/dcc/fhir/fhirtest"
)

// TestMetricsByRouteTemplate: /metrics counts requests by route template and final status
// (errors included, as sent), never by raw path.
func TestMetricsByRouteTemplate(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("191212121213")))
	e.post("/observation", "", nil)
	e.do(http.MethodGet, "/no/such/191212121212", "", nil)
	m := e.do(http.MethodGet, "/metrics", "", nil)
	body := string(m.body)
	for _, want := range []string{
		`dcc_http_requests_total{method="POST",route="/api/v1/observation",status="422"} 1`,
		`dcc_http_requests_total{method="POST",route="/observation",status="401"} 1`,
		`dcc_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "191212121212") {
		t.Error("a raw path reached the metrics")
	}
}
