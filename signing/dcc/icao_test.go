package dcc

import (
	"errors"
	"strings"
	"testing"
)

func TestTransliterate(t *testing.T) {
	cases := []struct{ in, want string }{
		// Nordic
		{"Lövström", "LOEVSTROEM"},
		{"Åsa-Märta", "AASA<MAERTA"},
		{"Sjöberg Ångström", "SJOEBERG<AANGSTROEM"},
		{"Søren Kierkegaard", "SOEREN<KIERKEGAARD"},
		{"Ærøskøbing", "AEROESKOEBING"},
		{"Guðrún Þórsdóttir", "GUDRUN<THORSDOTTIR"},
		{"Väinö Hämäläinen", "VAEINOE<HAEMAELAEINEN"},
		// German
		{"Müller-Lüdenscheidt", "MUELLER<LUEDENSCHEIDT"},
		{"Straße", "STRASSE"},
		{"Gößling", "GOESSLING"},
		// French
		{"Éloïse Lefèvre", "ELOISE<LEFEVRE"},
		{"François d'Aubigné", "FRANCOIS<DAUBIGNE"},
		{"Cœur", "COEUR"},
		// Czech example from the schema
		{"d'Červenková Panklová", "DCERVENKOVA<PANKLOVA"},
		{"Jiřina-Maria Alena", "JIRINA<MARIA<ALENA"},
		// Polish, Spanish
		{"Łukasz Żółć", "LUKASZ<ZOLC"},
		{"Peña", "PENA"},
		// Cyrillic and Greek (ICAO table B)
		{"Щербакова Юлия", "SHCHERBAKOVA<IULIIA"},
		{"Жуков", "ZHUKOV"},
		{"Ильич", "ILICH"},
		{"Γεώργιος Νικολάου", "GEORGIOS<NIKOLAOY"},
		{"Χρήστος", "CHRISTOS"},
		// separators
		{"  Anna   Maria  ", "ANNA<MARIA"},
		{"Anna - Maria", "ANNA<MARIA"},
		{"St. John", "ST<JOHN"},
		{"", ""},
		// decomposed input (e + combining acute) is composed first
		{"Re\u0301ne\u0301", "RENE"},
	}
	for _, c := range cases {
		got, err := Transliterate(c.in)
		if err != nil {
			t.Errorf("Transliterate(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("Transliterate(%q) = %q, want %q", c.in, got, c.want)
		}
		if !validStandardised(got) {
			t.Errorf("Transliterate(%q) = %q, outside A-Z and <", c.in, got)
		}
	}
}

func TestTransliterateUnmappable(t *testing.T) {
	for _, in := range []string{"ناصر", "王", "Anna2", "Smith & Sons", "Ann😀", "O\xffle"} {
		got, err := Transliterate(in)
		if !errors.Is(err, ErrTransliteration) {
			t.Errorf("Transliterate(%q) = %q, %v; want ErrTransliteration", in, got, err)
		}
	}
}

func TestTransliterateLimit(t *testing.T) {
	long := strings.Repeat("Åke ", 30) // 30 * "AAKE<" = 150 characters
	got, err := Transliterate(long)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > MaxLength {
		t.Fatalf("length %d, want at most %d", len(got), MaxLength)
	}
	if strings.HasSuffix(got, "<") {
		t.Errorf("truncated name ends in a filler: %q", got)
	}
	if !strings.HasPrefix(got, "AAKE<AAKE<") {
		t.Errorf("unexpected truncation %q", got)
	}
}

func TestNewName(t *testing.T) {
	n, err := NewName("Lövström", "Oscar")
	if err != nil {
		t.Fatal(err)
	}
	want := Name{FamilyName: "Lövström", FamilyNameStandardised: "LOEVSTROEM", GivenName: "Oscar", GivenNameStandardised: "OSCAR"}
	if n != want {
		t.Errorf("NewName = %+v, want %+v", n, want)
	}
	_, err = NewName("Smith", "王")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "nam.gn" || !errors.Is(err, ErrTransliteration) {
		t.Errorf("NewName with unmappable given name: %v", err)
	}
	if _, err := NewName("", " "); !errors.As(err, &fe) || fe.Code != CodeRequired {
		t.Errorf("NewName with no names: %v", err)
	}
}
