package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/httpapi"
	"github.com/sedcc/dcc/issuer/idp"
)

// settable is a clock the test moves.
type settable struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settable) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *settable) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *settable { return &settable{t: time.Now().UTC().Truncate(time.Second)} }

// get fetches path with the browser's cookies and optional headers (name, value, ...).
func getWith(t *testing.T, c *http.Client, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

func cookieOf(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestQueueWaitingPage: past the rate, a newcomer gets the waiting page (503, Retry-After, a
// refresh without script, place and wait, in Swedish or English) and a signed ticket in
// HttpOnly cookies; at its time the same browser is let in.
func TestQueueWaitingPage(t *testing.T) {
	clk := newClock()
	e := newEnv(t, "embedded", envOptions{citizens: true, clock: clk.now, queueRate: 1, queueBurst: 1})
	first := webClient(t)
	if resp, body := getWith(t, first, e.url+"/"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="signin"`) {
		t.Fatalf("first visitor: %d %s", resp.StatusCode, body)
	}
	sv, en := webClient(t), webClient(t)
	resp, body := getWith(t, sv, e.url+"/", "Accept-Language", "sv-SE,sv;q=0.9")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("second visitor: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, want := range []string{`<meta http-equiv="refresh" content="1">`, "Du står i kö", `<dd id="queue-position">1</dd>`, "mindre än en minut", `lang="sv"`,
		`<time datetime="` + clk.now().Add(time.Second).Format(time.RFC3339Nano) + `">`} {
		if !strings.Contains(body, want) {
			t.Errorf("Swedish waiting page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(strings.ToLower(body), "<script") {
		t.Error("the waiting page has a script")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	for _, name := range []string{"dcc_qb", "dcc_qt"} {
		ck := cookieOf(resp, name)
		if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
			t.Errorf("cookie %s: %+v, want HttpOnly, SameSite=Lax", name, ck)
		}
	}

	resp, body = getWith(t, en, e.url+"/?lang=en")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "You are in the queue") ||
		!strings.Contains(body, `<dd id="queue-position">2</dd>`) || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("third visitor, English: %d %s", resp.StatusCode, body)
	}
	// What the request carries reaches the page escaped (its own address is the page's "try now" link).
	_, body = getWith(t, en, e.url+`/?lang=en&x="><script>alert(1)</script>`)
	if strings.Contains(body, "<script") || !strings.Contains(body, `href="/?lang=en&amp;x=&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`) {
		t.Errorf("the request's address on the page:\n%s", body)
	}
	// Coming back early: the same place, nearer.
	resp, body = getWith(t, sv, e.url+"/")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `<dd id="queue-position">1</dd>`) {
		t.Fatalf("second visitor back early: %d %s", resp.StatusCode, body)
	}
	clk.advance(time.Second)
	resp, body = getWith(t, sv, e.url+"/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="signin"`) {
		t.Fatalf("second visitor at its time: %d %s", resp.StatusCode, body)
	}
	if ck := cookieOf(resp, "dcc_qp"); ck == nil || !ck.HttpOnly || ck.MaxAge != 600 {
		t.Errorf("pass cookie %+v, want HttpOnly for 10 minutes", ck)
	}
	if ck := cookieOf(resp, "dcc_qt"); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("ticket cookie %+v, want cleared", ck)
	}
	// The English visitor's ticket is not the Swedish one's turn.
	if resp, _ := getWith(t, en, e.url+"/"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("third visitor one second early: %d", resp.StatusCode)
	}
	// Waiting is not a failure: the access log says it at info level.
	if strings.Contains(e.logs.String(), `"level":"WARN","msg":"http request"`) {
		t.Error("a waiting visitor's answer was logged as a warning")
	}
	// The sign-in itself goes through on the pass.
	if resp, _ := getWith(t, sv, e.url+"/login"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in with a pass: %d", resp.StatusCode)
	}
}

// TestQueueAPI: the API answers 503 queued with Retry-After and the place as JSON extensions;
// with the answer's cookies, the client is let in at its time.
func TestQueueAPI(t *testing.T) {
	clk := newClock()
	e := newEnv(t, "embedded", envOptions{citizens: true, clock: clk.now, queueRate: 2, queueBurst: 1})
	token := e.token(idp.Token{PNR: tolvan})
	c := e.issueFor(issuer.KindTest, tolvan, "t-queue")
	api := func(cl *http.Client) (*http.Response, string) {
		return getWith(t, cl, e.url+"/api/v1/me/certificates", "Authorization", "Bearer "+token)
	}
	if resp, body := api(webClient(t)); resp.StatusCode != http.StatusOK || !strings.Contains(body, c.uvci) {
		t.Fatalf("first client: %d %s", resp.StatusCode, body)
	}
	client := webClient(t)
	resp, body := api(client)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("second client: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: []byte(body)}
	if !a.has(t, problem.CodeQueued) {
		t.Fatalf("second client: %s, want queued", body)
	}
	ext := map[string]httpapi.Extension{}
	for _, x := range a.outcome(t).Issue[0].Extension {
		ext[x.URL[strings.LastIndex(x.URL, "/")+1:]] = x
	}
	if p := ext["queue-position"].ValueInteger; p == nil || *p != 1 {
		t.Errorf("position %v, want 1", p)
	}
	if w := ext["queue-wait-seconds"].ValueInteger; w == nil || *w != 1 {
		t.Errorf("wait %v, want 1 second", w)
	}
	at, err := time.Parse(time.RFC3339Nano, ext["queue-admit-at"].ValueInstant)
	if err != nil || !at.Equal(clk.now().Add(500*time.Millisecond)) {
		t.Errorf("admission time %q, want %s", ext["queue-admit-at"].ValueInstant, clk.now().Add(500*time.Millisecond))
	}
	if _, err := strconv.ParseUint(ext["queue-number"].ValueString, 10, 64); err != nil {
		t.Errorf("number %q", ext["queue-number"].ValueString)
	}
	// Without the cookies, a client is a newcomer: behind.
	if resp, _ := api(webClient(t)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("third client: %d", resp.StatusCode)
	}
	clk.advance(500 * time.Millisecond)
	if resp, body := api(client); resp.StatusCode != http.StatusOK || !strings.Contains(body, c.uvci) {
		t.Fatalf("second client at its time: %d %s", resp.StatusCode, body)
	}
	// Accept: application/json on a page route answers as the API does.
	resp, _ = getWith(t, webClient(t), e.url+"/", "Accept", "application/json")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/fhir+json") {
		t.Errorf("page route asked for JSON: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestQueueRefusesForgedAndForeignTickets: an edited ticket, a made-up pass and a ticket copied
// into another browser are not honoured: their bearer is a newcomer at the back.
func TestQueueRefusesForgedAndForeignTickets(t *testing.T) {
	clk := newClock()
	e := newEnv(t, "embedded", envOptions{citizens: true, clock: clk.now, queueRate: 1, queueBurst: 1})
	getWith(t, webClient(t), e.url+"/") // takes the burst
	owner := webClient(t)
	resp, _ := getWith(t, owner, e.url+"/")
	ticket, binding := cookieOf(resp, "dcc_qt"), cookieOf(resp, "dcc_qb")
	if ticket == nil || binding == nil {
		t.Fatal("no ticket")
	}
	for range 3 {
		getWith(t, webClient(t), e.url+"/")
	}
	clk.advance(time.Second) // the owner's time has come

	raw, _ := base64.RawURLEncoding.DecodeString(ticket.Value)
	raw[20] ^= 0x40 // an earlier or later admission time
	edited := base64.RawURLEncoding.EncodeToString(raw)
	u, _ := url.Parse(e.url)
	cases := map[string][]*http.Cookie{
		"edited ticket":             {{Name: "dcc_qb", Value: binding.Value}, {Name: "dcc_qt", Value: edited}},
		"ticket in another browser": {{Name: "dcc_qt", Value: ticket.Value}},
		"made-up pass":              {{Name: "dcc_qb", Value: binding.Value}, {Name: "dcc_qp", Value: strings.Repeat("A", 75)}},
	}
	for name, cookies := range cases {
		t.Run(name, func(t *testing.T) {
			jar, _ := cookiejar.New(nil)
			jar.SetCookies(u, cookies)
			cl := &http.Client{Jar: jar}
			resp, body := getWith(t, cl, e.url+"/?lang=en")
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "You are in the queue") {
				t.Fatalf("%s: %d, want the waiting page", name, resp.StatusCode)
			}
			if !strings.Contains(body, `<dd id="queue-position">`) || strings.Contains(body, `<dd id="queue-position">0</dd>`) {
				t.Errorf("%s: not at the back of the line:\n%s", name, body)
			}
		})
	}
	// The owner, whose cookies were copied, is let in, once.
	if resp, _ := getWith(t, owner, e.url+"/"); resp.StatusCode != http.StatusOK {
		t.Errorf("owner at their time: %d", resp.StatusCode)
	}
	replay := &http.Client{Jar: func() http.CookieJar {
		jar, _ := cookiejar.New(nil)
		jar.SetCookies(u, []*http.Cookie{{Name: "dcc_qb", Value: binding.Value}, {Name: "dcc_qt", Value: ticket.Value}})
		return jar
	}()}
	if resp, _ := getWith(t, replay, e.url+"/"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("the owner's spent ticket replayed with its binding: %d, want queued again", resp.StatusCode)
	}
	logs := e.logs.String()
	for _, reason := range []string{`"reason":"forged"`, `"reason":"other-browser"`, `"reason":"used"`} {
		if !strings.Contains(logs, reason) {
			t.Errorf("no log line with %s", reason)
		}
	}
}

// TestQueueSecondReplica: a second server over the same store (another replica, or the same one
// restarted) honours the first one's tickets and numbers its newcomers after them.
func TestQueueSecondReplica(t *testing.T) {
	clk := newClock()
	one := newEnv(t, "embedded", envOptions{citizens: true, clock: clk.now, queueRate: 1, queueBurst: 1})
	two := newEnv(t, "embedded", envOptions{citizens: true, clock: clk.now, queueRate: 1, queueBurst: 1, store: one.store, replica: true})
	getWith(t, webClient(t), one.url+"/")
	waiting := webClient(t)
	resp, _ := getWith(t, waiting, one.url+"/")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second visitor at the first replica: %d", resp.StatusCode)
	}
	// The same cookies at the second replica's address.
	u1, _ := url.Parse(one.url)
	u2, _ := url.Parse(two.url)
	moved := webClient(t)
	moved.Jar.SetCookies(u2, waiting.Jar.Cookies(u1))
	_, body := getWith(t, moved, two.url+"/?lang=en")
	if !strings.Contains(body, `<dd id="queue-position">1</dd>`) {
		t.Fatalf("the ticket at the second replica:\n%s", body)
	}
	_, body = getWith(t, webClient(t), two.url+"/?lang=en")
	if !strings.Contains(body, `<dd id="queue-position">2</dd>`) {
		t.Fatalf("a newcomer at the second replica is not behind the first one's:\n%s", body)
	}
	clk.advance(time.Second)
	if resp, _ := getWith(t, moved, two.url+"/"); resp.StatusCode != http.StatusOK {
		t.Errorf("the first replica's ticket at its time at the second: %d", resp.StatusCode)
	}
}

// TestQueueLeavesProvidersAlone: while citizens wait, providers issue as before: the queue is
// the citizens' budget only.
func TestQueueLeavesProvidersAlone(t *testing.T) {
	clk := newClock()
	e := newEnv(t, "embedded", envOptions{citizens: true, clock: clk.now, queueRate: 0.01, queueBurst: 1})
	getWith(t, webClient(t), e.url+"/")
	for range 20 {
		if resp, _ := getWith(t, webClient(t), e.url+"/"); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("citizen during the rush: %d", resp.StatusCode)
		}
	}
	for i := range 5 {
		c := e.issueFor(issuer.KindTest, tolvan, "t-rush-"+strconv.Itoa(i))
		if c.uvci == "" {
			t.Fatal("provider could not issue during the citizens' rush")
		}
	}
	for _, path := range []string{"/api/v1/ping", "/api/v1/trust-list", "/static/site.css"} {
		if a := e.do(http.MethodGet, path, "", nil); a.status != http.StatusOK {
			t.Errorf("%s during the rush: %d", path, a.status)
		}
	}
}

// TestQueueNewcomersPerAddress: one client address takes places up to its bucket; beyond, 429
// rate-limited and no place, while visitors with a ticket from that address are still answered.
func TestQueueNewcomersPerAddress(t *testing.T) {
	clk := newClock()
	e := newEnv(t, "embedded", envOptions{citizens: true, clock: clk.now, queueRate: 1, queueBurst: 1,
		queuePerAddress: httpapi.RateLimit{Rate: 0.001, Burst: 3}})
	getWith(t, webClient(t), e.url+"/") // the burst
	waiting := webClient(t)
	if resp, _ := getWith(t, waiting, e.url+"/"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second newcomer: %d", resp.StatusCode)
	}
	getWith(t, webClient(t), e.url+"/")
	resp, body := getWith(t, webClient(t), e.url+"/", "Accept", "application/json")
	a := answer{status: resp.StatusCode, header: resp.Header, body: []byte(body)}
	if resp.StatusCode != http.StatusTooManyRequests || !a.has(t, problem.CodeRateLimited) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth newcomer from one address: %d %s", resp.StatusCode, body)
	}
	if cookieOf(resp, "dcc_qt") != nil {
		t.Error("a refused newcomer was given a ticket")
	}
	if resp, body := getWith(t, waiting, e.url+"/?lang=en"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `<dd id="queue-position">1</dd>`) {
		t.Errorf("the waiting visitor from that address: %d, want still at place 1", resp.StatusCode)
	}
}

// queueStoreDown is a store whose queue line cannot be reached while down is set.
type queueStoreDown struct {
	issuer.Store
	down atomic.Bool
}

func (s *queueStoreDown) ReserveQueueSlots(ctx context.Context, n int, earliest time.Time, interval time.Duration) (issuer.QueueBlock, error) {
	if s.down.Load() {
		return issuer.QueueBlock{}, fmt.Errorf("reserve: %w", issuer.ErrStoreUnavailable)
	}
	return s.Store.ReserveQueueSlots(ctx, n, earliest, interval)
}

// TestQueueStoreDown: with the store's line out of reach a newcomer is answered 503
// store-unavailable with Retry-After and given no place; visitors with a pass or a ticket are
// answered from their cookies alone.
func TestQueueStoreDown(t *testing.T) {
	clk := newClock()
	st := &queueStoreDown{Store: openStore(t, "embedded")}
	e := newEnv(t, "embedded", envOptions{citizens: true, clock: clk.now, queueRate: 1, queueBurst: 1, store: st})
	admitted, waiting := webClient(t), webClient(t)
	getWith(t, admitted, e.url+"/")
	getWith(t, waiting, e.url+"/")
	st.down.Store(true)
	resp, body := getWith(t, webClient(t), e.url+"/")
	a := answer{status: resp.StatusCode, header: resp.Header, body: []byte(body)}
	if resp.StatusCode != http.StatusServiceUnavailable || !a.has(t, problem.CodeStoreUnavailable) || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("newcomer with the store down: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if cookieOf(resp, "dcc_qt") != nil {
		t.Error("a newcomer was given a ticket with the store down")
	}
	if resp, _ := getWith(t, admitted, e.url+"/"); resp.StatusCode != http.StatusOK {
		t.Errorf("visitor with a pass, store down: %d", resp.StatusCode)
	}
	if resp, body := getWith(t, waiting, e.url+"/?lang=en"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "You are in the queue") {
		t.Errorf("visitor with a ticket, store down: %d", resp.StatusCode)
	}
	st.down.Store(false)
	if resp, _ := getWith(t, webClient(t), e.url+"/"); resp.StatusCode != http.StatusServiceUnavailable || cookieOf(resp, "dcc_qt") == nil {
		t.Errorf("newcomer with the store back: %d, want a ticket", resp.StatusCode)
	}
}
