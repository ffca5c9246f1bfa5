package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"

	"github.com/labstack/echo/v4"
)

// The issuance answer is written by github.com/go-json-experiment/json for speed; it must be
// byte for byte what encoding/json (the reference, as the answer was written before) writes
// for the same answer: every kind, both shapes, and texts that the two escape differently by
// default (HTML characters, U+2028 and U+2029, control characters). Invalid UTF-8, which a signed
// payload cannot hold, is replaced by U+FFFD by both, written as the character rather than as
// its escape: the same JSON value.
func TestAnswerIsWhatEncodingJSONWrites(t *testing.T) {
	png := bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0, 0xff, 0x10}, 301)
	pdf := append([]byte("%PDF-1.7\n<< /Type /Catalog >>\n"), bytes.Repeat([]byte{0xe2, 0x80, 0xa8, 0}, 997)...)
	tricky := "Nguyễn <b>&</b> \u2028\u2029 \x01\t\"\\ end"
	proofOf := func() *proof {
		return &proof{
			QRCode: qrCode{Mimetype: "image/png", Width: 404, Height: 404, Image: png},
			Metadata: metadata{UVCI: "URN:UVCI:01:SE:DCC/ABC#Z", IssuanceDate: "2026-11-27", ValidThrough: "2026-11-30T10:00:00Z",
				Issuer: tricky, Country: "SE", HC1: "HC1:6BF+70790T9WJWG.FKY*4GO0", IdentitySource: "register",
				Delivery: "provider", Environment: "sandbox"},
			Subject: subject{Identity: "198503122387", GivenName: tricky, FamilyName: "Dvořák-Wałęsa", BirthDate: "1985-03-12",
				BirthDateString: "1985-03-12"},
		}
	}
	test, recovery, vaccination := proofOf(), proofOf(), proofOf()
	manuf := coding{Code: "1232", Display: "Abbott <Rapid> & co"}
	test.Test = &testDetails{ID: "t1", TypeOfTest: coding{Code: "LP217198-3", Display: "Rapid"}, SampleCollectionDateTime: "2026-11-27T08:00:00Z",
		TestResult: coding{Code: "260415000", Display: "Not detected"}, TestManufacturer: &manuf,
		TargetDisease: coding{Code: "840539006", Display: "COVID-19"}, TestProvider: &coding{Display: tricky}}
	recovery.Recovery = &recoveryDetails{PositiveTestResultDate: "2026-10-01", ValidFrom: "2026-10-12", ValidUntil: "2027-03-30"}
	vaccination.Vaccination = &vaccinationDetails{ID: "v1", TargetDisease: coding{Code: "840539006", Display: "COVID-19"},
		DoseNumber: 2, TotalSeriesOfDoses: 2, DateOfVaccination: "2026-06-01"}
	types := []proofType{{Mimetype: "application/pdf", Content: pdf, FileName: "covid-certificate-test-01.SE.DCC_ABC-Z.pdf",
		Delivery: delivery{ServiceSupplier: "provider", Message: tricky}}}
	answers := map[string]submissionResponse{
		"test":        {TestProof: test, ProofTypes: types, IdentitySource: "register"},
		"recovery":    {RecoveryProof: recovery, ProofTypes: types, IdentitySource: "birthdate-fallback"},
		"vaccination": {VaccinationProof: vaccination, ProofTypes: types},
		"empty":       {ProofTypes: []proofType{}},
	}
	invalid := *test
	invalid.Subject.GivenName = "Nguy\xff\xfen"
	answers["invalid-utf8"] = submissionResponse{TestProof: &invalid, ProofTypes: types}
	s := &Server{}
	for name, resp := range answers {
		for shape, r := range map[string]submissionResponse{"api": resp, "compat": resp.compat()} {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
			for range 2 { // a reused buffer writes the same
				rec := httptest.NewRecorder()
				c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/api/v1/observation", nil), rec)
				if err := s.writeAnswer(c, r); err != nil {
					t.Fatalf("%s/%s: %v", name, shape, err)
				}
				if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != echo.MIMEApplicationJSON {
					t.Errorf("%s/%s: status %d, Content-Type %q", name, shape, rec.Code, rec.Header().Get("Content-Type"))
				}
				if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(rec.Body.Len()) {
					t.Errorf("%s/%s: Content-Length %s for a body of %d bytes", name, shape, got, rec.Body.Len())
				}
				if name == "invalid-utf8" {
					var got, ref any
					if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
						t.Fatal(err)
					}
					if err := json.Unmarshal(want.Bytes(), &ref); err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, ref) {
						t.Errorf("%s/%s: answer is another JSON value than encoding/json's", name, shape)
					}
					continue
				}
				if !bytes.Equal(rec.Body.Bytes(), want.Bytes()) {
					got := rec.Body.Bytes()
					i := 0
					for i < len(got) && i < want.Len() && got[i] == want.Bytes()[i] {
						i++
					}
					from := max(0, i-40)
					t.Errorf("%s/%s: answer differs from encoding/json's at byte %d:\n got %.120q\nwant %.120q", name, shape, i, got[from:], want.Bytes()[from:])
				}
			}
		}
	}
}

// BenchmarkAnswer writes an issuance answer with the documents of a 594-character HC1 (PNG
// 5.7 kB, PDF 12.4 kB): as it was written before (base64 strings made first, encoding/json
// streaming to the response) and by writeAnswer.
func BenchmarkAnswer(b *testing.B) {
	png, pdf := bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0, 0xff}, 5700/6), bytes.Repeat([]byte("%PDF-1.7 BT /F1 9 Tf"), 12400/20)
	resp := submissionResponse{
		TestProof: &proof{
			QRCode: qrCode{Mimetype: "image/png", Width: 404, Height: 404, Image: png},
			Metadata: metadata{UVCI: "URN:UVCI:01:SE:DCC/ABCDEFGHIJ123#Z", IssuanceDate: "2026-11-27", ValidThrough: "2026-11-30T10:00:00Z",
				Issuer: "Swedish eHealth Agency", Country: "SE", HC1: "HC1:" + string(bytes.Repeat([]byte("6BF+70790T9WJWG.FKY*4GO0"), 24)),
				IdentitySource: "register", Delivery: "provider", Environment: "sandbox"},
			Subject: subject{Identity: "198503122387", GivenName: "Åsa", FamilyName: "Öberg", BirthDate: "1985-03-12", BirthDateString: "1985-03-12"},
			Test: &testDetails{ID: "t1", TypeOfTest: coding{Code: "LP217198-3", Display: "Rapid immunoassay"}, SampleCollectionDateTime: "2026-11-27T08:00:00Z",
				TestResult: coding{Code: "260415000", Display: "Not detected"}, TargetDisease: coding{Code: "840539006", Display: "COVID-19"}},
		},
		ProofTypes: []proofType{{Mimetype: "application/pdf", Content: pdf, FileName: "covid-certificate-test-01.SE.DCC_ABCDEFGHIJ123-Z.pdf",
			Delivery: delivery{ServiceSupplier: "provider", Message: "Hand the printed certificate to the person directly."}}},
	}
	// before mirrors the answer's shape with the documents as base64 strings.
	type beforeQR struct {
		Mimetype string `json:"mimetype"`
		Width    int    `json:"width"`
		Height   int    `json:"height"`
		Image    string `json:"image"`
	}
	type beforeProof struct {
		QRCode   beforeQR `json:"qrCode"`
		Metadata metadata `json:"metadata"`
		Subject  subject  `json:"subject"`
		Test     *testDetails
	}
	type beforeType struct {
		Mimetype string   `json:"mimetype"`
		Content  string   `json:"content"`
		FileName string   `json:"fileName"`
		Delivery delivery `json:"delivery"`
	}
	type beforeResponse struct {
		TestProof  *beforeProof `json:"testProof,omitempty"`
		ProofTypes []beforeType `json:"proofTypes"`
	}
	e := echo.New()
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p := resp.TestProof
			r := beforeResponse{
				TestProof: &beforeProof{QRCode: beforeQR{Mimetype: "image/png", Width: 404, Height: 404,
					Image: base64.StdEncoding.EncodeToString(p.QRCode.Image)}, Metadata: p.Metadata, Subject: p.Subject, Test: p.Test},
				ProofTypes: []beforeType{{Mimetype: "application/pdf", Content: base64.StdEncoding.EncodeToString(resp.ProofTypes[0].Content),
					FileName: resp.ProofTypes[0].FileName, Delivery: resp.ProofTypes[0].Delivery}},
			}
			c := e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), discardWriter{header: http.Header{}})
			c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			c.Response().WriteHeader(http.StatusOK)
			if err := encodeJSON(c.Response(), r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("writeAnswer", func(b *testing.B) {
		s := &Server{}
		b.ReportAllocs()
		for b.Loop() {
			c := e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), discardWriter{header: http.Header{}})
			if err := s.writeAnswer(c, resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ header http.Header }

func (w discardWriter) Header() http.Header         { return w.header }
func (w discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w discardWriter) WriteHeader(int)             {}
