package httpapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
)

// The support page: server-rendered HTML, in Swedish and English, over the same search as
// GET /api/v1/audit (and so audited the same way). Staff sign in with their support credential,
// which the page keeps in an HttpOnly, SameSite=Strict cookie scoped to /support; the page runs
// no script at all, and its Content-Security-Policy allows none.

const (
	supportCookie = "dcc_support"
	// supportSession is how long a sign-in lasts; the credential's own revocation ends it sooner.
	supportSession = 8 * time.Hour
)

//go:embed support.html
var supportPageHTML string

//go:embed support.css
var supportPageStyle string

// supportRoles may use the page.
var supportRoles = []string{string(issuer.RoleSupport), string(issuer.RoleSupportAdmin)}

func (s *Server) supportRoutes() {
	page := template.Must(template.New("support").Funcs(template.FuncMap{
		"list": func(v ...string) []string { return v },
		"json": func(v any) (string, error) {
			b, err := json.MarshalIndent(v, "", "  ")
			return string(b), err
		},
	}).Parse(supportPageHTML))
	s.add(http.MethodGet, "/support/style.css", func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "max-age=3600")
		c.Response().Header().Set("X-Content-Type-Options", "nosniff")
		return c.Blob(http.StatusOK, "text/css; charset=utf-8", []byte(supportPageStyle))
	}, "public")
	s.add(http.MethodGet, "/support", func(c echo.Context) error { return s.supportHome(c, page) }, "public")
	s.add(http.MethodPost, "/support/session", func(c echo.Context) error { return s.supportSignIn(c, page) }, "public")
	s.add(http.MethodPost, "/support/signout", func(c echo.Context) error { return s.supportSignOut(c, page) }, supportRoles...)
	s.add(http.MethodGet, "/support/search", func(c echo.Context) error { return s.supportSearch(c, page) }, supportRoles...)
	s.add(http.MethodPost, "/support/person", func(c echo.Context) error { return s.supportPerson(c, page) },
		string(issuer.RoleSupportAdmin))
}

// supportView is what the template renders.
type supportView struct {
	T        map[string]string // the texts of the page's language
	Lang     string
	Other    string // the other language, for the switch
	OtherURL string
	SignIn   bool   // show the sign-in form
	Error    string // a sentence for the sign-in form
	Who      *issuer.Principal
	Admin    bool
	Filters  url.Values
	Searched bool
	Problems []problem.Problem
	Events   []auditEvent
	Next     string // URL of the next page
	Person   bool   // results of a search by person
}

func (s *Server) supportLang(c echo.Context) string {
	if l := c.QueryParam("lang"); l == "sv" || l == "en" {
		return l
	}
	if l := c.FormValue("lang"); l == "sv" || l == "en" {
		return l
	}
	return acceptLanguage(c.Request().Header.Get("Accept-Language"))
}

func (s *Server) newSupportView(c echo.Context) supportView {
	lang := s.supportLang(c)
	v := supportView{T: supportTexts[lang], Lang: lang, Other: "en"}
	if lang == "en" {
		v.Other = "sv"
	}
	q := c.Request().URL.Query()
	q.Set("lang", v.Other)
	q.Del("cursor")
	path := c.Request().URL.Path
	if c.Request().Method != http.MethodGet {
		path = "/support/search"
		q = url.Values{"lang": {v.Other}}
	}
	v.OtherURL = path + "?" + q.Encode()
	return v
}

// renderSupport writes the page with the security headers every support answer carries.
func (s *Server) renderSupport(c echo.Context, page *template.Template, status int, v supportView) error {
	var buf bytes.Buffer
	if err := page.Execute(&buf, v); err != nil {
		return fmt.Errorf("support page: %w", err)
	}
	supportHeaders(c)
	return c.HTMLBlob(status, buf.Bytes())
}

func supportHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set(echo.HeaderCacheControl, "no-store")
}

// supportCredential returns the caller's support credential: the session cookie, or a bearer
// header (for scripts and the role tests). Problems answer a missing or unusable one.
func (s *Server) supportCredential(c echo.Context) (issuer.Principal, error) {
	token := bearer(c.Request())
	if token == "" {
		if ck, err := c.Cookie(supportCookie); err == nil {
			token = ck.Value
		}
	}
	return s.authenticateKey(c, token)
}

// authenticateKey checks a key the page was given (form or cookie) within the client address's
// allowance of failed authentications, as authenticate does for bearer headers.
func (s *Server) authenticateKey(c echo.Context, token string) (issuer.Principal, error) {
	if token == "" {
		// Not signed in: the sign-in page, not a failed attempt.
		return issuer.Principal{}, problem.New(problem.CodeUnauthenticated, "", "")
	}
	addr := c.RealIP()
	if wait, blocked := s.authFails.blocked(addr); blocked {
		return issuer.Principal{}, problem.New(problem.CodeRateLimited, "",
			"Too many failed sign-ins from this address. Wait, then try again.").WithRetryAfter(wait)
	}
	p, err := s.creds.Authenticate(c.Request().Context(), token)
	if l, ok := problem.As(err); ok && l.Class() == problem.ClassUnauthenticated {
		s.authFails.failed(addr)
	}
	return p, err
}

// supportAuth authenticates a page request and checks its role; on failure it renders the
// sign-in form (401) or a refusal (403) and returns ok false.
func (s *Server) supportAuth(c echo.Context, page *template.Template, roles ...string) (issuer.Principal, bool, error) {
	p, err := s.supportCredential(c)
	v := s.newSupportView(c)
	if err != nil {
		probs, _ := problem.As(err)
		status := probs.Status()
		v.SignIn = true
		if status != http.StatusUnauthorized {
			v.Error = v.T["unavailable"]
		}
		return issuer.Principal{}, false, s.renderSupport(c, page, status, v)
	}
	if !slices.Contains(roles, string(p.Role)) {
		v.SignIn = true
		v.Error = v.T["forbidden"]
		setProblemCodes(c, []string{problem.CodeForbidden})
		return issuer.Principal{}, false, s.renderSupport(c, page, http.StatusForbidden, v)
	}
	return p, true, nil
}

func (s *Server) supportHome(c echo.Context, page *template.Template) error {
	if p, err := s.supportCredential(c); err == nil && slices.Contains(supportRoles, string(p.Role)) {
		return c.Redirect(http.StatusSeeOther, "/support/search?lang="+s.supportLang(c))
	}
	v := s.newSupportView(c)
	v.SignIn = true
	return s.renderSupport(c, page, http.StatusOK, v)
}

func (s *Server) supportSignIn(c echo.Context, page *template.Template) error {
	v := s.newSupportView(c)
	v.SignIn = true
	if !sameOrigin(c) {
		v.Error = v.T["forbidden"]
		return s.renderSupport(c, page, http.StatusForbidden, v)
	}
	key := strings.TrimSpace(c.FormValue("key"))
	p, err := s.authenticateKey(c, key)
	if err != nil {
		probs, _ := problem.As(err)
		status := probs.Status()
		v.Error = v.T["badkey"]
		if status != http.StatusUnauthorized {
			v.Error = v.T["unavailable"]
		}
		setProblemCodes(c, probs.Codes())
		return s.renderSupport(c, page, status, v)
	}
	if !slices.Contains(supportRoles, string(p.Role)) {
		v.Error = v.T["forbidden"]
		setProblemCodes(c, []string{problem.CodeForbidden})
		return s.renderSupport(c, page, http.StatusForbidden, v)
	}
	c.SetCookie(&http.Cookie{Name: supportCookie, Value: key, Path: "/support", HttpOnly: true,
		Secure: c.Scheme() == "https", SameSite: http.SameSiteStrictMode, MaxAge: int(supportSession / time.Second)})
	supportHeaders(c)
	return c.Redirect(http.StatusSeeOther, "/support/search?lang="+v.Lang)
}

func (s *Server) supportSignOut(c echo.Context, page *template.Template) error {
	if _, ok, err := s.supportAuth(c, page, supportRoles...); !ok {
		return err
	}
	c.SetCookie(&http.Cookie{Name: supportCookie, Value: "", Path: "/support", HttpOnly: true,
		Secure: c.Scheme() == "https", SameSite: http.SameSiteStrictMode, MaxAge: -1})
	supportHeaders(c)
	return c.Redirect(http.StatusSeeOther, "/support?lang="+s.supportLang(c))
}

// sameOrigin refuses form posts from other sites (besides SameSite=Strict on the cookie): an
// Origin header, when a browser sends one, must name this host.
func sameOrigin(c echo.Context) bool {
	origin := c.Request().Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == c.Request().Host
}

func (s *Server) supportSearch(c echo.Context, page *template.Template) error {
	p, ok, err := s.supportAuth(c, page, supportRoles...)
	if !ok {
		return err
	}
	v := s.newSupportView(c)
	v.Who, v.Admin = &p, p.Role == issuer.RoleSupportAdmin
	v.Filters = c.Request().URL.Query()
	if !anyFilter(v.Filters) {
		return s.renderSupport(c, page, http.StatusOK, v)
	}
	return s.supportResults(c, page, v, p, v.Filters, "")
}

// supportPerson serves a support administrator's search by personnummer, posted so that the
// number never appears in a URL.
func (s *Server) supportPerson(c echo.Context, page *template.Template) error {
	p, ok, err := s.supportAuth(c, page, string(issuer.RoleSupportAdmin))
	if !ok {
		return err
	}
	v := s.newSupportView(c)
	v.Who, v.Admin, v.Person = &p, true, true
	if !sameOrigin(c) {
		return s.renderSupport(c, page, http.StatusForbidden, v)
	}
	form := url.Values{"reason": {c.FormValue("reason")}, "environment": {c.FormValue("environment")}}
	v.Filters = form
	// One page, as large as pages go: a person's events are few, and a posted search has no
	// next-page link (it would carry the number in a URL).
	form = url.Values{"reason": form["reason"], "environment": form["environment"], "limit": {strconv.Itoa(issuer.MaxAuditPage)}}
	return s.supportResults(c, page, v, p, form, strings.TrimSpace(c.FormValue("personnummer")))
}

func anyFilter(v url.Values) bool {
	for k, vals := range v {
		if k != "lang" && slices.ContainsFunc(vals, func(s string) bool { return strings.TrimSpace(s) != "" }) {
			return true
		}
	}
	return false
}

func (s *Server) supportResults(c echo.Context, page *template.Template, v supportView, p issuer.Principal, form url.Values, personnummer string) error {
	v.Searched = true
	search, probs := parseAuditSearch(form, s.zone)
	if probs != nil {
		v.Problems = probs
		setProblemCodes(c, probs.Codes())
		return s.renderSupport(c, page, probs.Status(), v)
	}
	search.Personnummer = personnummer
	search.RequestID, search.Route, search.Received = requestID(c), c.Request().Method+" "+c.Path(), s.now()
	res, err := s.issuer.SearchAudit(c.Request().Context(), p, search)
	if err != nil {
		probs, ok := problem.As(err)
		if !ok {
			return err
		}
		v.Problems = probs
		setProblemCodes(c, probs.Codes())
		return s.renderSupport(c, page, probs.Status(), v)
	}
	v.Events = renderAuditPage(res).Events
	if res.Next != "" && !v.Person {
		next := url.Values{}
		for k, vals := range form {
			next[k] = vals
		}
		next.Set("cursor", res.Next)
		next.Set("lang", v.Lang)
		v.Next = "/support/search?" + next.Encode()
	}
	return s.renderSupport(c, page, http.StatusOK, v)
}

// supportTexts are the page's words in each language.
var supportTexts = map[string]map[string]string{
	"sv": {
		"title":        "Supporten: sök i utfärdandeloggen",
		"langname":     "English",
		"signin":       "Logga in",
		"signinhelp":   "Logga in med din supportnyckel (dccctl support add). Sidan sparar den i en cookie som bara servern kan läsa, i högst 8 timmar.",
		"key":          "Supportnyckel",
		"badkey":       "Nyckeln gäller inte. Kontrollera den, eller be om en ny.",
		"forbidden":    "Den här nyckeln får inte använda supportsidan.",
		"unavailable":  "Tjänsten kan inte kontrollera nyckeln just nu. Försök igen om en stund.",
		"signedinas":   "Inloggad som",
		"signout":      "Logga ut",
		"search":       "Sök",
		"request_id":   "RequestID",
		"uvci":         "UVCI",
		"provider":     "Vårdgivare (id)",
		"outcome":      "Utfall",
		"code":         "Felkod",
		"source":       "Identitetskälla",
		"kind":         "Intygstyp",
		"environment":  "Miljö",
		"from":         "Från (datum eller tid)",
		"to":           "Till (datum eller tid)",
		"any":          "alla",
		"results":      "Träffar",
		"none":         "Inga händelser matchar.",
		"next":         "Nästa sida",
		"at":           "Tid",
		"status":       "Status",
		"codes":        "Felkoder",
		"birthyear":    "Födelseår",
		"latency":      "Svarstid (ms)",
		"answer":       "Svaret som vårdgivaren fick",
		"fhirpath":     "FHIRPath",
		"text":         "Text",
		"raw":          "OperationOutcome (JSON)",
		"person":       "Sök en person (administratör)",
		"personhelp":   "Personnumret skickas i formuläret, aldrig i adressen, och sparas inte. Sökningen och skälet loggas.",
		"personnummer": "Personnummer (12 siffror)",
		"reason":       "Skäl (t.ex. ärendenummer)",
		"problems":     "Sökningen kunde inte göras:",
		"audited":      "Alla sökningar loggas: vem, filter och antal träffar.",
		"notes":        "Anteckningar",
	},
	"en": {
		"title":        "Support: search the issuance log",
		"langname":     "Svenska",
		"signin":       "Sign in",
		"signinhelp":   "Sign in with your support key (dccctl support add). The page keeps it in a cookie only the server can read, for at most 8 hours.",
		"key":          "Support key",
		"badkey":       "This key is not valid. Check it, or ask for a new one.",
		"forbidden":    "This key may not use the support page.",
		"unavailable":  "The service cannot check keys just now. Try again in a moment.",
		"signedinas":   "Signed in as",
		"signout":      "Sign out",
		"search":       "Search",
		"request_id":   "RequestID",
		"uvci":         "UVCI",
		"provider":     "Provider (id)",
		"outcome":      "Outcome",
		"code":         "Error code",
		"source":       "Identity source",
		"kind":         "Certificate kind",
		"environment":  "Environment",
		"from":         "From (date or time)",
		"to":           "To (date or time)",
		"any":          "any",
		"results":      "Results",
		"none":         "No events match.",
		"next":         "Next page",
		"at":           "Time",
		"status":       "Status",
		"codes":        "Error codes",
		"birthyear":    "Birth year",
		"latency":      "Latency (ms)",
		"answer":       "The answer the provider received",
		"fhirpath":     "FHIRPath",
		"text":         "Text",
		"raw":          "OperationOutcome (JSON)",
		"person":       "Search a person (administrators)",
		"personhelp":   "The personnummer is sent in the form, never in the address, and is not stored. The search and its reason are recorded.",
		"personnummer": "Personnummer (12 digits)",
		"reason":       "Reason (e.g. ticket number)",
		"problems":     "The search could not be run:",
		"audited":      "Every search is recorded: who, the filter and the number of results.",
		"notes":        "Notes",
	},
}
