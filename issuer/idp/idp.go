// Package idp holds a stand-in OpenID Connect identity provider for development and tests: in
// Sweden citizens sign in with an e-legitimation through such a provider, and the stand-in plays
// its part with a login form on which a development person is chosen instead.
//
// It speaks the parts of OpenID Connect the service uses: discovery, a JWKS, the authorization
// code flow with PKCE (S256, required), and ES256-signed ID and access tokens that carry the
// personnummer in a configurable claim. Keys rotate at run time (the previous key stays in the
// JWKS for a grace period), and faults are switched at run time: the JWKS answering 503, or every
// endpoint slowed down. Tests use Server as an http.Handler under httptest and mint tokens
// directly with Mint.
//
// Routes:
//
//	GET  /.well-known/openid-configuration  discovery
//	GET  /jwks                              the public keys
//	GET  /authorize                         the login form (choose a development person)
//	POST /authorize                         the form's answer: redirect with a code
//	POST /token                             code (and PKCE verifier) for tokens
//	POST /admin/rotate                      a new signing key
//	POST /admin/faults                      {"jwksDown": bool, "latency": "200ms"}
//	GET  /healthz                           liveness
package idp

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/sedcc/dcc/registry/fileregister"
)

// DefaultPNRClaim is the claim that carries the personnummer, as the Swedish OIDC profile
// (id.oidc.se) names it.
const DefaultPNRClaim = "https://id.oidc.se/claim/personalIdentityNumber"

// Defaults of Options.
const (
	DefaultClientID = "dcc-web"
	DefaultAudience = "dcc-citizen"
	DefaultTokenTTL = 15 * time.Minute
	// DefaultKeyGrace is how long a rotated-out key stays in the JWKS, so tokens it signed
	// remain verifiable until they expire.
	DefaultKeyGrace = time.Hour
	codeTTL         = time.Minute
	maxCodes        = 10000
	maxLatency      = time.Minute
)

// Options configure the stand-in.
type Options struct {
	// Issuer is the provider's URL, its "iss"; required (for httptest, the server's URL).
	Issuer string
	// People are who may sign in (the development population when nil).
	People []fileregister.Resident
	// ClientID is the one client the stand-in knows (DefaultClientID). Its redirect URIs must
	// be on a loopback host unless listed in RedirectURIs.
	ClientID     string
	RedirectURIs []string
	// Audience is the "aud" of access tokens (DefaultAudience); ID tokens have the ClientID.
	Audience string
	// PNRClaim names the claim carrying the personnummer (DefaultPNRClaim).
	PNRClaim string
	TokenTTL time.Duration // DefaultTokenTTL
	KeyGrace time.Duration // DefaultKeyGrace
	Clock    func() time.Time
	Log      *slog.Logger
}

// Faults are the failures the stand-in injects. The zero value injects none.
type Faults struct {
	// JWKSDown answers the JWKS with 503.
	JWKSDown bool `json:"jwksDown"`
	// Latency delays every answer but /healthz and /admin.
	Latency time.Duration `json:"-"`
}

type signingKey struct {
	key     *ecdsa.PrivateKey
	kid     string
	retired time.Time // zero while current
}

// grant is an issued authorization code waiting to be exchanged.
type grant struct {
	pnr         string
	redirectURI string
	challenge   string
	nonce       string
	expires     time.Time
}

// Server is the stand-in provider. It is safe for concurrent use.
type Server struct {
	o      Options
	mux    *http.ServeMux
	people map[string]fileregister.Resident
	order  []string

	mu     sync.Mutex
	keys   []*signingKey // the last is current
	codes  map[string]grant
	faults Faults
}

// New builds the stand-in with one fresh signing key.
func New(o Options) (*Server, error) {
	if o.Issuer == "" {
		return nil, errors.New("idp: no issuer URL")
	}
	o.Issuer = strings.TrimRight(o.Issuer, "/")
	o.ClientID = cmp.Or(o.ClientID, DefaultClientID)
	o.Audience = cmp.Or(o.Audience, DefaultAudience)
	o.PNRClaim = cmp.Or(o.PNRClaim, DefaultPNRClaim)
	o.TokenTTL = cmp.Or(o.TokenTTL, DefaultTokenTTL)
	o.KeyGrace = cmp.Or(o.KeyGrace, DefaultKeyGrace)
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.People == nil {
		dev, err := fileregister.Development(o.Clock())
		if err != nil {
			return nil, err
		}
		o.People = dev
	}
	s := &Server{o: o, mux: http.NewServeMux(), people: map[string]fileregister.Resident{}, codes: map[string]grant{}}
	for _, p := range o.People {
		s.people[p.Number.Digits()] = p
		s.order = append(s.order, p.Number.Digits())
	}
	if _, err := s.Rotate(); err != nil {
		return nil, err
	}
	s.mux.HandleFunc("GET /.well-known/openid-configuration", s.slow(s.discovery))
	s.mux.HandleFunc("GET /jwks", s.slow(s.jwks))
	s.mux.HandleFunc("GET /authorize", s.slow(s.loginForm))
	s.mux.HandleFunc("POST /authorize", s.slow(s.login))
	s.mux.HandleFunc("POST /token", s.slow(s.token))
	s.mux.HandleFunc("GET /style.css", s.style)
	s.mux.HandleFunc("POST /admin/rotate", s.adminRotate)
	s.mux.HandleFunc("POST /admin/faults", s.adminFaults)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return s, nil
}

// ServeHTTP serves the provider's routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// Issuer is the provider's "iss".
func (s *Server) Issuer() string { return s.o.Issuer }

// ClientID is the client the provider knows.
func (s *Server) ClientID() string { return s.o.ClientID }

// Audience is the "aud" of its access tokens.
func (s *Server) Audience() string { return s.o.Audience }

// SetFaults replaces the faults in force.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

func (s *Server) currentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Rotate makes a new signing key current and returns its kid. The previous key stays in the
// JWKS for KeyGrace; keys older than that leave it.
func (s *Server) Rotate() (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("idp: generate key: %w", err)
	}
	kid, err := thumbprint(&k.PublicKey)
	if err != nil {
		return "", err
	}
	now := s.o.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.keys[:0]
	for _, old := range s.keys {
		if old.retired.IsZero() {
			old.retired = now
		}
		if now.Sub(old.retired) < s.o.KeyGrace {
			kept = append(kept, old)
		}
	}
	s.keys = append(kept, &signingKey{key: k, kid: kid})
	s.o.Log.Info("idp signing key", "kid", kid)
	return kid, nil
}

func thumbprint(pub *ecdsa.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("idp: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// JWKS is the public key set as served.
func (s *Server) JWKS() jose.JSONWebKeySet {
	s.mu.Lock()
	defer s.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, k := range s.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid, Algorithm: string(jose.ES256), Use: "sig"})
	}
	return set
}

func (s *Server) current() *signingKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1]
}

// Token describes a token to mint. Zero fields take the provider's values: its issuer, its
// audience, now, TokenTTL, the current key.
type Token struct {
	PNR      string // the 12 digits; the claim is left out when empty
	Issuer   string
	Audience []string
	IssuedAt time.Time
	Expires  time.Time
	Nonce    string
	// Key signs instead of the provider's current key (a key the JWKS does not hold).
	Key *ecdsa.PrivateKey
	// KID is the header's kid with Key (default "unknown").
	KID string
	// Extra claims, added as they are.
	Extra map[string]any
}

// Mint signs a token: the access token of a signed-in person unless t says otherwise.
func (s *Server) Mint(t Token) (string, error) {
	now := s.o.Clock()
	t.Issuer = cmp.Or(t.Issuer, s.o.Issuer)
	if t.Audience == nil {
		t.Audience = []string{s.o.Audience}
	}
	if t.IssuedAt.IsZero() {
		t.IssuedAt = now
	}
	if t.Expires.IsZero() {
		t.Expires = t.IssuedAt.Add(s.o.TokenTTL)
	}
	key, kid := t.Key, t.KID
	if key == nil {
		k := s.current()
		key, kid = k.key, k.kid
	} else if kid == "" {
		kid = "unknown"
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", fmt.Errorf("idp: signer: %w", err)
	}
	claims := map[string]any{}
	for k, v := range t.Extra {
		claims[k] = v
	}
	std := jwt.Claims{
		Issuer:   t.Issuer,
		Audience: jwt.Audience(t.Audience),
		IssuedAt: jwt.NewNumericDate(t.IssuedAt),
		Expiry:   jwt.NewNumericDate(t.Expires),
		ID:       randomString(12),
	}
	if t.PNR != "" {
		std.Subject = s.subjectOf(t.PNR)
		claims[s.o.PNRClaim] = t.PNR
		if p, ok := s.people[t.PNR]; ok {
			claims["given_name"] = p.Person.GivenName
			claims["family_name"] = p.Person.FamilyName
			claims["name"] = p.Person.GivenName + " " + p.Person.FamilyName
		}
	}
	if t.Nonce != "" {
		claims["nonce"] = t.Nonce
	}
	tok, err := jwt.Signed(signer).Claims(std).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("idp: sign token: %w", err)
	}
	return tok, nil
}

// subjectOf is the pairwise subject of a person: stable, and not the personnummer itself.
func (s *Server) subjectOf(pnr string) string {
	h := sha256.Sum256([]byte(s.o.Issuer + "\x00" + pnr))
	return hex.EncodeToString(h[:16])
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// slow applies the latency fault.
func (s *Server) slow(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d := s.currentFaults().Latency; d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
		h(w, r)
	}
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.o.Issuer,
		"authorization_endpoint":                s.o.Issuer + "/authorize",
		"token_endpoint":                        s.o.Issuer + "/token",
		"jwks_uri":                              s.o.Issuer + "/jwks",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"scopes_supported":                      []string{"openid", "profile", "https://id.oidc.se/scope/naturalPersonNumber"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nonce", "name", "given_name", "family_name", s.o.PNRClaim},
	})
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	if s.currentFaults().JWKSDown {
		http.Error(w, "JWKS unavailable (fault injected)", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, s.JWKS())
}

// authRequest is the part of an authorization request the stand-in checks and carries through
// its login form.
type authRequest struct {
	RedirectURI, State, Nonce, Challenge string
}

// checkAuthRequest validates an authorization request. Until the redirect URI is known good,
// errors are shown to the user rather than redirected (RFC 6749 4.1.2.1).
func (s *Server) checkAuthRequest(q url.Values) (authRequest, string, string) {
	ar := authRequest{RedirectURI: q.Get("redirect_uri"), State: q.Get("state"), Nonce: q.Get("nonce"),
		Challenge: q.Get("code_challenge")}
	if q.Get("client_id") != s.o.ClientID {
		return ar, "", "unknown client_id"
	}
	if !s.redirectAllowed(ar.RedirectURI) {
		return ar, "", "redirect_uri not registered for this client"
	}
	switch {
	case q.Get("response_type") != "code":
		return ar, "unsupported_response_type", "only response_type=code is supported"
	case !containsWord(q.Get("scope"), "openid"):
		return ar, "invalid_scope", "scope must include openid"
	case q.Get("code_challenge_method") != "S256" || len(ar.Challenge) != 43:
		return ar, "invalid_request", "PKCE with code_challenge_method=S256 is required"
	}
	return ar, "", ""
}

func containsWord(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if w == word {
			return true
		}
	}
	return false
}

// redirectAllowed: a listed URI, or any http(s) URI on a loopback host (development clients
// listen on arbitrary ports).
func (s *Server) redirectAllowed(raw string) bool {
	for _, u := range s.o.RedirectURIs {
		if u == raw {
			return true
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Fragment != "" {
		return false
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1", "localhost":
		return true
	}
	return false
}

func redirectError(w http.ResponseWriter, r *http.Request, ar authRequest, code, desc string) {
	u, _ := url.Parse(ar.RedirectURI)
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", desc)
	if ar.State != "" {
		q.Set("state", ar.State)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	ar, code, desc := s.checkAuthRequest(r.URL.Query())
	switch {
	case code == "" && desc != "":
		http.Error(w, "invalid authorization request: "+desc, http.StatusBadRequest)
		return
	case code != "":
		redirectError(w, r, ar, code, desc)
		return
	}
	s.renderLogin(w, r.URL.Query(), "")
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "unreadable form", http.StatusBadRequest)
		return
	}
	ar, code, desc := s.checkAuthRequest(r.PostForm)
	switch {
	case code == "" && desc != "":
		http.Error(w, "invalid authorization request: "+desc, http.StatusBadRequest)
		return
	case code != "":
		redirectError(w, r, ar, code, desc)
		return
	}
	if r.PostForm.Get("cancel") != "" {
		redirectError(w, r, ar, "access_denied", "the user cancelled the sign-in")
		return
	}
	pnr := r.PostForm.Get("person")
	if _, ok := s.people[pnr]; !ok {
		w.WriteHeader(http.StatusUnprocessableEntity)
		s.renderLogin(w, r.PostForm, "Välj en person. / Choose a person.")
		return
	}
	c := randomString(32)
	s.mu.Lock()
	now := s.o.Clock()
	for k, g := range s.codes {
		if now.After(g.expires) {
			delete(s.codes, k)
		}
	}
	if len(s.codes) >= maxCodes {
		s.mu.Unlock()
		http.Error(w, "too many sign-ins in progress", http.StatusServiceUnavailable)
		return
	}
	s.codes[c] = grant{pnr: pnr, redirectURI: ar.RedirectURI, challenge: ar.Challenge, nonce: ar.Nonce, expires: now.Add(codeTTL)}
	s.mu.Unlock()
	u, _ := url.Parse(ar.RedirectURI)
	q := u.Query()
	q.Set("code", c)
	if ar.State != "" {
		q.Set("state", ar.State)
	}
	q.Set("iss", s.o.Issuer)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	clientID := f.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		clientID = u
	}
	if clientID != s.o.ClientID {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "unknown client")
		return
	}
	s.mu.Lock()
	g, ok := s.codes[f.Get("code")]
	delete(s.codes, f.Get("code")) // single use, whatever follows
	s.mu.Unlock()
	now := s.o.Clock()
	if !ok || now.After(g.expires) || g.redirectURI != f.Get("redirect_uri") {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code is unknown, used, expired or bound to another redirect_uri")
		return
	}
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	access, err := s.Mint(Token{PNR: g.pnr})
	if err != nil {
		s.o.Log.Error("mint access token", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "could not sign")
		return
	}
	id, err := s.Mint(Token{PNR: g.pnr, Audience: []string{s.o.ClientID}, Nonce: g.nonce})
	if err != nil {
		s.o.Log.Error("mint id token", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "could not sign")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   int(s.o.TokenTTL / time.Second),
		"id_token":     id,
		"scope":        "openid",
	})
}

func (s *Server) adminRotate(w http.ResponseWriter, _ *http.Request) {
	kid, err := s.Rotate()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"kid": kid})
}

func (s *Server) adminFaults(w http.ResponseWriter, r *http.Request) {
	var body struct {
		JWKSDown bool   `json:"jwksDown"`
		Latency  string `json:"latency"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&body); err != nil {
		http.Error(w, "want JSON {\"jwksDown\": bool, \"latency\": \"200ms\"}", http.StatusBadRequest)
		return
	}
	f := Faults{JWKSDown: body.JWKSDown}
	if body.Latency != "" {
		d, err := time.ParseDuration(body.Latency)
		if err != nil || d < 0 || d > maxLatency {
			http.Error(w, "latency: want a duration from 0 to 1m", http.StatusBadRequest)
			return
		}
		f.Latency = d
	}
	s.SetFaults(f)
	writeJSON(w, http.StatusOK, map[string]any{"jwksDown": f.JWKSDown, "latency": f.Latency.String()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
