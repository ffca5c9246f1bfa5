// Command dccauditbench measures audit searches on a national-size log: it seeds a PostgreSQL
// audit_events table with generated events (generate_series, in chunks, bounded in time), then
// times the first page of every search filter through the store's own SearchAudit and reports
// p50 and p99 per filter against a reference measured in the same run: a primary-key read of one
// event. It is not part of `make test`; docs/perf.md has the command and the figures.
//
// With -database-url (or DATABASE_URL) it uses that server, creating its tables with the
// store's migrations; without, it starts a private throwaway server like the tests do.
package main

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/pgtest"
	"github.com/sedcc/dcc/issuer/store/postgres"
)

// The generated log: 129 providers, outcomes 85% issued, 3% replayed, 10% rejected (one of the
// codes below), 2% failed; 80% production; 95% of issues from the register; three events per
// person on average; one event every 3 seconds, newest now.
var codes = []string{"valueset-unknown", "timezone-missing", "personnummer-checksum", "required", "birthdate-mismatch",
	"person-not-found", "identifier-conflict", "request-id-reused", "kind-not-granted", "test-data-in-production"}

const seedSQL = `INSERT INTO audit_events (id, at, request_id, principal_id, role, route, status, outcome, codes, kind,
	environment, identity_source, uvci, subject_masked, subject_key, latency_ns, notes, problems)
SELECT 'seed-' || lpad(g::text, 10, '0'),
	$2::timestamptz - ($1::bigint - g) * interval '3 seconds',
	md5(g::text),
	'p_seed' || (g % 129),
	'provider',
	'POST /api/v1/observation',
	CASE WHEN g % 100 < 88 THEN 200 WHEN g % 100 < 98 THEN 422 ELSE 503 END,
	CASE WHEN g % 100 < 85 THEN 'issued' WHEN g % 100 < 88 THEN 'replayed' WHEN g % 100 < 98 THEN 'rejected' ELSE 'failed' END,
	CASE WHEN g % 100 >= 98 THEN ARRAY['register-unavailable']
	     WHEN g % 100 >= 88 THEN ARRAY[($4::text[])[1 + (g / 100) % 10]]
	     ELSE '{}'::text[] END,
	(ARRAY['test', 'recovery', 'vaccination'])[1 + g % 3],
	CASE WHEN g % 5 = 0 THEN 'sandbox' ELSE 'production' END,
	CASE WHEN g % 100 >= 88 THEN '' WHEN g % 20 = 1 THEN 'birthdate-fallback' WHEN g % 100 = 2 THEN 'provided' ELSE 'register' END,
	CASE WHEN g % 100 < 88 THEN 'URN:UVCI:01:SE:SEED/' || g || '#X' ELSE '' END,
	'19800101****',
	decode(md5('subject-' || (g % ($1::bigint / 3 + 1))), 'hex'),
	1000000 + (g * 7919) % 50000000,
	'{}'::text[],
	CASE WHEN g % 100 >= 88 AND g % 100 < 98 THEN
		jsonb_build_array(jsonb_build_object('Code', ($4::text[])[1 + (g / 100) % 10],
			'Expression', 'Observation.code', 'Text', 'Send a code from the value set.', 'Class', 1))
	END
FROM generate_series($3::bigint, $5::bigint) AS g`

func main() {
	log.SetFlags(0)
	dbURL := flag.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL to seed (default: a private throwaway server)")
	events := flag.Int64("events", 10_000_000, "events to seed")
	chunk := flag.Int64("chunk", 500_000, "events per INSERT")
	runs := flag.Int("runs", 200, "timed first pages per filter")
	limit := flag.Int("limit", 50, "page size")
	budget := flag.Duration("seed-timeout", 45*time.Minute, "give up seeding after this long (what was seeded is measured)")
	keep := flag.Bool("reuse", false, "measure an already seeded database at -database-url without seeding")
	flag.Parse()

	ctx := context.Background()
	if *dbURL == "" {
		srv, err := pgtest.Start(ctx)
		if err != nil {
			log.Fatalf("start postgres: %v", err)
		}
		defer func() { _ = srv.Stop() }()
		if *dbURL, err = srv.CreateDatabase(ctx); err != nil {
			log.Fatalf("create database: %v", err)
		}
	}
	if err := postgres.Migrate(ctx, *dbURL); err != nil {
		log.Fatalf("migrate: %v", err)
	}
	pool, err := pgxpool.New(ctx, *dbURL)
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer pool.Close()

	now := time.Now().UTC().Truncate(time.Second)
	n := *events
	if !*keep {
		if n, err = seed(ctx, pool, *events, *chunk, now, *budget); err != nil {
			log.Fatalf("seed: %v", err)
		}
	} else if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil {
		log.Fatalf("count: %v", err)
	}

	store, err := postgres.Open(ctx, *dbURL, postgres.Options{Timeout: 30 * time.Second})
	if err != nil {
		log.Fatalf("open store: %v", err)
	}
	defer store.Close()
	if err := measure(ctx, pool, store, n, *runs, *limit); err != nil {
		log.Fatalf("measure: %v", err)
	}
}

// seed fills audit_events with n generated events. The table's secondary indexes are dropped
// during the load and built again afterwards from their own definitions (the usual bulk load; the
// indexes measured are exactly the migrations'). It returns how many events were seeded.
func seed(ctx context.Context, pool *pgxpool.Pool, n, chunk int64, now time.Time, budget time.Duration) (int64, error) {
	start := time.Now()
	if _, err := pool.Exec(ctx, `TRUNCATE audit_events, audit_event_codes`); err != nil {
		return 0, fmt.Errorf("truncate: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE tablename IN ('audit_events', 'audit_event_codes') AND indexname NOT LIKE '%_pkey'`)
	if err != nil {
		return 0, fmt.Errorf("list indexes: %w", err)
	}
	type index struct{ name, def string }
	idx, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var i index
		return i, r.Scan(&i.name, &i.def)
	})
	if err != nil {
		return 0, fmt.Errorf("list indexes: %w", err)
	}
	for _, i := range idx {
		if _, err := pool.Exec(ctx, `DROP INDEX `+pgx.Identifier{i.name}.Sanitize()); err != nil {
			return 0, fmt.Errorf("drop %s: %w", i.name, err)
		}
	}
	var seeded int64
	for lo := int64(1); lo <= n; lo += chunk {
		if time.Since(start) > budget {
			log.Printf("seed budget %s spent after %d events; measuring those", budget, seeded)
			break
		}
		hi := min(lo+chunk-1, n)
		t := time.Now()
		if _, err := pool.Exec(ctx, seedSQL, n, now, lo, codes, hi); err != nil {
			return seeded, fmt.Errorf("insert %d..%d: %w", lo, hi, err)
		}
		seeded = hi
		log.Printf("seeded %d/%d events (%s)", hi, n, time.Since(t).Round(time.Millisecond))
	}
	t := time.Now()
	if _, err := pool.Exec(ctx, `INSERT INTO audit_event_codes (event_id, code, principal_id, at)
		SELECT e.id, c, e.principal_id, e.at FROM audit_events e, unnest(e.codes) AS c`); err != nil {
		return seeded, fmt.Errorf("index codes: %w", err)
	}
	log.Printf("code rows written (%s)", time.Since(t).Round(time.Millisecond))
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return seeded, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET maintenance_work_mem = '512MB'`); err != nil {
		return seeded, fmt.Errorf("set maintenance_work_mem: %w", err)
	}
	for _, i := range idx {
		t := time.Now()
		if _, err := conn.Exec(ctx, i.def); err != nil {
			return seeded, fmt.Errorf("create %s: %w", i.name, err)
		}
		log.Printf("built %s (%s)", i.name, time.Since(t).Round(time.Millisecond))
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE audit_events, audit_event_codes`); err != nil {
		return seeded, fmt.Errorf("analyze: %w", err)
	}
	log.Printf("seeded %d events in %s", seeded, time.Since(start).Round(time.Second))
	return seeded, nil
}

// filter is one kind of search; query picks the values of its i-th run.
type filter struct {
	name  string
	query func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery
}

func filters(n int64) []filter {
	// g picks a generated event; issuedG one whose outcome is issued, rejectedG a rejected one.
	g := func(r *rand.Rand) int64 { return 1 + r.Int64N(n) }
	issuedG := func(r *rand.Rand) int64 { return (g(r)/100)*100 + r.Int64N(85) }
	provider := func(r *rand.Rand) string { return fmt.Sprintf("p_seed%d", r.IntN(129)) }
	at := func(g int64, now time.Time) time.Time { return now.Add(-time.Duration(n-g) * 3 * time.Second) }
	return []filter{
		{"none (newest events)", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery { return issuer.AuditQuery{} }},
		{"request_id", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			return issuer.AuditQuery{RequestID: fmt.Sprintf("%x", md5.Sum([]byte(fmt.Sprint(g(r)))))}
		}},
		{"uvci", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			return issuer.AuditQuery{UVCI: fmt.Sprintf("URN:UVCI:01:SE:SEED/%d#X", max(issuedG(r), 1))}
		}},
		{"provider", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			return issuer.AuditQuery{PrincipalID: provider(r)}
		}},
		{"outcome=failed", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			return issuer.AuditQuery{Outcome: issuer.OutcomeFailed}
		}},
		{"code (one of 10)", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			return issuer.AuditQuery{Code: codes[r.IntN(len(codes))]}
		}},
		{"identity_source=birthdate-fallback", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			return issuer.AuditQuery{IdentitySource: issuer.SourceFallback}
		}},
		{"kind=vaccination", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			return issuer.AuditQuery{Kind: issuer.KindVaccination}
		}},
		{"environment=sandbox", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			return issuer.AuditQuery{Environment: issuer.Sandbox}
		}},
		{"from/to (one hour, anywhere)", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			from := at(g(r), now)
			return issuer.AuditQuery{From: from, To: from.Add(time.Hour)}
		}},
		{"provider + outcome=rejected", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			return issuer.AuditQuery{PrincipalID: provider(r), Outcome: issuer.OutcomeRejected}
		}},
		{"provider + code", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			return issuer.AuditQuery{PrincipalID: provider(r), Code: codes[r.IntN(len(codes))]}
		}},
		{"provider + from/to (one day)", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			from := at(g(r), now)
			return issuer.AuditQuery{PrincipalID: provider(r), From: from, To: from.Add(24 * time.Hour)}
		}},
		{"code + from/to (one day)", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			from := at(g(r), now)
			return issuer.AuditQuery{Code: codes[r.IntN(len(codes))], From: from, To: from.Add(24 * time.Hour)}
		}},
		{"subject (personnummer via keyed hash)", func(r *rand.Rand, n int64, now time.Time) issuer.AuditQuery {
			sum := md5.Sum([]byte(fmt.Sprintf("subject-%d", r.Int64N(n/3+1))))
			return issuer.AuditQuery{SubjectKey: sum[:]}
		}},
	}
}

// measure times runs first pages of every filter and prints a markdown table.
func measure(ctx context.Context, pool *pgxpool.Pool, store *postgres.Store, n int64, runs, limit int) error {
	if n == 0 {
		return errors.New("no events to search")
	}
	var newest time.Time
	if err := pool.QueryRow(ctx, `SELECT max(at) FROM audit_events`).Scan(&newest); err != nil {
		return fmt.Errorf("newest event: %w", err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	// Reference: one event by primary key, the cheapest indexed read there is.
	ref := make([]time.Duration, 0, runs)
	for range runs {
		id := fmt.Sprintf("seed-%010d", 1+r.Int64N(n))
		t := time.Now()
		var got string
		if err := pool.QueryRow(ctx, `SELECT id FROM audit_events WHERE id = $1`, id).Scan(&got); err != nil {
			return fmt.Errorf("reference read %s: %w", id, err)
		}
		ref = append(ref, time.Since(t))
	}
	refP99 := pct(ref, 99)
	fmt.Printf("%d events; %d first pages of %d per filter; reference (primary-key read) p50 %s p99 %s\n\n",
		n, runs, limit, ms(pct(ref, 50)), ms(refP99))
	fmt.Println("| filter | results on page (mean) | p50 ms | p99 ms | p99 / reference p99 | server p50 ms | buffers p50 | indexes walked |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, f := range filters(n) {
		lat := make([]time.Duration, 0, runs)
		var found int
		for range runs {
			q := f.query(r, n, newest)
			q.Limit = limit
			t := time.Now()
			page, err := store.SearchAudit(ctx, q)
			if err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			lat = append(lat, time.Since(t))
			found += len(page.Events)
		}
		p99 := pct(lat, 99)
		plan, err := explain(ctx, pool, f, r, n, newest, limit)
		if err != nil {
			return fmt.Errorf("%s: explain: %w", f.name, err)
		}
		fmt.Printf("| %s | %.1f | %s | %s | %.1f | %s | %d | %s |\n", f.name, float64(found)/float64(runs), ms(pct(lat, 50)), ms(p99),
			float64(p99)/float64(refP99), ms(plan.exec), plan.buffers, strings.Join(plan.indexes, ", "))
	}
	return nil
}

// planFigures are what EXPLAIN (ANALYZE, BUFFERS) says of a filter's first pages: the median
// execution time inside the server, the median number of shared buffers touched (hit or read; a
// figure the machine's load does not change) and the indexes the plan walks.
type planFigures struct {
	exec    time.Duration
	buffers int
	indexes []string
}

// explain runs the store's own statement for 21 sample queries of f under EXPLAIN.
func explain(ctx context.Context, pool *pgxpool.Pool, f filter, r *rand.Rand, n int64, newest time.Time, limit int) (planFigures, error) {
	var execs []time.Duration
	var bufs []int
	seen := map[string]bool{}
	var out planFigures
	for range 21 {
		q := f.query(r, n, newest)
		q.Limit = limit
		sql, args, err := postgres.SearchAuditSQL(q)
		if err != nil {
			return out, err
		}
		var raw []byte
		if err := pool.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+sql, args...).Scan(&raw); err != nil {
			return out, err
		}
		var doc []struct {
			Plan          map[string]any `json:"Plan"`
			ExecutionTime float64        `json:"Execution Time"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil || len(doc) == 0 {
			return out, fmt.Errorf("read plan: %v", err)
		}
		execs = append(execs, time.Duration(doc[0].ExecutionTime*float64(time.Millisecond)))
		hit, _ := doc[0].Plan["Shared Hit Blocks"].(float64)
		read, _ := doc[0].Plan["Shared Read Blocks"].(float64)
		bufs = append(bufs, int(hit+read))
		walkPlan(doc[0].Plan, func(node map[string]any) {
			if name, ok := node["Index Name"].(string); ok && !seen[name] {
				seen[name] = true
				out.indexes = append(out.indexes, name)
			}
		})
	}
	slices.Sort(bufs)
	out.exec, out.buffers = pct(execs, 50), bufs[len(bufs)/2]
	if len(out.indexes) == 0 {
		out.indexes = []string{"(none: sequential scan)"}
	}
	return out, nil
}

func walkPlan(node map[string]any, visit func(map[string]any)) {
	visit(node)
	children, _ := node["Plans"].([]any)
	for _, c := range children {
		if m, ok := c.(map[string]any); ok {
			walkPlan(m, visit)
		}
	}
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func ms(d time.Duration) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)), "0"), ".")
}
