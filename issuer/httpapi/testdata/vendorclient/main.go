// Command vendorclient is what a vendor writes around a client generated from the DIGG
// swagger.json by oapi-codegen (default settings): it sends a FHIR resource as the body, the way
// the Swedish service took it, and reads the answer with the generated types alone. It prints
// what it parsed as JSON for the test to compare.
//
// Usage: vendorclient URL KEY TEST_BODY_FILE RECOVERY_BODY_FILE
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"vendorclient/covidbevis"
)

type parsed struct {
	TestStatus, RecoveryStatus             int
	TestUVCI, TestFamilyName, TestIdentity string
	TestResult, TestType, TestValidThrough string
	TestProofMimetypes, TestFileNames      []string
	RecoveryUVCI, RecoveryPositiveDate     string
	RecoveryIssuanceDate, RecoveryIdentity string
	RecoveryProofMimetypes                 []string
	TestQRMimetype                         string
	TestQRWidth                            int32
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vendorclient:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("usage: vendorclient URL KEY TEST_BODY_FILE RECOVERY_BODY_FILE")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	auth := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+args[1])
		return nil
	}
	c, err := covidbevis.NewClientWithResponses(args[0], covidbevis.WithRequestEditorFn(auth))
	if err != nil {
		return err
	}
	testBody, err := os.ReadFile(args[2])
	if err != nil {
		return err
	}
	recBody, err := os.ReadFile(args[3])
	if err != nil {
		return err
	}
	var out parsed

	tr, err := c.SubmitObservationWithBodyWithResponse(ctx, "application/fhir+json", bytes.NewReader(testBody))
	if err != nil {
		return fmt.Errorf("observation: %w", err)
	}
	out.TestStatus = tr.StatusCode()
	if tr.JSON200 == nil {
		return fmt.Errorf("observation: %d, no TestSubmissionResponse: %s", tr.StatusCode(), tr.Body)
	}
	tp := tr.JSON200.TestProof
	out.TestUVCI, out.TestResult, out.TestType = tp.Metadata.Uvci, tp.Test.TestResult.Code, tp.Test.TypeOfTest.Code
	out.TestValidThrough = tp.Metadata.ValidThrough.UTC().Format(time.RFC3339)
	out.TestQRMimetype, out.TestQRWidth = tp.QrCode.Mimetype, tp.QrCode.Width
	if tp.Subject.FamilyName != nil {
		out.TestFamilyName = *tp.Subject.FamilyName
	}
	if tp.Subject.Identity != nil {
		out.TestIdentity = *tp.Subject.Identity
	}
	for _, p := range tr.JSON200.ProofTypes {
		out.TestProofMimetypes = append(out.TestProofMimetypes, p.Mimetype)
		if p.FileName != nil {
			out.TestFileNames = append(out.TestFileNames, *p.FileName)
		}
	}

	rr, err := c.SubmitObservationForRecoveryProofWithBodyWithResponse(ctx, "application/fhir+json", bytes.NewReader(recBody))
	if err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	out.RecoveryStatus = rr.StatusCode()
	if rr.JSON200 == nil {
		return fmt.Errorf("recovery: %d, no RecoveryProofResponse: %s", rr.StatusCode(), rr.Body)
	}
	rp := rr.JSON200.RecoveryProof
	out.RecoveryUVCI = rp.Metadata.Uvci
	out.RecoveryPositiveDate = rp.Recovery.PositiveTestResultDate.String()
	out.RecoveryIssuanceDate = rp.Metadata.IssuanceDate.String()
	if rp.Subject.Identity != nil {
		out.RecoveryIdentity = *rp.Subject.Identity
	}
	for _, p := range rr.JSON200.ProofTypes {
		out.RecoveryProofMimetypes = append(out.RecoveryProofMimetypes, p.Mimetype)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
