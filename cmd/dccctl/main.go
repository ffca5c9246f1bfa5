// Command dccctl administers the DCC issuer: keys, signing, decoding and verification of HC1
// strings, and more subcommands added beside this file.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// env is what a subcommand may use: its streams, the clock and the environment.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
	getenv func(string) string
}

// command is one subcommand. run returns the process exit code.
type command struct {
	summary string
	run     func(e *env, args []string) int
}

// registry maps subcommand names to commands. Each file registers its own commands through a
// register function listed in newRegistry.
type registry map[string]command

func newRegistry() registry {
	r := registry{}
	for _, register := range []func(registry){
		registerKeyCommands,
		registerHC1Commands,
		registerAdminCommands,
		registerExampleCommands,
		registerStatusCommands,
		registerHSMCommands,
		registerCSCACommands,
	} {
		register(r)
	}
	return r
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the operation failed or the certificate is not valid
	exitUsage   = 2
)

func main() {
	e := &env{ctx: context.Background(), stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, now: time.Now, getenv: os.Getenv}
	os.Exit(run(e, os.Args[1:]))
}

func run(e *env, args []string) int {
	cmds := newRegistry()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr, cmds)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "dccctl: unknown command %q\n", args[0])
		usage(e.stderr, cmds)
		return exitUsage
	}
	return c.run(e, args[1:])
}

func usage(w io.Writer, cmds registry) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: dccctl <command> [flags] [arguments]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
}

// parseFlags parses flags that may come before or after positional arguments, and returns the
// positional ones. It reports usage errors on stderr.
func parseFlags(fs *flag.FlagSet, e *env, args []string) ([]string, bool) {
	fs.SetOutput(e.stderr)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, true
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
