package httpapi_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/httpapi"
	"github.com/sedcc/dcc/issuer/status"
)

// statusFixture serves a monitor over a real store: the store probe pings it, the register's
// light is set by the test.
type statusFixture struct {
	url      string
	store    issuer.Store
	monitor  *status.Monitor
	now      time.Time
	mu       sync.Mutex
	register status.Light
}

func (f *statusFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *statusFixture) checkAt(t *testing.T, at time.Time, register status.Light) {
	t.Helper()
	f.mu.Lock()
	f.now, f.register = at, register
	f.mu.Unlock()
	f.monitor.Check(t.Context())
}

func newStatusFixture(t *testing.T, storeKind string) *statusFixture {
	t.Helper()
	f := &statusFixture{store: openStore(t, storeKind), now: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), register: status.Green}
	var n atomic.Int64
	m, err := status.New(status.Options{
		Events: f.store,
		Dependencies: []status.Dependency{
			{Name: status.DependencyStore, Title: "Certificate store", Probe: status.StoreProbe(f.store), Critical: true},
			{Name: status.DependencyRegister, Title: "Population register", Probe: func(context.Context) (status.Light, string) {
				f.mu.Lock()
				defer f.mu.Unlock()
				return f.register, "The register is " + string(f.register) + "."
			}},
		},
		Threshold: time.Minute,
		Clock:     f.clock,
		NewID:     func() string { return "inc-" + string(rune('0'+n.Add(1))) },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.monitor = m
	srv := httpapi.New(httpapi.Options{Status: m, Clock: f.clock})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

// scenario: a register incident that opened and closed, a notice in effect whose title tries
// to inject markup, and a planned one.
func (f *statusFixture) scenario(t *testing.T) time.Time {
	t.Helper()
	t0 := f.now
	f.checkAt(t, t0, status.Red)
	f.checkAt(t, t0.Add(time.Minute), status.Red)
	f.checkAt(t, t0.Add(5*time.Minute), status.Green)
	end := t0.Add(3 * time.Hour)
	notices := []issuer.StatusEvent{
		{ID: "maint-now", Title: `<script>alert("x")</script> & servicefönster`, Body: "Retry with the same X-Request-ID.",
			OpenedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(30 * time.Minute), Until: &end},
		{ID: "maint-later", Title: "Database upgrade", OpenedAt: t0.Add(48 * time.Hour), UpdatedAt: t0.Add(30 * time.Minute)},
	}
	for _, n := range notices {
		if err := f.store.PostNotice(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(2 * time.Hour)
	f.checkAt(t, now, status.Green)
	return t0
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

type statusDoc struct {
	Status       string `json:"status"`
	Summary      string `json:"summary"`
	Dependencies []struct {
		Name, Status, Message string
		Critical              bool
	} `json:"dependencies"`
	Open, Planned, History []struct {
		ID, Kind, Dependency, Title string
		OpenedAt                    time.Time  `json:"openedAt"`
		ClosedAt                    *time.Time `json:"closedAt"`
		Until                       *time.Time `json:"until"`
	}
	EventsStale bool `json:"eventsStale"`
}

func TestStatusJSON(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			f := newStatusFixture(t, kind)
			t0 := f.scenario(t)
			for name, h := range map[string][]string{
				"Accept":       {"Accept", "application/json"},
				"format=json":  {"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"},
				"prefers json": {"Accept", "text/html;q=0.5, application/json"},
			} {
				url := f.url + "/status"
				if name == "format=json" {
					url += "?format=json"
				}
				res, body := get(t, url, h...)
				if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
					t.Fatalf("%s: %d %s", name, res.StatusCode, res.Header.Get("Content-Type"))
				}
				if !slices.Contains(res.Header.Values("Vary"), "Accept") {
					t.Errorf("%s: Vary %v, want Accept", name, res.Header.Values("Vary"))
				}
				var doc statusDoc
				if err := json.Unmarshal(body, &doc); err != nil {
					t.Fatalf("%s: %v\n%s", name, err, body)
				}
				if doc.Status != "yellow" || doc.EventsStale {
					t.Errorf("%s: service %s stale %v, want yellow (a notice is in effect) and fresh", name, doc.Status, doc.EventsStale)
				}
				if len(doc.Dependencies) != 2 || doc.Dependencies[0].Name != "store" || doc.Dependencies[0].Status != "green" || !doc.Dependencies[0].Critical {
					t.Errorf("%s: dependencies %+v", name, doc.Dependencies)
				}
				if len(doc.Open) != 1 || doc.Open[0].ID != "maint-now" || doc.Open[0].Kind != "notice" || doc.Open[0].Until == nil {
					t.Errorf("%s: open %+v, want the notice in effect", name, doc.Open)
				}
				if len(doc.Planned) != 1 || doc.Planned[0].ID != "maint-later" {
					t.Errorf("%s: planned %+v", name, doc.Planned)
				}
				if len(doc.History) != 1 || doc.History[0].Dependency != "register" || !doc.History[0].OpenedAt.Equal(t0) ||
					doc.History[0].ClosedAt == nil || !doc.History[0].ClosedAt.Equal(t0.Add(5*time.Minute)) {
					t.Errorf("%s: history %+v, want the register incident from t0 to t0+5m", name, doc.History)
				}
			}
		})
	}
}

// findAll returns the elements of the given tag under n.
func findAll(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.Data == tag {
			out = append(out, d)
		}
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

func TestStatusHTML(t *testing.T) {
	f := newStatusFixture(t, "embedded")
	f.scenario(t)
	for name, h := range map[string][]string{
		"browser":     {"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"no Accept":   nil,
		"anything":    {"Accept", "*/*"},
		"format=html": {"Accept", "application/json"},
	} {
		url := f.url + "/status"
		if name == "format=html" {
			url += "?format=html"
		}
		res, body := get(t, url, h...)
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s", name, res.StatusCode, res.Header.Get("Content-Type"))
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: Content-Security-Policy %q", name, csp)
		}
		doc, err := html.Parse(strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		if s := findAll(doc, "script"); len(s) != 0 {
			t.Errorf("%s: the page holds %d script elements; the notice title was not escaped", name, len(s))
		}
		if !strings.Contains(string(body), `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; servicefönster`) {
			t.Errorf("%s: the notice's title is not shown escaped", name)
		}
		if p := findAll(doc, "p"); len(p) == 0 || attr(p[0], "role") != "status" || !strings.Contains(text(p[0]), "Degraded.") {
			t.Errorf("%s: first paragraph should announce the service as Degraded", name)
		}
		rows := map[string]string{}
		for _, tr := range findAll(doc, "tr") {
			if th := findAll(tr, "th"); len(th) == 1 && attr(th[0], "scope") == "row" {
				rows[text(th[0])] = text(tr)
			}
		}
		if !strings.Contains(rows["Certificate store"], "Operational") || !strings.Contains(rows["Population register"], "Operational") {
			t.Errorf("%s: dependency rows %v", name, rows)
		}
		var events []string
		for _, li := range findAll(doc, "li") {
			events = append(events, attr(li, "id"))
		}
		if want := []string{"event-maint-now", "event-maint-later", "event-inc-1"}; !slices.Equal(events, want) {
			t.Errorf("%s: events on the page %v, want %v (open, planned, history)", name, events, want)
		}
		for _, link := range findAll(doc, "link") {
			if attr(link, "type") == "application/rss+xml" && attr(link, "href") != "/status/feed.xml" {
				t.Errorf("%s: feed link %q", name, attr(link, "href"))
			}
		}
	}
}

type rss struct {
	XMLName xml.Name `xml:"rss"`
	Version string   `xml:"version,attr"`
	Channel struct {
		Title string `xml:"title"`
		Link  string `xml:"link"`
		Items []struct {
			Title       string `xml:"title"`
			Link        string `xml:"link"`
			Description string `xml:"description"`
			GUID        string `xml:"guid"`
			PubDate     string `xml:"pubDate"`
		} `xml:"item"`
	} `xml:"channel"`
}

func TestStatusFeed(t *testing.T) {
	f := newStatusFixture(t, "postgres")
	t0 := f.scenario(t)
	res, body := get(t, f.url+"/status/feed.xml")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/rss+xml") {
		t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var feed rss
	if err := xml.Unmarshal(body, &feed); err != nil {
		t.Fatalf("feed does not parse: %v\n%s", err, body)
	}
	if feed.Version != "2.0" || feed.Channel.Link != f.url+"/status" {
		t.Errorf("version %q link %q", feed.Version, feed.Channel.Link)
	}
	type item struct{ title, guid string }
	var got []item
	var dates []time.Time
	for _, it := range feed.Channel.Items {
		got = append(got, item{it.Title, it.GUID})
		d, err := time.Parse(time.RFC1123Z, it.PubDate)
		if err != nil {
			t.Errorf("item %q: pubDate %q: %v", it.Title, it.PubDate, err)
		}
		dates = append(dates, d)
		if !strings.HasPrefix(it.Link, f.url+"/status#event-") {
			t.Errorf("item %q: link %q", it.Title, it.Link)
		}
	}
	want := []item{
		{`Notice: <script>alert("x")</script> & servicefönster`, "dcc-status:maint-now:opened"},
		{"Notice: Database upgrade", "dcc-status:maint-later:opened"},
		{"Resolved: Population register unavailable", "dcc-status:inc-1:closed"},
		{"Incident: Population register unavailable", "dcc-status:inc-1:opened"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("items %v\nwant  %v", got, want)
	}
	if len(dates) == 4 && (!dates[3].Equal(t0) || !dates[2].Equal(t0.Add(5*time.Minute)) || !dates[0].Equal(t0.Add(30*time.Minute))) {
		t.Errorf("pubDates %v: want the incident at t0, its resolution at t0+5m, the notices posted at t0+30m", dates)
	}
	if !strings.Contains(string(body), "&lt;script&gt;") {
		t.Error("the notice's title is not escaped in the XML")
	}
}

// TestStatusWhileStoreDown: the page still answers when the store is gone, red, from memory.
func TestStatusWhileStoreDown(t *testing.T) {
	f := newStatusFixture(t, "embedded")
	t0 := f.now
	f.checkAt(t, t0, status.Green)
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	f.checkAt(t, t0.Add(10*time.Second), status.Green)
	f.checkAt(t, t0.Add(2*time.Minute), status.Green)
	res, body := get(t, f.url+"/status?format=json")
	var doc statusDoc
	if err := json.Unmarshal(body, &doc); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%d %v", res.StatusCode, err)
	}
	if doc.Status != "red" || !doc.EventsStale || len(doc.Open) != 1 || doc.Open[0].Dependency != "store" {
		t.Errorf("service %s stale %v open %+v: want red, stale, with the store incident held in memory", doc.Status, doc.EventsStale, doc.Open)
	}
	res, body = get(t, f.url+"/status")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Certificate store unavailable") {
		t.Errorf("page while the store is down: %d", res.StatusCode)
	}
	if res, _ := get(t, f.url+"/status/feed.xml"); res.StatusCode != http.StatusOK {
		t.Errorf("feed while the store is down: %d", res.StatusCode)
	}
}

// TestStatusWithoutMonitor: a server built without a monitor answers 404 as an OperationOutcome.
func TestStatusWithoutMonitor(t *testing.T) {
	ts := httptest.NewServer(httpapi.New(httpapi.Options{}).Handler())
	t.Cleanup(ts.Close)
	for _, path := range []string{"/status", "/status/feed.xml"} {
		res, body := get(t, ts.URL+path)
		if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "OperationOutcome") {
			t.Errorf("%s: %d %s", path, res.StatusCode, body)
		}
	}
}
