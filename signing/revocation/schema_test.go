package revocation_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sedcc/dcc/docs"
	"github.com/sedcc/dcc/signing/revocation"
)

// The list Build makes validates against docs/revocation-list.schema.json, empty or not.
func TestListMatchesSchema(t *testing.T) {
	sch, err := docs.CompileSchema(docs.RevocationListSchema)
	if err != nil {
		t.Fatal(err)
	}
	h := revocation.Hashes{UCI: revocation.UCIHash("U"), CountryCodeUCI: revocation.CountryCodeUCIHash("SE", "U"),
		Signature: revocation.UCIHash("S")}
	for _, l := range []revocation.List{
		revocation.Build("SE", time.Time{}, nil),
		revocation.Build("SE", issued, []revocation.Revoked{{KID: []byte("12345678"), Expires: issued, Hashes: h}}),
	} {
		doc, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(doc); err != nil {
			t.Errorf("revocation list fails its schema: %v\n%s", err, doc)
		}
	}
	bad := []byte(`{"country":"SE","lastUpdated":"2026-01-01T00:00:00Z","batches":[{"country":"SE","expires":"2026-01-01T00:00:00Z","kid":"MTIzNDU2Nzg=","hashType":"UCI","entries":[{"hash":"AAAA"}]}]}`)
	if sch.Validate(bad) == nil {
		t.Error("a short hash passes the schema")
	}
}
