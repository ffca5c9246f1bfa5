package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sedcc/dcc/issuer"
)

// proof is the outcome of checking a ledger against the store.
type proof struct {
	acked, stored, verified int
	unacked                 int // requests sent but never answered 200 (given up at the end)
	strays                  int // of those, stored all the same
	problems                []string
}

// prove checks what clients were promised against the instance's store (dccd stopped for the
// embedded store): every 200 is stored with the very certificate the client got, no request
// was answered with two certificates, a request never answered 200 left nothing half-written
// (no certificate) unless its client gave up while it was in flight, and every acknowledged
// certificate verifies with the independent verifier.
func (s *suite) prove(ctx context.Context, in *instance, led *ledger) proof {
	var p proof
	led.mu.Lock()
	defer led.mu.Unlock()
	p.problems = append(p.problems, led.dupes...)
	st, err := in.openStore(ctx)
	if err != nil {
		p.problems = append(p.problems, fmt.Sprintf("open store: %v", err))
		return p
	}
	defer st.Close()
	hc1s := map[issuer.Environment][]string{}
	for k, a := range led.acked {
		p.acked++
		hc1s[a.env] = append(hc1s[a.env], a.hc1)
		c, err := st.CertificateByIdentifier(ctx, k.provider, k.identifier)
		switch {
		case err != nil:
			p.problems = append(p.problems, fmt.Sprintf("acknowledged %s not in the store: %v", k.identifier, err))
		case c.HC1 != a.hc1 || c.UVCI != a.uvci:
			p.problems = append(p.problems, fmt.Sprintf("acknowledged %s stored as another certificate", k.identifier))
		default:
			p.stored++
		}
	}
	for k := range led.sent {
		if _, ok := led.acked[k]; ok {
			continue
		}
		p.unacked++
		_, err := st.CertificateByIdentifier(ctx, k.provider, k.identifier)
		switch {
		case errors.Is(err, issuer.ErrNotFound):
		case err == nil:
			p.strays++
		default:
			p.problems = append(p.problems, fmt.Sprintf("look up %s: %v", k.identifier, err))
		}
	}
	for env, list := range hc1s {
		n, failures, err := s.verifyNode(ctx, in.dsc(env), list)
		if err != nil {
			p.problems = append(p.problems, fmt.Sprintf("independent verifier (%s): %v", env, err))
		}
		p.verified += n
		p.problems = append(p.problems, failures...)
	}
	return p
}

// report adds the proof's findings to the suite.
func (s *suite) report(label string, p proof) {
	s.note("%s: %d acknowledged, %d stored as answered, %d verified by the independent verifier; %d never answered 200 (%d of them stored)",
		label, p.acked, p.stored, p.verified, p.unacked, p.strays)
	s.check(p.acked > 0, "%s: no certificate was acknowledged", label)
	s.check(p.stored == p.acked, "%s: %d of %d acknowledged certificates not stored as answered", label, p.acked-p.stored, p.acked)
	s.check(p.verified == p.acked, "%s: %d of %d acknowledged certificates verified", label, p.verified, p.acked)
	for i, pr := range p.problems {
		if i == 10 {
			s.fail("%s: ... %d more", label, len(p.problems)-10)
			break
		}
		s.fail("%s: %s", label, pr)
	}
}

// verifyNode checks hc1s with the independent Node.js verifier in one process.
func (s *suite) verifyNode(ctx context.Context, dsc string, hc1s []string) (int, []string, error) {
	if len(hc1s) == 0 {
		return 0, nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(s.repo, "signing", "testdata", "jsverify", "batch.js"), "--cert", dsc)
	cmd.Stdin = strings.NewReader(strings.Join(hc1s, "\n") + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res struct {
		Checked  int `json:"checked"`
		Failed   int `json:"failed"`
		Failures []struct {
			Line  int    `json:"line"`
			Error string `json:"error"`
		} `json:"failures"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return 0, nil, fmt.Errorf("%v: %s %s", runErr, stdout.String(), stderr.String())
	}
	var failures []string
	for _, f := range res.Failures {
		failures = append(failures, fmt.Sprintf("certificate %d refused by the independent verifier: %s", f.Line, f.Error))
	}
	if res.Checked != len(hc1s) {
		return 0, failures, fmt.Errorf("checked %d of %d", res.Checked, len(hc1s))
	}
	return res.Checked - res.Failed, failures, nil
}

// auditCheck looks up, in the store, the audit event of every request answered 503 or 429
// (by the request id the service sent back), and returns how many were found.
func auditCheck(ctx context.Context, st issuer.Store, refused map[string]string) (found int, missing []string) {
	for id := range refused {
		page, err := st.SearchAudit(ctx, issuer.AuditQuery{RequestID: id, Limit: 5})
		if err != nil || len(page.Events) == 0 {
			if len(missing) < 5 {
				missing = append(missing, fmt.Sprintf("%s (%v)", id, err))
			}
			continue
		}
		found++
	}
	return found, missing
}
