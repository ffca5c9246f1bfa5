package httpapi_test

import (
	"encoding/base64"
	"testing"

	"github.com/sedcc/dcc/issuer/document/qrdecode"
)

// qrText reads the text of an answer's qrCode object (a base64 PNG) with a QR decoder.
func qrText(t testing.TB, qrCode any) string {
	t.Helper()
	m, ok := qrCode.(map[string]any)
	if !ok {
		t.Fatalf("no qrCode object: %v", qrCode)
	}
	raw, err := base64.StdEncoding.DecodeString(m["image"].(string))
	if err != nil {
		t.Fatal(err)
	}
	text, err := qrdecode.Text(raw)
	if err != nil {
		t.Fatalf("the answer's QR code: %v", err)
	}
	return text
}
