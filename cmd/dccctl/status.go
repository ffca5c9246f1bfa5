package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/issuer"
)

func registerStatusCommands(r registry) {
	r["status"] = command{summary: "service status notices and incidents: post, list, close", run: statusCommand}
}

const statusUsage = `usage:
  dccctl status post --title T [--body B] [--from TIME] [--until TIME] [--dependency D]
  dccctl status list [--since TIME] [--limit N]
  dccctl status close --id ID
TIME is RFC 3339, e.g. 2026-03-01T22:00:00+01:00.`

func statusCommand(e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, statusUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("status "+args[0], flag.ContinueOnError)
	cfg, err := storeFlags(fs, e)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl: configuration: %v\n", err)
		return exitUsage
	}
	switch args[0] {
	case "post":
		return statusPost(e, fs, cfg, args[1:])
	case "list":
		return statusList(e, fs, cfg, args[1:])
	case "close":
		return statusClose(e, fs, cfg, args[1:])
	}
	fmt.Fprintf(e.stderr, "dccctl: unknown status command %q (post, list, close)\n", args[0])
	return exitUsage
}

// timeFlag is an optional RFC 3339 time.
type timeFlag struct{ t *time.Time }

func (f *timeFlag) String() string {
	if f.t == nil {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(v string) error {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time such as 2026-03-01T22:00:00+01:00")
	}
	t = t.UTC()
	f.t = &t
	return nil
}

// statusPost posts an operator notice, typically a planned maintenance window.
func statusPost(e *env, fs *flag.FlagSet, cfg *setup.Config, args []string) int {
	title := fs.String("title", "", "the notice's title, shown on /status and in the feed (required)")
	body := fs.String("body", "", "what users should know or do")
	dependency := fs.String("dependency", "", "what it concerns: store, signing or register; empty for the whole service")
	var from, until timeFlag
	fs.Var(&from, "from", "start of the window, RFC 3339 (default now)")
	fs.Var(&until, "until", "end of the window, RFC 3339 (default: until closed with status close)")
	if _, ok := parseFlags(fs, e, args); !ok {
		return exitUsage
	}
	now := e.now().UTC()
	start := now
	if from.t != nil {
		start = *from.t
	}
	switch {
	case strings.TrimSpace(*title) == "":
		fmt.Fprintln(e.stderr, "dccctl: status post: --title is required")
		return exitUsage
	case until.t != nil && !until.t.After(start):
		fmt.Fprintf(e.stderr, "dccctl: status post: --until %s is not after the start %s\n", until.String(), start.Format(time.RFC3339))
		return exitUsage
	case until.t != nil && !until.t.After(now):
		fmt.Fprintf(e.stderr, "dccctl: status post: --until %s has passed\n", until.String())
		return exitUsage
	}
	switch *dependency {
	case "", "store", "signing", "register":
	default:
		fmt.Fprintf(e.stderr, "dccctl: status post: --dependency %q: want store, signing, register or nothing\n", *dependency)
		return exitUsage
	}
	n := issuer.StatusEvent{ID: setup.NewEventID(), Dependency: *dependency, Title: strings.TrimSpace(*title),
		Body: strings.TrimSpace(*body), OpenedAt: start, UpdatedAt: now, Until: until.t}
	return withStore(e, cfg, func(_ *issuer.Credentials, st issuer.Store) error {
		if err := st.PostNotice(e.ctx, n); err != nil {
			return err
		}
		window := "from " + start.Format(time.RFC3339)
		if n.Until != nil {
			window += " until " + n.Until.Format(time.RFC3339)
		} else {
			window += " until closed"
		}
		fmt.Fprintf(e.stdout, "notice %s posted (%s); close it with: dccctl status close --id %s\n", n.ID, window, n.ID)
		return nil
	})
}

// statusList lists incidents and notices, newest first.
func statusList(e *env, fs *flag.FlagSet, cfg *setup.Config, args []string) int {
	var since timeFlag
	fs.Var(&since, "since", "list events not closed or ended before this RFC 3339 time (default 30 days ago)")
	limit := fs.Int("limit", 50, "at most this many events (1 to 1000)")
	if _, ok := parseFlags(fs, e, args); !ok {
		return exitUsage
	}
	if *limit < 1 || *limit > 1000 {
		fmt.Fprintf(e.stderr, "dccctl: status list: --limit %d: want 1 to 1000\n", *limit)
		return exitUsage
	}
	from := e.now().Add(-30 * 24 * time.Hour)
	if since.t != nil {
		from = *since.t
	}
	return withStore(e, cfg, func(_ *issuer.Credentials, st issuer.Store) error {
		list, err := st.StatusEvents(e.ctx, from, *limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tDEPENDENCY\tOPENED\tUNTIL\tCLOSED\tTITLE")
		for _, ev := range list {
			dep := ev.Dependency
			if dep == "" {
				dep = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.ID, ev.Kind, dep, ev.OpenedAt.Format(time.RFC3339),
				timeOrDash(ev.Until), timeOrDash(ev.ClosedAt), ev.Title)
		}
		return tw.Flush()
	})
}

// statusClose closes a notice or an incident now.
func statusClose(e *env, fs *flag.FlagSet, cfg *setup.Config, args []string) int {
	id := fs.String("id", "", "the event's id (see status list)")
	if _, ok := parseFlags(fs, e, args); !ok {
		return exitUsage
	}
	if *id == "" {
		fmt.Fprintln(e.stderr, "dccctl: status close: --id is required")
		return exitUsage
	}
	return withStore(e, cfg, func(_ *issuer.Credentials, st issuer.Store) error {
		err := st.CloseStatusEvent(e.ctx, *id, e.now().UTC())
		if errors.Is(err, issuer.ErrNotFound) {
			return fmt.Errorf("no notice or incident %s (see dccctl status list)", *id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s closed\n", *id)
		return nil
	})
}
