package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer/store/pgtest"
)

// answer is one response: status, UVCI (on 200) and the first error code (otherwise).
type answer struct {
	status int
	uvci   string
	code   string
}

func postWith(t *testing.T, url, key, requestID string, body []byte) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/fhir+json")
	if requestID != "" {
		req.Header.Set("X-Request-ID", requestID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return answer{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m struct {
		TestProof struct {
			Metadata struct {
				UVCI string `json:"uvci"`
			} `json:"metadata"`
		} `json:"testProof"`
		Issue []struct {
			Details struct {
				Coding []struct {
					Code string `json:"code"`
				} `json:"coding"`
			} `json:"details"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Errorf("%d %s", resp.StatusCode, raw)
	}
	a := answer{status: resp.StatusCode, uvci: m.TestProof.Metadata.UVCI}
	if len(m.Issue) > 0 && len(m.Issue[0].Details.Coding) > 0 {
		a.code = m.Issue[0].Details.Coding[0].Code
	}
	return a
}

// Two replicas over one database, keys shared as files: the same request sent to both at once is
// issued once and replayed by the other, whichever wins; an Identifier reused with other content
// is refused by one of them; the database holds one certificate per Identifier; and a
// certificate from either verifies with the one shared signing certificate.
func TestReplicasShareUniquenessAndReplay(t *testing.T) {
	b := build(t)
	db := pgtest.NewDatabase(t)
	shared := t.TempDir()
	envA := []string{"DCC_DATA_DIR=" + shared, "DATABASE_URL=" + db, "DCC_PROVIDER_RATE=0"}
	a := start(t, b, envA)
	envB := []string{"DCC_DATA_DIR=" + t.TempDir(), "DATABASE_URL=" + db, "DCC_PROVIDER_RATE=0"}
	for _, env := range []string{"production", "sandbox"} {
		dir := filepath.Join(shared, "keys", env)
		envB = append(envB, fmt.Sprintf("DCC_%s_KEY_FILE=%s", strings.ToUpper(env), filepath.Join(dir, "dsc.key")),
			fmt.Sprintf("DCC_%s_CERT_FILE=%s", strings.ToUpper(env), filepath.Join(dir, "dsc.crt")))
	}
	envB = append(envB, "DCC_SUBJECT_KEY_FILE="+filepath.Join(shared, "subject.key"))
	bsrv := start(t, b, envB)
	out, code := run(t, b.root, envA, nil, b.dccctl, "provider", "add", "--name", "Replicas", "--env", "sandbox", "--kinds", "test")
	if code != 0 {
		t.Fatalf("provider add: %s", out)
	}
	key := lastLine(out)
	now := fhirtest.Now(time.Now())
	both := func(f func(url string) answer) [2]answer {
		var wg sync.WaitGroup
		var got [2]answer
		for i, url := range []string{a.url, bsrv.url} {
			wg.Go(func() { got[i] = f(url + "/api/v1/observation") })
		}
		wg.Wait()
		return got
	}
	const rounds = 8
	for i := range rounds {
		// The same request, same X-Request-ID, to both replicas at once.
		body := fhirtest.Observation(fhirtest.NAAT, now, fhirtest.Identifier(fmt.Sprintf("REPL-RID-%d", i)))
		got := both(func(url string) answer { return postWith(t, url, key, fmt.Sprintf("repl-%d", i), body) })
		if got[0].status != 200 || got[1].status != 200 || got[0].uvci != got[1].uvci {
			t.Errorf("same request id, round %d: %+v; want one certificate answered twice", i, got)
		}
		// The same Identifier and content without a request id: issued once, replayed once.
		body = fhirtest.Observation(fhirtest.NAAT, now, fhirtest.Identifier(fmt.Sprintf("REPL-ID-%d", i)))
		got = both(func(url string) answer { return postWith(t, url, key, "", body) })
		if got[0].status != 200 || got[1].status != 200 || got[0].uvci != got[1].uvci {
			t.Errorf("same Identifier and content, round %d: %+v; want one certificate answered twice", i, got)
		}
		// The same Identifier with other content (another sample time): one is issued, one refused.
		bodies := [][]byte{
			fhirtest.Observation(fhirtest.NAAT, now, fhirtest.Identifier(fmt.Sprintf("REPL-CONFLICT-%d", i)), fhirtest.Age(20*time.Hour)),
			fhirtest.Observation(fhirtest.NAAT, now, fhirtest.Identifier(fmt.Sprintf("REPL-CONFLICT-%d", i)), fhirtest.Age(21*time.Hour)),
		}
		var (
			mu sync.Mutex
			n  int
		)
		got = both(func(url string) answer {
			mu.Lock()
			body := bodies[n%2]
			n++
			mu.Unlock()
			return postWith(t, url, key, "", body)
		})
		if ok := (got[0].status == 200) != (got[1].status == 200); !ok || got[0].status+got[1].status != 200+409 {
			t.Errorf("same Identifier, other content, round %d: %+v; want one 200 and one 409", i, got)
		}
	}

	conn, err := pgx.Connect(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var certs, identifiers int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT identifier) FROM certificates WHERE identifier LIKE 'REPL-%'`).Scan(&certs, &identifiers); err != nil {
		t.Fatal(err)
	}
	if certs != 3*rounds || identifiers != 3*rounds {
		t.Errorf("database holds %d certificates for %d Identifiers, want %d of each", certs, identifiers, 3*rounds)
	}
	// Each replica signs with the shared key: a certificate issued by B verifies with A's DSC.
	one := fhirtest.Observation(fhirtest.NAAT, now, fhirtest.Identifier("REPL-VERIFY"))
	status, m := post(t, bsrv.url+"/api/v1/observation", key, one)
	if status != 200 {
		t.Fatalf("issue through B: %d %v", status, m)
	}
	_, hc1 := hc1Of(t, m)
	if out, code := run(t, b.root, nil, nil, b.dccctl, "verify", "--cert", filepath.Join(shared, "keys", "sandbox", "dsc.crt"), hc1); code != 0 {
		t.Errorf("a certificate from replica B does not verify with the shared DSC: %s", out)
	}
}
