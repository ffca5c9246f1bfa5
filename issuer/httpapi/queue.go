package httpapi

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/queue"
)

// The virtual queue's cookies: the browser's binding value, the signed ticket while waiting, the
// signed pass once admitted. All HttpOnly; none holds anything personal.
const (
	cookieQueueBinding = "dcc_qb"
	cookieQueueTicket  = "dcc_qt"
	cookieQueuePass    = "dcc_qp"
	// queueBindingTTL is how long a browser keeps its binding value: longer than any wait.
	queueBindingTTL = 24 * time.Hour
)

// Extensions of the OperationOutcome issue of a `queued` answer: the caller's place.
const (
	extQueueNumber   = "https://dcc.se/fhir/StructureDefinition/queue-number"
	extQueuePosition = "https://dcc.se/fhir/StructureDefinition/queue-position"
	extQueueWait     = "https://dcc.se/fhir/StructureDefinition/queue-wait-seconds"
	extQueueAdmitAt  = "https://dcc.se/fhir/StructureDefinition/queue-admit-at"
)

// queued puts the virtual queue in front of a citizens' entry: a valid web session, or a valid
// pass, goes through; a ticket whose time has come is exchanged for a pass and goes through;
// everyone else waits, on the waiting page or, for the API, with 503 queued. Without a queue
// configured it is h itself.
func (s *Server) queued(h echo.HandlerFunc) echo.HandlerFunc {
	if s.cit == nil || s.cit.queue == nil {
		return h
	}
	return func(c echo.Context) error {
		if s.cit.web != nil {
			// A session was opened through the queue (the sign-in's return is queued) and ends
			// on its own: it needs no pass.
			if _, ok := s.currentSession(c); ok {
				return h(c)
			}
		}
		v := queue.Visitor{
			Binding: cookieValue(c, cookieQueueBinding),
			Ticket:  cookieValue(c, cookieQueueTicket),
			Pass:    cookieValue(c, cookieQueuePass),
		}
		if s.cit.newcomers != nil {
			v.NewPlace = func() error { return s.cit.newcomers.allow(issuer.Principal{ID: "address " + c.RealIP()}) }
		}
		d, err := s.cit.queue.Enter(c.Request().Context(), v)
		if err != nil {
			return err
		}
		if d.Refused != queue.NotRefused {
			s.log.InfoContext(c.Request().Context(), "queue ticket refused", "request_id", requestID(c), "reason", d.Refused.String())
		}
		s.setQueueCookies(c, d)
		if d.Admit {
			return h(c)
		}
		return s.waiting(c, d)
	}
}

func cookieValue(c echo.Context, name string) string {
	ck, err := c.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

func (s *Server) setQueueCookies(c echo.Context, d queue.Decision) {
	now := s.now()
	set := func(name, value string, maxAge time.Duration) {
		ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.queueSecure(c), SameSite: http.SameSiteLaxMode}
		if maxAge <= 0 {
			ck.MaxAge = -1
		} else {
			ck.MaxAge = int(math.Ceil(maxAge.Seconds()))
		}
		c.SetCookie(ck)
	}
	if d.Binding != "" {
		set(cookieQueueBinding, d.Binding, queueBindingTTL)
	}
	switch {
	case d.Ticket != "":
		set(cookieQueueTicket, d.Ticket, d.TicketEnds.Sub(now))
	case d.ClearTicket:
		set(cookieQueueTicket, "", -1)
	}
	if d.Pass != "" {
		set(cookieQueuePass, d.Pass, d.PassUntil.Sub(now))
	} else if d.Refused != queue.NotRefused && !d.Admit && cookieValue(c, cookieQueuePass) != "" {
		set(cookieQueuePass, "", -1)
	}
}

func (s *Server) queueSecure(c echo.Context) bool {
	if s.cit.web != nil {
		return s.secure(c)
	}
	return c.Request().TLS != nil
}

// queueRefresh is when a waiting visitor should come back: at their time when it is near,
// otherwise at half the remaining wait, between 10 seconds and a minute, so that a long line
// costs a handful of requests a visitor while the page stays current.
func queueRefresh(wait time.Duration) int {
	var d time.Duration
	switch {
	case wait <= 10*time.Second:
		d = wait
	default:
		d = min(max(wait/2, 10*time.Second), time.Minute)
	}
	return max(1, int(math.Ceil(d.Seconds())))
}

// waiting answers a visitor who waits: the waiting page for a browser, 503 queued for the API.
func (s *Server) waiting(c echo.Context, d queue.Decision) error {
	refresh := queueRefresh(d.Wait)
	c.Set(keyQueued, true)
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	if wantsPage(c) && s.cit.web != nil {
		h.Set("Retry-After", strconv.Itoa(refresh))
		lang := s.language(c)
		pageHeaders(c)
		return c.HTMLBlob(http.StatusServiceUnavailable, s.cit.web.queuePage(lang, queueView{
			Refresh:  strconv.Itoa(refresh),
			Number:   strconv.FormatUint(d.Number, 10),
			Position: strconv.FormatInt(d.Position, 10),
			Wait:     waitText(lang, d.Wait),
			At:       d.AdmitAt.In(s.zone).Format("15:04:05"),
			AtISO:    d.AdmitAt.UTC().Format(time.RFC3339Nano),
			Keep:     fmt.Sprintf(translate(lang, "queue.keep"), int(d.TicketEnds.Sub(d.AdmitAt).Minutes())),
			Again:    sameURL(c),
		}))
	}
	p := problem.New(problem.CodeQueued, "", fmt.Sprintf(
		"You are number %s in the queue, place %d, with about %s to wait. Send the request again after %d seconds (Retry-After) with the cookies of this answer; your place is kept until %s.",
		strconv.FormatUint(d.Number, 10), d.Position, seconds(d.Wait), refresh, d.TicketEnds.UTC().Format(time.RFC3339))).
		WithRetryAfter(time.Duration(refresh) * time.Second)
	pos, wait := d.Position, int64(math.Ceil(d.Wait.Seconds()))
	return writeProblemsWith(c, p, []Extension{
		{URL: extQueueNumber, ValueString: strconv.FormatUint(d.Number, 10)},
		{URL: extQueuePosition, ValueInteger: &pos},
		{URL: extQueueWait, ValueInteger: &wait},
		{URL: extQueueAdmitAt, ValueInstant: d.AdmitAt.UTC().Format(time.RFC3339Nano)},
	})
}

// wantsPage: the web page's routes answer with the waiting page unless the client asks for JSON
// only; the API's routes always answer with JSON.
func wantsPage(c echo.Context) bool {
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		return false
	}
	accept := c.Request().Header.Get(echo.HeaderAccept)
	return accept == "" || strings.Contains(accept, "text/html") || strings.Contains(accept, "*/*") || !strings.Contains(accept, "json")
}

// sameURL is the request's own path and query, for the waiting page's "try now" link; never a
// URL that could point elsewhere.
func sameURL(c echo.Context) string {
	u := c.Request().URL.RequestURI()
	if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") || strings.HasPrefix(u, "/\\") {
		return "/"
	}
	return u
}

// queueView is what the waiting page shows.
type queueView struct {
	Refresh, Number, Position, Wait, At, AtISO, Keep, Again string
}

// The waiting page is served to everyone in the line, several times each, so it is rendered
// once per language through the page's templates with these placeholders in the place of the
// values, and each answer only replaces them with the values, HTML-escaped: html/template's
// reflection made up most of its cost (docs/perf.md).
var queuePlaceholders = queueView{Refresh: "QQREFRESHQQ", Number: "QQNUMBERQQ", Position: "QQPOSITIONQQ", Wait: "QQWAITQQ",
	At: "QQATQQ", AtISO: "QQATISOQQ", Keep: "QQKEEPQQ", Again: "QQAGAINQQ"}

func (v queueView) pairs() []string {
	return []string{v.Refresh, v.Number, v.Position, v.Wait, v.At, v.AtISO, v.Keep, v.Again}
}

// renderQueuePages renders the waiting page of each language with the placeholders, and checks
// that each placeholder came through the templates unchanged, once.
func (w *web) renderQueuePages() error {
	w.queuePages = map[string]string{}
	for _, lang := range []string{"sv", "en"} {
		var buf bytes.Buffer
		d := pageData{Lang: lang, Title: translate(lang, "queue.title"), Refresh: queuePlaceholders.Refresh, Queue: &queuePlaceholders}
		if err := w.pages["queue"].ExecuteTemplate(&buf, "layout", d); err != nil {
			return fmt.Errorf("web: waiting page: %w", err)
		}
		page := buf.String()
		for _, p := range queuePlaceholders.pairs() {
			if strings.Count(page, p) != 1 {
				return fmt.Errorf("web: waiting page: placeholder %s appears %d times", p, strings.Count(page, p))
			}
		}
		w.queuePages[lang] = page
	}
	return nil
}

// queuePage is the waiting page in lang with v's values, each escaped for HTML (text and
// quoted attribute values alike).
func (w *web) queuePage(lang string, v queueView) []byte {
	ph, vals := queuePlaceholders.pairs(), v.pairs()
	args := make([]string, 0, 2*len(ph))
	for i := range ph {
		args = append(args, ph[i], html.EscapeString(vals[i]))
	}
	return []byte(strings.NewReplacer(args...).Replace(w.queuePages[lang]))
}

// waitText says a wait in words: under a minute, or about N minutes.
func waitText(lang string, wait time.Duration) string {
	if wait < time.Minute {
		return translate(lang, "queue.underminute")
	}
	return fmt.Sprintf(translate(lang, "queue.minutes"), int(math.Ceil(wait.Minutes())))
}
