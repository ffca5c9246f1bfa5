package fhirtest

import (
	"time"
)

// --- time ---

// Now sets the clock the body is valid at (default time.Now()): the effective or occurrence time
// lies the kind's usual age before it (20 h for NAAT, 35 min for RAT, 50 min for NoPNR, 30 days
// for Recovery, 40 min for Immunization), in now's location.
func Now(now time.Time) Option { return func(b *builder) { b.now = now } }

// Age sets how long before now the sample was taken or the dose given.
func Age(d time.Duration) Option { return func(b *builder) { b.age = d } }

// At sets effectiveDateTime or occurrenceDateTime to t exactly (RFC 3339 in t's location).
func At(t time.Time) Option { return func(b *builder) { b.at = &t } }

// AtRaw sets effectiveDateTime or occurrenceDateTime to s as it is, e.g. without zone.
func AtRaw(s string) Option { return func(b *builder) { b.atRaw = &s } }

// --- the person ---

// PNR makes the Patient's only identifier the personnummer s.
func PNR(s string) Option { return identityNumber(systemPNR, s) }

// Samordningsnummer makes the Patient's only identifier the samordningsnummer s.
func Samordningsnummer(s string) Option { return identityNumber(systemSNR, s) }

func identityNumber(system, s string) Option {
	return func(b *builder) {
		b.edit(func(doc *object) {
			contained(doc, "Patient").set("identifier", []any{obj("system", system, "value", s)})
		})
	}
}

// WithoutPNR removes the Patient's identifier (add Name and BirthDate for a valid body).
func WithoutPNR() Option {
	return func(b *builder) { b.edit(func(doc *object) { contained(doc, "Patient").del("identifier") }) }
}

// Name sets the Patient's name (with a personnummer, the provider's claim).
func Name(family string, given ...string) Option {
	return func(b *builder) {
		b.edit(func(doc *object) {
			n := obj()
			if family != "" {
				n.set("family", family)
			}
			if len(given) > 0 {
				g := make([]any, len(given))
				for i, x := range given {
					g[i] = x
				}
				n.set("given", g)
			}
			contained(doc, "Patient").set("name", []any{n})
		})
	}
}

// BirthDate sets Patient.birthDate; "" removes it.
func BirthDate(s string) Option {
	return func(b *builder) {
		b.edit(func(doc *object) {
			p := contained(doc, "Patient")
			if s == "" {
				p.del("birthDate")
				return
			}
			p.set("birthDate", s)
		})
	}
}

// --- the resource ---

// Identifier sets identifier[0].value, the provider's id for the result or dose.
func Identifier(s string) Option {
	return func(b *builder) {
		b.edit(func(doc *object) { doc.set("identifier", []any{obj("value", s)}) })
	}
}

// Status sets status.
func Status(s string) Option {
	return func(b *builder) { b.edit(func(doc *object) { doc.set("status", s) }) }
}

// TestData marks the body as test data: meta.tag HTEST.
func TestData() Option {
	return func(b *builder) {
		b.edit(func(doc *object) {
			doc.set("meta", obj("tag", []any{obj("system", systemActReason, "code", "HTEST", "display", "test health data")}))
		})
	}
}

// --- tests ---

// TestType sets the LOINC test type (code.coding[0].code).
func TestType(code string) Option { return Set("code.coding[0].code", code) }

// Result sets the SNOMED CT test result (NotDetected, Detected).
func Result(code string) Option { return Set("valueCodeableConcept.coding[0].code", code) }

// Device sets the RAT device id: the contained Device gets the EU RAT identifier with this value
// (a Device is added and referenced when the body has none).
func Device(id string) Option {
	return func(b *builder) {
		b.edit(func(doc *object) {
			d := contained(doc, "Device")
			if d == nil {
				d = obj("resourceType", "Device", "id", "3")
				doc.set("contained", append(doc.get("contained").([]any), d))
				doc.set("device", obj("reference", "#3"))
			}
			d.set("identifier", []any{obj("system", systemRAT, "value", id)})
		})
	}
}

// WithoutDevice removes the contained Device and Observation.device.
func WithoutDevice() Option { return withoutContained("Device", "device") }

// Performer sets the contained Organization's name (one is added and referenced when the body
// has none).
func Performer(name string) Option {
	return func(b *builder) {
		b.edit(func(doc *object) {
			o := contained(doc, "Organization")
			if o == nil {
				o = obj("resourceType", "Organization", "id", "2")
				doc.set("contained", append(doc.get("contained").([]any), o))
				if doc.get("resourceType") == "Immunization" {
					doc.set("performer", []any{obj("actor", obj("reference", "#2"))})
				} else {
					doc.set("performer", []any{obj("reference", "#2")})
				}
			}
			o.set("name", name)
		})
	}
}

// WithoutPerformer removes the contained Organization and performer.
func WithoutPerformer() Option { return withoutContained("Organization", "performer") }

// --- vaccination ---

// Dose sets protocolApplied[0].doseNumberPositiveInt and seriesDosesPositiveInt.
func Dose(dn, sd int) Option {
	return func(b *builder) {
		b.edit(func(doc *object) {
			setPath(doc, parsePath("protocolApplied[0].doseNumberPositiveInt"), dn)
			setPath(doc, parsePath("protocolApplied[0].seriesDosesPositiveInt"), sd)
		})
	}
}

// Prophylaxis sets the vaccine type (the SNOMED CT coding in vaccineCode); "" removes it.
func Prophylaxis(code string) Option {
	return func(b *builder) {
		b.edit(func(doc *object) {
			vc := doc.get("vaccineCode").(*object)
			codings, _ := vc.get("coding").([]any)
			kept := codings[:0:0]
			for _, c := range codings {
				if c.(*object).get("system") != systemSNOMED {
					kept = append(kept, c)
				}
			}
			if code != "" {
				kept = append(kept, obj("system", systemSNOMED, "code", code))
			}
			vc.set("coding", kept)
		})
	}
}

// Manufacturer sets manufacturer.identifier.value (the marketing authorisation holder); ""
// removes manufacturer.
func Manufacturer(code string) Option {
	return func(b *builder) {
		b.edit(func(doc *object) {
			if code == "" {
				doc.del("manufacturer")
				return
			}
			doc.set("manufacturer", obj("identifier", obj("system", systemSPOR, "value", code)))
		})
	}
}

// --- anything ---

// Set sets the element at path (relative to the resource, e.g. "status",
// "contained[0].birthDate", "code.coding[1].code") to v, creating what is missing on the way.
// v is marshalled as JSON: a string, number, bool, nil, map[string]any or []any.
func Set(path string, v any) Option {
	segs := parsePath(path)
	return func(b *builder) { b.edit(func(doc *object) { setPath(doc, segs, v) }) }
}

// Remove removes the element at path (as for Set), if it is there.
func Remove(path string) Option {
	segs := parsePath(path)
	return func(b *builder) { b.edit(func(doc *object) { removePath(doc, segs) }) }
}

// contained returns the first contained resource of the given type, or nil.
func contained(doc *object, resourceType string) *object {
	list, _ := doc.get("contained").([]any)
	for _, c := range list {
		if o, ok := c.(*object); ok && o.get("resourceType") == resourceType {
			return o
		}
	}
	return nil
}

func withoutContained(resourceType, ref string) Option {
	return func(b *builder) {
		b.edit(func(doc *object) {
			list, _ := doc.get("contained").([]any)
			kept := list[:0:0]
			for _, c := range list {
				if o, ok := c.(*object); !ok || o.get("resourceType") != resourceType {
					kept = append(kept, c)
				}
			}
			doc.set("contained", kept)
			doc.del(ref)
		})
	}
}
