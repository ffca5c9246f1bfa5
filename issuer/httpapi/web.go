package httpapi

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/registry/pnr"
)

//go:embed web
var webFiles embed.FS

// WebOptions configure the citizens' web page and its sign-in (authorization code flow with
// PKCE against the identity provider).
type WebOptions struct {
	// Issuer is the identity provider, found by discovery on the first sign-in.
	Issuer string
	// ClientID is the page's client at the provider.
	ClientID string
	// SessionKey (at least 32 bytes) seals the session and sign-in cookies.
	SessionKey []byte
	// SessionTTL is how long a session lasts (default 30 minutes).
	SessionTTL time.Duration
	// PublicURL is the page's address as citizens reach it (its scheme decides Secure
	// cookies); empty: taken from each request.
	PublicURL string
	// HTTPClient talks to the provider (default: 10 s timeout).
	HTTPClient *http.Client
}

type web struct {
	o     WebOptions
	aead  cipher.AEAD
	pages map[string]*template.Template

	mu       sync.Mutex
	endpoint *oauth2.Endpoint

	// queuePages are the waiting page in each language, rendered once with placeholders.
	queuePages map[string]string
}

const (
	cookieSession = "dcc_session"
	cookieLogin   = "dcc_login"
	cookieLang    = "dcc_lang"
	loginTTL      = 10 * time.Minute
)

func newWeb(o WebOptions) (*web, error) {
	if len(o.SessionKey) < 32 {
		return nil, errors.New("web: session key shorter than 32 bytes")
	}
	if o.Issuer == "" || o.ClientID == "" {
		return nil, errors.New("web: identity provider issuer and client id are required")
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = 30 * time.Minute
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	k := hmac.New(sha256.New, o.SessionKey)
	k.Write([]byte("citizen-session\x00"))
	block, err := aes.NewCipher(k.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("web: session cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("web: session cipher: %w", err)
	}
	w := &web{o: o, aead: aead, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{"t": translate}
	for _, p := range []string{"landing", "list", "certificate", "queue"} {
		t, err := template.New(p).Funcs(funcs).ParseFS(webFiles, "web/layout.html", "web/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", p, err)
		}
		w.pages[p] = t
	}
	if err := w.renderQueuePages(); err != nil {
		return nil, err
	}
	return w, nil
}

// seal encrypts and authenticates v for a cookie; open reverses it. The cookie's name is bound
// in, so one cookie's value is never accepted as another's.
func (w *web) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, w.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(w.aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

func (w *web) open(name, value string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < w.aead.NonceSize() {
		return errors.New("malformed cookie")
	}
	plain, err := w.aead.Open(nil, raw[:w.aead.NonceSize()], raw[w.aead.NonceSize():], []byte(name))
	if err != nil {
		return errors.New("cookie does not authenticate")
	}
	return json.Unmarshal(plain, v)
}

// session is what the session cookie holds, sealed: the citizen's number never travels in clear.
type session struct {
	PNR     string    `json:"p"`
	Name    string    `json:"n,omitempty"`
	Expires time.Time `json:"e"`
	CSRF    string    `json:"c"`
}

// login is the sign-in in progress: state, nonce and PKCE verifier, until the provider returns.
type login struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Expires  time.Time `json:"e"`
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) webRoutes() {
	if s.cit.web == nil {
		return
	}
	s.add(http.MethodGet, "/", s.queued(s.webHome), "public", string(issuer.RoleCitizen))
	s.add(http.MethodGet, "/login", s.queued(s.webLogin), "public")
	s.add(http.MethodGet, "/callback", s.queued(s.webCallback), "public")
	// Anyone may sign out: it only ends the session the browser holds.
	s.add(http.MethodPost, "/logout", s.webLogout, "public")
	s.add(http.MethodGet, "/static/site.css", s.webCSS, "public")
	auth := s.sessionCitizen
	page := s.citizenRoute(auth, s.webCertificate)
	s.add(http.MethodGet, "/certificates/:uvci", s.queued(func(c echo.Context) error {
		if _, ok := s.currentSession(c); !ok && c.Request().Header.Get(echo.HeaderAuthorization) == "" {
			// Signed out (or the session ended): the sign-in page, as the 401 it is.
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="`+citizenRealm+`"`)
			lang := s.language(c)
			return s.renderPage(c, http.StatusUnauthorized, "landing", pageData{Lang: lang, Title: translate(lang, "landing.title")})
		}
		return page(c)
	}), string(issuer.RoleCitizen))
	s.add(http.MethodGet, "/certificates/:uvci/qr.png", s.queued(s.citizenRoute(auth, s.myCertificate(docQR))), string(issuer.RoleCitizen))
	s.add(http.MethodGet, "/certificates/:uvci/pdf", s.queued(s.citizenRoute(auth, s.myCertificate(docPDF))), string(issuer.RoleCitizen))
}

// pageHeaders: no script at all, nothing framed, nothing cached, no referrer (paths carry UVCIs).
func pageHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	h.Set(echo.HeaderCacheControl, "no-store")
}

func (s *Server) secure(c echo.Context) bool {
	if s.cit.web.o.PublicURL != "" {
		return strings.HasPrefix(s.cit.web.o.PublicURL, "https://")
	}
	return c.Request().TLS != nil
}

func (s *Server) setCookie(c echo.Context, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.secure(c), SameSite: http.SameSiteLaxMode}
	if maxAge < 0 {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(maxAge / time.Second)
	}
	c.SetCookie(ck)
}

// currentSession reads a valid, unexpired session; ok false otherwise.
func (s *Server) currentSession(c echo.Context) (session, bool) {
	// The queue, the route and the page each ask; the cookie is opened once per request.
	if o, ok := c.Get(keySession).(openedSession); ok {
		return o.ss, o.ok
	}
	ss, ok := s.openSession(c)
	c.Set(keySession, openedSession{ss: ss, ok: ok})
	return ss, ok
}

// openedSession is the request's session cookie as currentSession opened it.
type openedSession struct {
	ss session
	ok bool
}

func (s *Server) openSession(c echo.Context) (session, bool) {
	ck, err := c.Cookie(cookieSession)
	if err != nil {
		return session{}, false
	}
	var ss session
	if err := s.cit.web.open(cookieSession, ck.Value, &ss); err != nil || !s.now().Before(ss.Expires) {
		return session{}, false
	}
	return ss, true
}

// sessionCitizen authenticates a page request by its session cookie or, without one, as the API
// does, by a bearer token.
func (s *Server) sessionCitizen(c echo.Context) (pnr.Number, error) {
	if ss, ok := s.currentSession(c); ok {
		if n, err := parseNumber(ss.PNR, s.now()); err == nil {
			return n, nil
		}
	}
	return s.bearerCitizen(c)
}

func parseNumber(digits string, now time.Time) (pnr.Number, error) {
	n, err := pnr.Parse(digits, pnr.Personnummer, now)
	if err != nil {
		n, err = pnr.Parse(digits, pnr.Samordningsnummer, now)
	}
	return n, err
}

// language: ?lang= (remembered in a cookie), else the cookie, else Accept-Language; Swedish by default.
func (s *Server) language(c echo.Context) string {
	if l := c.QueryParam("lang"); l == "sv" || l == "en" {
		c.SetCookie(&http.Cookie{Name: cookieLang, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, Secure: s.secure(c)})
		return l
	}
	if ck, err := c.Cookie(cookieLang); err == nil && (ck.Value == "sv" || ck.Value == "en") {
		return ck.Value
	}
	return acceptLanguage(c.Request().Header.Get("Accept-Language"))
}

type pageData struct {
	Lang, Title, CSRF, Name, Error string
	SignedIn                       bool
	Certificates                   []certView
	C                              certView
	QRWidth, QRHeight              int
	Holder, BirthDate              string
	Rows                           []row
	// Refresh, when set, reloads the page after that many seconds (the waiting page).
	Refresh string
	Queue   *queueView
}

type row struct{ Label, Value string }

type certView struct {
	UVCI, KindTitle, Issued, ValidUntil, Status, StatusText string
	Sandbox                                                 bool
	Page, QR, PDF                                           string
}

func (s *Server) renderPage(c echo.Context, status int, page string, d pageData) error {
	pageHeaders(c)
	var buf bytes.Buffer
	if err := s.cit.web.pages[page].ExecuteTemplate(&buf, "layout", d); err != nil {
		return fmt.Errorf("page %s: %w", page, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

func (s *Server) viewOf(ct issuer.Certificate, revoked bool, lang string) certView {
	base := "/certificates/" + url.PathEscape(ct.UVCI)
	st := statusOf(ct, revoked, s.now())
	return certView{
		UVCI:       ct.UVCI,
		KindTitle:  translate(lang, "kind."+string(ct.Kind)),
		Issued:     ct.IssuedAt.In(s.zone).Format("2006-01-02"),
		ValidUntil: ct.ExpiresAt.In(s.zone).Format("2006-01-02 15:04"),
		Status:     st,
		StatusText: translate(lang, "status."+st),
		Sandbox:    ct.Environment == issuer.Sandbox,
		Page:       base, QR: base + "/qr.png", PDF: base + "/pdf",
	}
}

// webHome is the page at /: the sign-in when there is no session, the certificates when there is.
func (s *Server) webHome(c echo.Context) error {
	lang := s.language(c)
	ss, ok := s.currentSession(c)
	if !ok {
		d := pageData{Lang: lang, Title: translate(lang, "landing.title")}
		if e := c.QueryParam("error"); e != "" {
			d.Error = translate(lang, "error."+e)
		}
		return s.renderPage(c, http.StatusOK, "landing", d)
	}
	return s.citizenRoute(s.sessionCitizen, func(c echo.Context, n pnr.Number) error {
		certs, err := s.cit.view.CertificatesOf(c.Request().Context(), n)
		if err != nil {
			return err
		}
		d := pageData{Lang: lang, Title: translate(lang, "list.title"), SignedIn: true, CSRF: ss.CSRF, Name: ss.Name}
		for _, ct := range certs {
			d.Certificates = append(d.Certificates, s.viewOf(ct.Certificate, ct.Revoked, lang))
		}
		return s.renderPage(c, http.StatusOK, "list", d)
	})(c)
}

// webCertificate is one certificate's page: its QR code at full size, its details, the PDF.
func (s *Server) webCertificate(c echo.Context, n pnr.Number) error {
	lang := s.language(c)
	u, err := url.PathUnescape(c.Param("uvci"))
	if err != nil {
		return notFoundCertificate()
	}
	docs, err := s.documentsOf(c, n, u)
	if err != nil {
		return err
	}
	revoked, err := s.cit.view.IsRevoked(c.Request().Context(), docs.cert.UVCI)
	if err != nil {
		return err
	}
	ss, _ := s.currentSession(c)
	pc := s.printable(docs.cert, docs.payload)
	d := pageData{Lang: lang, SignedIn: true, CSRF: ss.CSRF, C: s.viewOf(docs.cert, revoked, lang),
		QRWidth: docs.qrWidth, QRHeight: docs.qrHeight,
		Holder: strings.TrimSpace(pc.GivenName + " " + pc.FamilyName), BirthDate: pc.BirthDate}
	d.Title = d.C.KindTitle
	for _, f := range pc.Fields {
		label := f.LabelEN
		if lang == "sv" {
			label = f.LabelSV
		}
		d.Rows = append(d.Rows, row{Label: label, Value: f.Value})
	}
	return s.renderPage(c, http.StatusOK, "certificate", d)
}

func (s *Server) webCSS(c echo.Context) error {
	b, err := webFiles.ReadFile("web/site.css")
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=3600")
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", b)
}

// oauth finds the provider's endpoints by discovery, once; a failure is retried on the next
// sign-in.
func (s *Server) oauth(ctx context.Context, redirect string) (*oauth2.Config, error) {
	w := s.cit.web
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.endpoint == nil {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, w.o.HTTPClient), w.o.Issuer)
		if err != nil {
			return nil, fmt.Errorf("discover identity provider %s: %w", w.o.Issuer, err)
		}
		ep := p.Endpoint()
		ep.AuthStyle = oauth2.AuthStyleInParams
		w.endpoint = &ep
	}
	return &oauth2.Config{ClientID: w.o.ClientID, Endpoint: *w.endpoint, RedirectURL: redirect,
		Scopes: []string{oidc.ScopeOpenID, "profile", "https://id.oidc.se/scope/naturalPersonNumber"}}, nil
}

func (s *Server) redirectURL(c echo.Context) string {
	base := s.cit.web.o.PublicURL
	if base == "" {
		base = c.Scheme() + "://" + c.Request().Host
	}
	return base + "/callback"
}

// webLogin starts the sign-in: a fresh state, nonce and PKCE verifier, kept sealed in a cookie,
// and a redirect to the provider.
func (s *Server) webLogin(c echo.Context) error {
	cfg, err := s.oauth(c.Request().Context(), s.redirectURL(c))
	if err != nil {
		s.log.WarnContext(c.Request().Context(), "sign-in unavailable", "request_id", requestID(c), "err", err)
		return c.Redirect(http.StatusSeeOther, "/?error=idp")
	}
	l := login{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(), Expires: s.now().Add(loginTTL)}
	v, err := s.cit.web.seal(cookieLogin, l)
	if err != nil {
		return err
	}
	s.setCookie(c, cookieLogin, v, loginTTL)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.Redirect(http.StatusSeeOther, cfg.AuthCodeURL(l.State, oauth2.S256ChallengeOption(l.Verifier), oidc.Nonce(l.Nonce)))
}

// webCallback finishes the sign-in: the state must match the cookie, the code is exchanged with
// the PKCE verifier, and the ID token must verify with the nonce.
func (s *Server) webCallback(c echo.Context) error {
	ctx := c.Request().Context()
	fail := func(reason string, err error) error {
		s.log.InfoContext(ctx, "sign-in failed", "request_id", requestID(c), "reason", reason, "err", err)
		s.setCookie(c, cookieLogin, "", -1)
		return c.Redirect(http.StatusSeeOther, "/?error="+reason)
	}
	ck, err := c.Cookie(cookieLogin)
	if err != nil {
		return fail("expired", err)
	}
	var l login
	if err := s.cit.web.open(cookieLogin, ck.Value, &l); err != nil || !s.now().Before(l.Expires) {
		return fail("expired", err)
	}
	q := c.QueryParams()
	if !hmac.Equal([]byte(q.Get("state")), []byte(l.State)) {
		return fail("state", nil)
	}
	if e := q.Get("error"); e != "" {
		return fail("denied", errors.New(e))
	}
	if iss := q.Get("iss"); iss != "" && iss != s.cit.web.o.Issuer {
		return fail("state", fmt.Errorf("callback from issuer %q", iss))
	}
	if s.cit.admit != nil {
		t, _, wait := s.cit.admit.Acquire(ctx)
		if t == nil {
			return overloaded(wait)
		}
		defer t.Release()
	}
	cfg, err := s.oauth(ctx, s.redirectURL(c))
	if err != nil {
		return fail("idp", err)
	}
	tok, err := cfg.Exchange(oidc.ClientContext(ctx, s.cit.web.o.HTTPClient), q.Get("code"), oauth2.VerifierOption(l.Verifier))
	if err != nil {
		return fail("idp", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	who, err := s.cit.verify.VerifyID(ctx, rawID, l.Nonce)
	if err != nil {
		return fail("token", err)
	}
	ss := session{PNR: who.PNR.Digits(), Name: who.Name, Expires: s.now().Add(s.cit.web.o.SessionTTL), CSRF: randomToken()}
	v, err := s.cit.web.seal(cookieSession, ss)
	if err != nil {
		return err
	}
	s.setCookie(c, cookieLogin, "", -1)
	s.setCookie(c, cookieSession, v, s.cit.web.o.SessionTTL)
	s.log.InfoContext(ctx, "citizen signed in", "request_id", requestID(c), "citizen", who.PNR)
	return c.Redirect(http.StatusSeeOther, "/")
}

// webLogout ends the session. The form carries the session's CSRF token (and SameSite=Lax keeps
// the cookie off cross-site posts anyway).
func (s *Server) webLogout(c echo.Context) error {
	ss, ok := s.currentSession(c)
	if ok && !hmac.Equal([]byte(c.FormValue("csrf")), []byte(ss.CSRF)) {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	s.setCookie(c, cookieSession, "", -1)
	return c.Redirect(http.StatusSeeOther, "/?signedout=1")
}
