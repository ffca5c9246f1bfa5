package issuer_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/embedded"
)

// countingStore counts the key and principal reads that authentication makes.
type countingStore struct {
	issuer.Store
	keyReads, principalReads atomic.Int64
}

func (c *countingStore) APIKey(ctx context.Context, id string) (issuer.APIKey, error) {
	c.keyReads.Add(1)
	return c.Store.APIKey(ctx, id)
}

func (c *countingStore) Principal(ctx context.Context, id string) (issuer.Principal, error) {
	c.principalReads.Add(1)
	return c.Store.Principal(ctx, id)
}

func newCredentials(t *testing.T, clock func() time.Time) (*issuer.Credentials, *countingStore) {
	t.Helper()
	st, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cs := &countingStore{Store: st}
	return issuer.NewCredentials(cs, clock, time.Minute), cs
}

func isUnauthenticated(err error) bool {
	p, ok := problem.As(err)
	return ok && p.Has(problem.CodeUnauthenticated) && p.Class() == problem.ClassUnauthenticated
}

// TestWrongSecretCostsWhatUnknownKeyCosts: a wrong secret for a real key id and an unknown key id
// do the same work: one store read the first time, none after, and the same answer.
func TestWrongSecretCostsWhatUnknownKeyCosts(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	creds, cs := newCredentials(t, func() time.Time { return now })
	_, token, err := creds.Add(ctx, issuer.NewPrincipal{Name: "Lab", Role: issuer.RoleProvider, Environment: issuer.Sandbox, Kinds: []issuer.Kind{issuer.KindTest}})
	if err != nil {
		t.Fatal(err)
	}
	wrong := token[:len(token)-3] + "AAA"
	if wrong == token {
		wrong = token[:len(token)-3] + "BBB"
	}
	unknown := "dcc_" + strings.Repeat("a", 16) + "_" + strings.Repeat("A", 43)
	for _, tok := range []string{wrong, unknown} {
		before := cs.keyReads.Load() + cs.principalReads.Load()
		for range 3 {
			if _, err := creds.Authenticate(ctx, tok); !isUnauthenticated(err) {
				t.Fatalf("bad token accepted or wrong error: %v", err)
			}
		}
		if reads := cs.keyReads.Load() + cs.principalReads.Load() - before; reads != 1 {
			t.Errorf("%d store reads for three tries of a bad token, want 1", reads)
		}
	}
	if _, err := creds.Authenticate(ctx, token); err != nil {
		t.Fatalf("the real key: %v", err)
	}
}

// TestRotateAndRevoke: after rotation both keys work until the overlap ends; a revoked key stops
// at once.
func TestRotateAndRevoke(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	creds, cs := newCredentials(t, func() time.Time { return now })
	p, old, err := creds.Add(ctx, issuer.NewPrincipal{Name: "Lab", Role: issuer.RoleProvider, Environment: issuer.Production, Kinds: []issuer.Kind{issuer.KindTest}})
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := cs.ListAPIKeys(ctx, p.ID)
	fresh, err := creds.Rotate(ctx, keys[0].ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{old, fresh} {
		if got, err := creds.Authenticate(ctx, tok); err != nil || got.ID != p.ID {
			t.Fatalf("during the overlap: %v", err)
		}
	}
	now = now.Add(time.Hour + time.Second)
	if _, err := creds.Authenticate(ctx, old); !isUnauthenticated(err) {
		t.Fatalf("old key after the overlap: %v", err)
	}
	if _, err := creds.Authenticate(ctx, fresh); err != nil {
		t.Fatalf("new key after the overlap: %v", err)
	}
	if _, err := creds.Rotate(ctx, keys[0].ID, time.Hour); err == nil {
		t.Fatal("an expired key was rotated")
	}
	if _, err := creds.Authenticate(ctx, old); !isUnauthenticated(err) {
		t.Fatalf("old key after a refused rotation: %v", err)
	}
	keys, _ = cs.ListAPIKeys(ctx, p.ID)
	for _, k := range keys {
		if k.RevokedAt == nil && k.ExpiresAt == nil {
			if err := creds.Revoke(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := creds.Authenticate(ctx, fresh); !isUnauthenticated(err) {
		t.Fatalf("revoked key: %v", err)
	}
	if _, _, err := creds.Add(ctx, issuer.NewPrincipal{Name: "Lab", Role: issuer.RoleProvider, Environment: issuer.Sandbox, Kinds: []issuer.Kind{issuer.KindTest}}); err == nil {
		t.Fatal("a second principal with the same name was created")
	}
	if _, _, err := creds.Add(ctx, issuer.NewPrincipal{Name: "X", Role: issuer.RoleProvider, Environment: "staging", Kinds: []issuer.Kind{issuer.KindTest}}); err == nil {
		t.Fatal("an unknown environment was accepted")
	}
}

// BenchmarkAuthenticate: verification cost per request once a key is cached.
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	st, err := embedded.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	creds := issuer.NewCredentials(st, time.Now, time.Minute)
	_, token, err := creds.Add(ctx, issuer.NewPrincipal{Name: "Lab", Role: issuer.RoleProvider, Environment: issuer.Sandbox, Kinds: []issuer.Kind{issuer.KindTest}})
	if err != nil {
		b.Fatal(err)
	}
	wrong := token[:len(token)-3] + "AAA"
	unknown := "dcc_" + strings.Repeat("a", 16) + "_" + strings.Repeat("A", 43)
	for _, c := range []struct{ name, tok string }{{"valid", token}, {"wrong-secret", wrong}, {"unknown-key", unknown}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				_, _ = creds.Authenticate(ctx, c.tok)
			}
		})
	}
}
