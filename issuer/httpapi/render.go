package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/document"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/valueset"
)

// The response shapes follow the Swedish provider API (covidbevis-api swagger.json):
// TestSubmissionResponse, RecoveryProofResponse and, shaped like them, VaccinationProofResponse.
// The /api/v1 paths add the project's extensions (docs/openapi.yaml): metadata.hc1,
// identitySource, delivery and environment, recovery.validFrom and validUntil, and identitySource
// at the top level. The compatibility paths answer exactly the swagger.json shapes: compat()
// removes every extension, since clients generated from swagger.json in several languages refuse
// properties it does not declare.

// The documents' bytes are []byte: the answer is written with github.com/go-json-experiment/json
// (writeAnswer), which writes []byte as standard base64 (RFC 4648, padded) straight into its
// buffer, as one string the client decodes, without a base64 copy of its own to escape.
type qrCode struct {
	Mimetype string `json:"mimetype"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Image    []byte `json:"image"`
}

type metadata struct {
	UVCI         string `json:"uvci"`
	IssuanceDate string `json:"issuanceDate"`
	ValidThrough string `json:"validThrough"`
	Issuer       string `json:"issuer"`
	Country      string `json:"country"`
	// Extensions (the /api/v1 paths only).
	HC1            string `json:"hc1,omitempty"`
	IdentitySource string `json:"identitySource,omitempty"`
	Delivery       string `json:"delivery,omitempty"`
	Environment    string `json:"environment,omitempty"`
}

type subject struct {
	// Identity is the personnummer the provider sent, when it sent one.
	Identity        string `json:"identity,omitempty"`
	GivenName       string `json:"givenName,omitempty"`
	FamilyName      string `json:"familyName,omitempty"`
	BirthDate       string `json:"birthDate,omitempty"`
	BirthDateString string `json:"birthDateString"`
}

type coding struct {
	Code    string `json:"code"`
	Display string `json:"display"`
}

type testDetails struct {
	ID                       string  `json:"id"`
	TypeOfTest               coding  `json:"typeOfTest"`
	TestName                 string  `json:"testName,omitempty"`
	SampleCollectionDateTime string  `json:"sampleCollectionDateTime"`
	TestResult               coding  `json:"testResult"`
	TestManufacturer         *coding `json:"testManufacturer,omitempty"`
	TargetDisease            coding  `json:"targetDisease"`
	TestProvider             *coding `json:"testProvider,omitempty"`
}

type recoveryDetails struct {
	PositiveTestResultDate string `json:"positiveTestResultDate"`
	// Extensions (the /api/v1 paths only).
	ValidFrom  string `json:"validFrom,omitempty"`
	ValidUntil string `json:"validUntil,omitempty"`
}

type vaccinationDetails struct {
	ID                 string `json:"id"`
	TargetDisease      coding `json:"targetDisease"`
	VaccineType        coding `json:"vaccineType"`
	MedicinalProduct   coding `json:"medicinalProduct"`
	Manufacturer       coding `json:"manufacturer"`
	DoseNumber         int    `json:"doseNumber"`
	TotalSeriesOfDoses int    `json:"totalSeriesOfDoses"`
	DateOfVaccination  string `json:"dateOfVaccination"`
}

type proof struct {
	QRCode      qrCode              `json:"qrCode"`
	Metadata    metadata            `json:"metadata"`
	Subject     subject             `json:"subject"`
	Test        *testDetails        `json:"test,omitempty"`
	Recovery    *recoveryDetails    `json:"recovery,omitempty"`
	Vaccination *vaccinationDetails `json:"vaccination,omitempty"`
}

type delivery struct {
	ServiceSupplier string `json:"serviceSupplier"`
	Delivered       bool   `json:"delivered"`
	Message         string `json:"message"`
}

type proofType struct {
	Mimetype string   `json:"mimetype"`
	Content  []byte   `json:"content"`
	FileName string   `json:"fileName"`
	Delivery delivery `json:"delivery"`
}

type submissionResponse struct {
	TestProof        *proof      `json:"testProof,omitempty"`
	RecoveryProof    *proof      `json:"recoveryProof,omitempty"`
	VaccinationProof *proof      `json:"vaccinationProof,omitempty"`
	ProofTypes       []proofType `json:"proofTypes"`
	// Extension (the /api/v1 paths only).
	IdentitySource string `json:"identitySource,omitempty"`
}

// compat is the answer as the compatibility paths give it: the swagger.json shape, every
// extension removed.
func (r submissionResponse) compat() submissionResponse {
	r.IdentitySource = ""
	for _, p := range []*proof{r.TestProof, r.RecoveryProof, r.VaccinationProof} {
		if p == nil {
			continue
		}
		p.Metadata.HC1, p.Metadata.IdentitySource, p.Metadata.Delivery, p.Metadata.Environment = "", "", "", ""
		if p.Recovery != nil {
			p.Recovery.ValidFrom, p.Recovery.ValidUntil = "", ""
		}
	}
	return r
}

// render builds the provider's answer for an issued (or replayed) certificate. Everything in it
// derives from the stored certificate, so a replay answers with the same content.
func (s *Server) render(out issuer.Issued) (submissionResponse, error) {
	cert, pl := out.Certificate, out.Payload
	png, w, h, pdf, err := s.renderDocuments(cert, pl)
	if err != nil {
		return submissionResponse{}, err
	}
	issuedBy, country := signedBy(pl)
	p := &proof{
		QRCode: qrCode{Mimetype: "image/png", Width: w, Height: h, Image: png},
		Metadata: metadata{
			UVCI:           cert.UVCI,
			IssuanceDate:   cert.IssuedAt.In(s.zone).Format("2006-01-02"),
			ValidThrough:   cert.ExpiresAt.UTC().Format(time.RFC3339),
			Issuer:         issuedBy,
			Country:        country,
			HC1:            cert.HC1,
			IdentitySource: string(cert.IdentitySource),
			Delivery:       string(cert.Delivery),
			Environment:    string(cert.Environment),
		},
		Subject: subjectOf(pl, out.Identity),
	}
	resp := submissionResponse{IdentitySource: string(cert.IdentitySource)}
	p.Test, p.Recovery, p.Vaccination = s.entryDetails(pl)
	switch {
	case p.Test != nil:
		resp.TestProof = p
	case p.Recovery != nil:
		resp.RecoveryProof = p
	case p.Vaccination != nil:
		resp.VaccinationProof = p
	default:
		return submissionResponse{}, fmt.Errorf("certificate %s holds no single entry", cert.UVCI)
	}
	resp.ProofTypes = []proofType{{
		Mimetype: "application/pdf",
		Content:  pdf,
		FileName: fileName(cert),
		Delivery: deliveryOf(cert.Delivery),
	}}
	return resp, nil
}

// answerOptions make github.com/go-json-experiment/json write what encoding/json wrote before
// (an Encoder without HTML escaping): U+2028 and U+2029 escaped, invalid UTF-8 replaced by
// U+FFFD rather than refused, and the value followed by a newline.
var answerOptions = jsonv2.JoinOptions(jsontext.EscapeForJS(true), jsontext.AllowInvalidUTF8(true))

// writeAnswer sends an issuance answer: 200 with the JSON written whole into a reused buffer,
// so that it goes out in one write with its Content-Length rather than chunked.
func (s *Server) writeAnswer(c echo.Context, resp submissionResponse) error {
	buf, _ := s.answerBufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxPooledAnswer {
			buf.Reset()
			s.answerBufs.Put(buf)
		}
	}()
	if err := jsonv2.MarshalWrite(buf, resp, answerOptions); err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	buf.WriteByte('\n')
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderContentLength, strconv.Itoa(buf.Len()))
	c.Response().WriteHeader(http.StatusOK)
	_, err := c.Response().Write(buf.Bytes())
	return err
}

// maxPooledAnswer bounds the buffers kept for answers: an answer with a large font subset in its
// PDF is some 60 kB; one far above that is not kept.
const maxPooledAnswer = 256 << 10

// renderDocuments makes the QR code and PDF of a certificate. With the citizens' routes on, they
// are kept for the citizen's fetches (and a replay), so a certificate is rendered once.
func (s *Server) renderDocuments(cert issuer.Certificate, pl dcc.Certificate) (png []byte, w, h int, pdf []byte, err error) {
	if s.cit == nil || len(cert.SubjectKey) == 0 {
		docs, err := document.Render(s.printable(cert, pl))
		if err != nil {
			return nil, 0, 0, nil, fmt.Errorf("render %s: %w", cert.UVCI, err)
		}
		return docs.QR, docs.Width, docs.Height, docs.PDF, nil
	}
	d, err := s.cit.docs.load(cert.UVCI, func() (*documents, error) { return s.makeDocuments(cert, pl, nil) })
	if err != nil {
		return nil, 0, 0, nil, err
	}
	return d.qr.body, d.qrWidth, d.qrHeight, d.pdf.body, nil
}

func subjectOf(pl dcc.Certificate, identity string) subject {
	sub := subject{Identity: identity, GivenName: pl.Name.GivenName, FamilyName: pl.Name.FamilyName, BirthDateString: pl.DateOfBirth}
	if len(pl.DateOfBirth) == 10 {
		sub.BirthDate = pl.DateOfBirth
	}
	return sub
}

// entryDetails are the display details of the certificate's one entry.
func (s *Server) entryDetails(pl dcc.Certificate) (*testDetails, *recoveryDetails, *vaccinationDetails) {
	switch {
	case len(pl.Test) == 1:
		t := pl.Test[0]
		td := &testDetails{
			ID:                       t.ID,
			TypeOfTest:               s.coding(valueset.TestType, t.Type),
			TestName:                 t.Name,
			SampleCollectionDateTime: t.SampleCollected,
			TestResult:               s.coding(valueset.TestResult, t.Result),
			TargetDisease:            s.coding(valueset.DiseaseAgent, t.Disease),
		}
		if t.Device != "" {
			c := s.coding(valueset.TestManufacturer, t.Device)
			td.TestManufacturer = &c
		}
		if t.Centre != "" {
			td.TestProvider = &coding{Display: t.Centre}
		}
		return td, nil, nil
	case len(pl.Recovery) == 1:
		r := pl.Recovery[0]
		return nil, &recoveryDetails{PositiveTestResultDate: r.FirstPositive, ValidFrom: r.ValidFrom, ValidUntil: r.ValidUntil}, nil
	case len(pl.Vaccination) == 1:
		v := pl.Vaccination[0]
		return nil, nil, &vaccinationDetails{
			ID:                 v.ID,
			TargetDisease:      s.coding(valueset.DiseaseAgent, v.Disease),
			VaccineType:        s.coding(valueset.VaccineProphylaxis, v.Vaccine),
			MedicinalProduct:   s.coding(valueset.VaccineProduct, v.Product),
			Manufacturer:       s.coding(valueset.VaccineManufacturer, v.Manufacturer),
			DoseNumber:         v.DoseNumber,
			TotalSeriesOfDoses: v.TotalDoses,
			DateOfVaccination:  v.Date,
		}
	}
	return nil, nil, nil
}

func deliveryOf(d issuer.Delivery) delivery {
	if d == issuer.DeliveryCitizen {
		return delivery{ServiceSupplier: "citizen-service", Delivered: true,
			Message: "The holder can fetch the certificate in the citizen service, signed in with their e-ID. Hand it out as well if they ask."}
	}
	return delivery{ServiceSupplier: "provider", Delivered: false,
		Message: "Hand the printed certificate to the person directly; it is not delivered digitally."}
}

// fileName names the PDF after the whole UVCI, so that no two certificates share a name: the
// "URN:UVCI:" prefix dropped, and each of the UVCI's separators mapped to its own safe character
// (':' to '.', '/' to '_', '#' to '-'), so that a check character of '/' or ':' stays distinct.
func fileName(c issuer.Certificate) string {
	id := strings.TrimPrefix(c.UVCI, "URN:UVCI:")
	id = strings.Map(func(r rune) rune {
		switch {
		case r == ':':
			return '.'
		case r == '/':
			return '_'
		case r == '#':
			return '-'
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return -1
	}, id)
	return fmt.Sprintf("covid-certificate-%s-%s.pdf", c.Kind, id)
}

func (s *Server) coding(set, code string) coding {
	c := coding{Code: code, Display: code}
	if vs := s.values.Set(set); vs != nil {
		if v, ok := vs.Lookup(code); ok {
			c.Display = v.Display
		}
	}
	return c
}

func (s *Server) display(set, code string) string { return s.coding(set, code).Display }

// swedish holds the Swedish display texts of the value-set codes a printed
// certificate describes in words (proper names, such as vaccine products and
// manufacturers, read the same in both languages).
var swedish = map[[2]string]string{
	{valueset.DiseaseAgent, "840539006"}:            "Covid-19",
	{valueset.TestType, "LP6464-4"}:                 "Nukleinsyraamplifiering (NAAT, t.ex. PCR)",
	{valueset.TestType, "LP217198-3"}:               "Snabbtest för antigen",
	{valueset.TestResult, "260415000"}:              "Ej påvisad",
	{valueset.TestResult, "260373001"}:              "Påvisad",
	{valueset.VaccineProphylaxis, "1119305005"}:     "SARS-CoV-2-antigenvaccin",
	{valueset.VaccineProphylaxis, "1119349007"}:     "SARS-CoV-2-mRNA-vaccin",
	{valueset.VaccineProphylaxis, "J07BX03"}:        "Covid-19-vaccin",
	{valueset.VaccineProphylaxis, "29061000087103"}: "Covid-19-vaccin (annat)",
}

// bilingual is the display text of a code as "Swedish / English" on the
// printed certificate, or the English text alone when no Swedish one is known
// or both read the same.
func (s *Server) bilingual(set, code string) string {
	en := s.display(set, code)
	if sv, ok := swedish[[2]string{set, code}]; ok && sv != en {
		return sv + " / " + en
	}
	return en
}

// printable turns a certificate into the display values of its PDF.
func (s *Server) printable(c issuer.Certificate, pl dcc.Certificate) document.Certificate {
	issuedBy, country := signedBy(pl)
	doc := document.Certificate{
		Kind:          document.Kind(c.Kind),
		HC1:           c.HC1,
		UVCI:          c.UVCI,
		FamilyName:    pl.Name.FamilyName,
		GivenName:     pl.Name.GivenName,
		FamilyNameStd: pl.Name.FamilyNameStandardised,
		GivenNameStd:  pl.Name.GivenNameStandardised,
		BirthDate:     pl.DateOfBirth,
		IssuedAt:      c.IssuedAt.In(s.zone),
		ValidUntil:    c.ExpiresAt.In(s.zone),
		Issuer:        issuedBy,
		Country:       countryName(country),
		Sandbox:       c.Environment == issuer.Sandbox,
	}
	switch {
	case len(pl.Test) == 1:
		t := pl.Test[0]
		sc, _ := time.Parse(time.RFC3339, t.SampleCollected)
		manuf := ""
		if t.Device != "" {
			manuf = s.display(valueset.TestManufacturer, t.Device)
		}
		doc.Fields = document.TestFields(document.TestDetails{
			Disease:      s.bilingual(valueset.DiseaseAgent, t.Disease),
			TestType:     s.bilingual(valueset.TestType, t.Type),
			TestName:     t.Name,
			Manufacturer: manuf,
			SampleTime:   sc.In(s.zone),
			Result:       s.bilingual(valueset.TestResult, t.Result),
			Facility:     t.Centre,
			Country:      countryName(t.Country),
		})
	case len(pl.Recovery) == 1:
		r := pl.Recovery[0]
		doc.Fields = document.RecoveryFields(document.RecoveryDetails{
			Disease:       s.bilingual(valueset.DiseaseAgent, r.Disease),
			FirstPositive: day(r.FirstPositive),
			ValidFrom:     day(r.ValidFrom),
			ValidUntil:    day(r.ValidUntil),
			Country:       countryName(r.Country),
		})
	case len(pl.Vaccination) == 1:
		v := pl.Vaccination[0]
		doc.Fields = document.VaccinationFields(document.VaccinationDetails{
			Disease:      s.bilingual(valueset.DiseaseAgent, v.Disease),
			VaccineType:  s.bilingual(valueset.VaccineProphylaxis, v.Vaccine),
			Product:      s.display(valueset.VaccineProduct, v.Product),
			Manufacturer: s.display(valueset.VaccineManufacturer, v.Manufacturer),
			Dose:         v.DoseNumber,
			Doses:        v.TotalDoses,
			Date:         day(v.Date),
			Country:      countryName(v.Country),
		})
	}
	return doc
}

// signedBy reads the certificate's own issuer and country, so that an answer, a replay included,
// shows what was signed whatever the configuration is today.
func signedBy(pl dcc.Certificate) (issuer, country string) {
	switch {
	case len(pl.Test) == 1:
		return pl.Test[0].Issuer, pl.Test[0].Country
	case len(pl.Recovery) == 1:
		return pl.Recovery[0].Issuer, pl.Recovery[0].Country
	case len(pl.Vaccination) == 1:
		return pl.Vaccination[0].Issuer, pl.Vaccination[0].Country
	}
	return "", ""
}

func day(s string) time.Time {
	t, _ := time.Parse("2006-01-02", s)
	return t
}

func countryName(code string) string {
	if code == "SE" {
		return "Sverige / Sweden (SE)"
	}
	return code
}
