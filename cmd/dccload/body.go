package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// bodies makes provider requests: a negative NAAT test of a person in the development
// population, sampled an hour before now, each with an Identifier no other request of any run
// has used.
type bodies struct {
	run  string // random per run, so that runs against one server never collide
	pnr  string
	now  func() time.Time
	next atomic.Uint64
}

func newBodies(pnr string, now func() time.Time) (*bodies, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random run id: %w", err)
	}
	return &bodies{run: hex.EncodeToString(b), pnr: pnr, now: now}, nil
}

// observationTemplate follows docs/openapi.yaml and fhir/testdata/naat.json. The three verbs
// are the personnummer, the Identifier and the sample time; all are plain ASCII without quotes.
const observationTemplate = `{"resourceType":"Observation",` +
	`"contained":[` +
	`{"resourceType":"Patient","id":"1","identifier":[{"system":"http://electronichealth.se/identifier/personnummer","value":"%s"}]},` +
	`{"resourceType":"Organization","id":"2","name":"Provtagningen Lasttest"},` +
	`{"resourceType":"Device","id":"3","deviceName":[{"name":"Roche, cobas SARS-CoV-2 Test","type":"manufacturer-name"}]}],` +
	`"identifier":[{"value":"%s"}],` +
	`"status":"final",` +
	`"code":{"coding":[{"system":"http://loinc.org","code":"LP6464-4","display":"Nucleic acid amplification with probe detection"},` +
	`{"system":"http://snomed.info/sct","code":"840539006","display":"COVID-19"}]},` +
	`"subject":{"reference":"#1"},` +
	`"effectiveDateTime":"%s",` +
	`"performer":[{"reference":"#2"}],` +
	`"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"260415000","display":"Not detected"}]},` +
	`"device":{"reference":"#3"}}`

// observation returns the next request body.
func (b *bodies) observation() []byte {
	_, body := b.nextObservation()
	return body
}

// nextObservation returns the next request body and its Identifier, which is also a valid
// X-Request-ID.
func (b *bodies) nextObservation() (id string, body []byte) {
	id = "LOAD-" + b.run + "-" + strconv.FormatUint(b.next.Add(1), 10)
	sampled := b.now().Add(-time.Hour).UTC().Format(time.RFC3339)
	return id, fmt.Appendf(nil, observationTemplate, b.pnr, id, sampled)
}
