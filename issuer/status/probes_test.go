package status_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/status"
	"github.com/sedcc/dcc/registry"
)

func TestStoreProbe(t *testing.T) {
	st := openStore(t, t.TempDir())
	probe := status.StoreProbe(st)
	if l, _ := probe(t.Context()); l != status.Green {
		t.Errorf("store up: %s", l)
	}
	st.down.Store(true)
	l, msg := probe(t.Context())
	if l != status.Red || strings.Contains(msg, "refused") {
		t.Errorf("store down: %s %q (want red, without the error's text)", l, msg)
	}
}

// signing is the issuer's signing state as the probe reads it.
type signing map[issuer.Environment]issuer.SignerHealth

func (s signing) SigningHealth() map[issuer.Environment]issuer.SignerHealth { return s }

func TestSigningProbe(t *testing.T) {
	now := t0
	year := 365 * 24 * time.Hour
	down := fmt.Errorf("%w: test", issuer.ErrSigningUnavailable)
	good := issuer.SignerHealth{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(year)}
	expiring := issuer.SignerHealth{NotBefore: now.Add(-year), NotAfter: now.Add(10 * 24 * time.Hour)}
	expired := issuer.SignerHealth{NotBefore: now.Add(-2 * year), NotAfter: now.Add(-year), Err: down}
	future := issuer.SignerHealth{NotBefore: now.Add(time.Hour), NotAfter: now.Add(year), Err: down}
	broken := issuer.SignerHealth{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(year), Err: down}
	tests := []struct {
		name    string
		signers signing
		want    status.Light
		mention string
	}{
		{"valid", signing{"production": good, "sandbox": good}, status.Green, ""},
		{"expiring within the warning", signing{"production": good, "sandbox": expiring}, status.Yellow, "sandbox"},
		{"expired", signing{"production": expired, "sandbox": good}, status.Red, "production signing certificate has expired"},
		{"not yet valid", signing{"production": future}, status.Red, "production signing certificate is not valid yet"},
		{"cannot sign", signing{"production": good, "sandbox": broken}, status.Red, "sandbox signing key does not sign"},
		{"no keys", nil, status.Red, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, msg := status.SigningProbe(tc.signers, func() time.Time { return now }, 0)(t.Context())
			if l != tc.want || !strings.Contains(msg, tc.mention) {
				t.Errorf("got %s %q, want %s mentioning %q", l, msg, tc.want, tc.mention)
			}
		})
	}
}

type reporter registry.State

func (r reporter) State() registry.State { return registry.State(r) }

func TestRegisterProbe(t *testing.T) {
	for state, want := range map[string]status.Light{"up": status.Green, "degraded": status.Yellow, "down": status.Red, "odd": status.Yellow} {
		l, msg := status.RegisterProbe(reporter{Status: state, Detail: "last failure timeout at 08:00"})(context.Background())
		if l != want || msg == "" || strings.Contains(msg, "timeout") {
			t.Errorf("register %s: %s %q, want %s with a message of its own", state, l, msg, want)
		}
	}
}

// probedRegister is a register whose state only its probe changes.
type probedRegister struct {
	state  registry.State
	probes int
	answer error
}

func (p *probedRegister) State() registry.State { return p.state }
func (p *probedRegister) Probe(context.Context) error {
	p.probes++
	if p.answer != nil {
		p.state = registry.State{Status: "down"}
	} else {
		p.state = registry.State{Status: "up"}
	}
	return p.answer
}

// TestRegisterProbeAsks: a register that can be probed is asked on every check, so its light
// turns red when it has gone away although no look-up failed.
func TestRegisterProbeAsks(t *testing.T) {
	r := &probedRegister{state: registry.State{Status: "up"}, answer: errors.New("connection refused")}
	probe := status.RegisterProbe(r)
	if l, _ := probe(t.Context()); l != status.Red || r.probes != 1 {
		t.Fatalf("register gone: %s after %d probes", l, r.probes)
	}
	r.answer = nil
	if l, _ := probe(t.Context()); l != status.Green || r.probes != 2 {
		t.Fatalf("register back: %s after %d probes", l, r.probes)
	}
}
