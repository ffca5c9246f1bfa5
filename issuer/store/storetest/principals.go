package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
)

func principals() (provider, staff issuer.Principal) {
	provider = issuer.Principal{
		ID:          "prov-zeta",
		Name:        "Zeta Lab AB",
		Role:        issuer.RoleProvider,
		Environment: issuer.Sandbox,
		Kinds:       []issuer.Kind{issuer.KindTest, issuer.KindRecovery},
		CreatedAt:   base(),
	}
	staff = issuer.Principal{
		ID:         "staff-alpha",
		Name:       "Alpha Support",
		Role:       issuer.RoleSupportAdmin,
		CreatedAt:  base().Add(time.Minute),
		DisabledAt: ptr(base().Add(time.Hour)),
	}
	return provider, staff
}

func testPrincipals(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	list, err := s.ListPrincipals(ctx(t))
	if err != nil {
		t.Fatalf("ListPrincipals on an empty store: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("empty store lists %d principals", len(list))
	}

	provider, staff := principals()
	for _, p := range []issuer.Principal{provider, staff} {
		if err := s.CreatePrincipal(ctx(t), p); err != nil {
			t.Fatalf("CreatePrincipal(%s): %v", p.ID, err)
		}
	}
	got, err := s.Principal(ctx(t), provider.ID)
	if err != nil {
		t.Fatalf("Principal: %v", err)
	}
	equal(t, "Principal", got, provider)
	got, err = s.PrincipalByName(ctx(t), staff.Name)
	if err != nil {
		t.Fatalf("PrincipalByName: %v", err)
	}
	equal(t, "PrincipalByName", got, staff)
	list, err = s.ListPrincipals(ctx(t))
	if err != nil {
		t.Fatalf("ListPrincipals: %v", err)
	}
	equal(t, "ListPrincipals (by name)", list, []issuer.Principal{staff, provider})

	if _, err := s.Principal(ctx(t), "nobody"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("Principal(unknown): error %v, want ErrNotFound", err)
	}
	if _, err := s.PrincipalByName(ctx(t), "Nobody AB"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("PrincipalByName(unknown): error %v, want ErrNotFound", err)
	}

	sameID := provider
	sameID.Name = "Another Name"
	if err := s.CreatePrincipal(ctx(t), sameID); err == nil {
		t.Error("CreatePrincipal with a taken id succeeded")
	}
	sameName := provider
	sameName.ID = "prov-other"
	if err := s.CreatePrincipal(ctx(t), sameName); err == nil {
		t.Error("CreatePrincipal with a taken name succeeded")
	}
	if _, err := s.Principal(ctx(t), "prov-other"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("refused principal was stored (error %v)", err)
	}
	got, err = s.Principal(ctx(t), provider.ID)
	if err != nil {
		t.Fatalf("Principal: %v", err)
	}
	equal(t, "principal after refused duplicates", got, provider)
}

func testAPIKeys(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	provider, staff := principals()
	for _, p := range []issuer.Principal{provider, staff} {
		if err := s.CreatePrincipal(ctx(t), p); err != nil {
			t.Fatalf("CreatePrincipal(%s): %v", p.ID, err)
		}
	}
	keys := []issuer.APIKey{
		{ID: "k-2", PrincipalID: provider.ID, Hash: hash("secret 1"), CreatedAt: base()},
		{ID: "k-1", PrincipalID: provider.ID, Hash: hash("secret 2"), CreatedAt: base().Add(time.Hour)},
		{ID: "k-3", PrincipalID: staff.ID, Hash: hash("secret 3"), CreatedAt: base(), ExpiresAt: ptr(base().Add(24 * time.Hour))},
	}
	for _, k := range keys {
		if err := s.CreateAPIKey(ctx(t), k); err != nil {
			t.Fatalf("CreateAPIKey(%s): %v", k.ID, err)
		}
	}
	got, err := s.APIKey(ctx(t), "k-3")
	if err != nil {
		t.Fatalf("APIKey: %v", err)
	}
	equal(t, "APIKey", got, keys[2])
	list, err := s.ListAPIKeys(ctx(t), provider.ID)
	if err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	equal(t, "ListAPIKeys (oldest first)", list, keys[:2])
	list, err = s.ListAPIKeys(ctx(t), "nobody")
	if err != nil {
		t.Fatalf("ListAPIKeys(unknown principal): %v", err)
	}
	if len(list) != 0 {
		t.Errorf("unknown principal has keys %v", list)
	}

	// Rotation: the old key gets an expiry, another key is revoked.
	if err := s.ExpireAPIKey(ctx(t), "k-2", base().Add(48*time.Hour)); err != nil {
		t.Fatalf("ExpireAPIKey: %v", err)
	}
	// A later expiry never extends an earlier one: rotating twice cannot bring a key back.
	if err := s.ExpireAPIKey(ctx(t), "k-2", base().Add(96*time.Hour)); err != nil {
		t.Fatalf("ExpireAPIKey later: %v", err)
	}
	if err := s.RevokeAPIKey(ctx(t), "k-1", base().Add(2*time.Hour)); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	if err := s.RevokeAPIKey(ctx(t), "k-1", base().Add(3*time.Hour)); err != nil {
		t.Fatalf("RevokeAPIKey again: %v", err)
	}
	want := []issuer.APIKey{keys[0], keys[1]}
	want[0].ExpiresAt = ptr(base().Add(48 * time.Hour))
	want[1].RevokedAt = ptr(base().Add(2 * time.Hour)) // the first revocation stands
	list, err = s.ListAPIKeys(ctx(t), provider.ID)
	if err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	equal(t, "keys after expiry and revocation", list, want)
	got, err = s.APIKey(ctx(t), "k-3")
	if err != nil {
		t.Fatalf("APIKey: %v", err)
	}
	equal(t, "untouched key", got, keys[2])

	notFound := map[string]error{
		"APIKey":                            func() error { _, err := s.APIKey(ctx(t), "k-none"); return err }(),
		"ExpireAPIKey":                      s.ExpireAPIKey(ctx(t), "k-none", base()),
		"RevokeAPIKey":                      s.RevokeAPIKey(ctx(t), "k-none", base()),
		"CreateAPIKey of unknown principal": s.CreateAPIKey(ctx(t), issuer.APIKey{ID: "k-9", PrincipalID: "nobody", Hash: hash("x"), CreatedAt: base()}),
	}
	for what, err := range notFound {
		if !errors.Is(err, issuer.ErrNotFound) {
			t.Errorf("%s: error %v, want ErrNotFound", what, err)
		}
	}
	dup := issuer.APIKey{ID: "k-3", PrincipalID: provider.ID, Hash: hash("other"), CreatedAt: base()}
	if err := s.CreateAPIKey(ctx(t), dup); err == nil {
		t.Error("CreateAPIKey with a taken id succeeded")
	}
	got, err = s.APIKey(ctx(t), "k-3")
	if err != nil {
		t.Fatalf("APIKey: %v", err)
	}
	equal(t, "key after a refused duplicate", got, keys[2])
}
