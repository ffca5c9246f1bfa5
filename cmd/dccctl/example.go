package main

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/sedcc/dcc/fhir/fhirtest"
)

func registerExampleCommands(r registry) {
	r["example"] = command{summary: "print a valid provider request (FHIR JSON) to try the API with", run: runExample}
}

// examples maps the names dccctl example takes to request builders.
var examples = map[string]func(opts ...fhirtest.Option) []byte{
	"naat":      func(o ...fhirtest.Option) []byte { return fhirtest.Observation(fhirtest.NAAT, o...) },
	"rat":       func(o ...fhirtest.Option) []byte { return fhirtest.Observation(fhirtest.RAT, o...) },
	"no-pnr":    func(o ...fhirtest.Option) []byte { return fhirtest.Observation(fhirtest.NoPNR, o...) },
	"recovery":  func(o ...fhirtest.Option) []byte { return fhirtest.Observation(fhirtest.Recovery, o...) },
	"comirnaty": func(o ...fhirtest.Option) []byte { return fhirtest.Immunization(fhirtest.Comirnaty, o...) },
	"spikevax":  func(o ...fhirtest.Option) []byte { return fhirtest.Immunization(fhirtest.Spikevax, o...) },
	"vaxzevria": func(o ...fhirtest.Option) []byte { return fhirtest.Immunization(fhirtest.Vaxzevria, o...) },
	"jcovden":   func(o ...fhirtest.Option) []byte { return fhirtest.Immunization(fhirtest.Jcovden, o...) },
	"nuvaxovid": func(o ...fhirtest.Option) []byte { return fhirtest.Immunization(fhirtest.Nuvaxovid, o...) },
}

func runExample(e *env, args []string) int {
	names := make([]string, 0, len(examples))
	for n := range examples {
		names = append(names, n)
	}
	sort.Strings(names)
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	pnr := fs.String("pnr", "", "personnummer of the patient (default 191212121212, a test identity)")
	id := fs.String("identifier", "", "the provider's Identifier (default: unique per run)")
	family := fs.String("family", "", "the patient's family name, sent beside the personnummer (for the birth-date fallback)")
	given := fs.String("given", "", "the patient's given name, with --family")
	birth := fs.String("birth-date", "", "the patient's birth date YYYY-MM-DD, with --family")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: dccctl example %s [--pnr N] [--family F --given G --birth-date YYYY-MM-DD] [--identifier ID]\n", strings.Join(names, "|"))
		fs.PrintDefaults()
	}
	rest, ok := parseFlags(fs, e, args)
	if !ok {
		return exitUsage
	}
	if len(rest) != 1 || examples[rest[0]] == nil {
		fs.Usage()
		return exitUsage
	}
	now := e.now()
	opts := []fhirtest.Option{fhirtest.Now(now)}
	if *pnr != "" {
		opts = append(opts, fhirtest.PNR(*pnr))
	}
	if *family != "" || *given != "" {
		opts = append(opts, fhirtest.Name(*family, *given))
	}
	if *birth != "" {
		opts = append(opts, fhirtest.BirthDate(*birth))
	}
	ident := *id
	if ident == "" {
		ident = fmt.Sprintf("EX-%s-%d", strings.ToUpper(rest[0]), now.UnixNano())
	}
	opts = append(opts, fhirtest.Identifier(ident))
	fmt.Fprintf(e.stdout, "%s\n", examples[rest[0]](opts...))
	return exitOK
}
