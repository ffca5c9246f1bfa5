package document

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// vector is the part of a dgc-testdata raw test vector these tests use.
type vector struct {
	JSON   json.RawMessage `json:"JSON"`
	Prefix string          `json:"PREFIX"`
}

func loadVector(t testing.TB, name string) vector {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read test vector: %v", err)
	}
	var v vector
	err = json.Unmarshal(raw, &v)
	if err != nil {
		t.Fatalf("parse test vector %s: %v", name, err)
	}
	if !strings.HasPrefix(v.Prefix, "HC1:") {
		t.Fatalf("test vector %s: PREFIX does not start with HC1:", name)
	}
	return v
}

// syntheticHC1 returns an "HC1:" string of n characters in total drawn from
// the Base45 alphabet, for lengths the published vectors do not cover.
func syntheticHC1(n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	var b strings.Builder
	b.WriteString("HC1:")
	state := uint32(2463534242)
	for b.Len() < n {
		state ^= state << 13
		state ^= state >> 17
		state ^= state << 5
		b.WriteByte(alphabet[state%uint32(len(alphabet))])
	}
	return b.String()
}

// decodeQR reads a QR code back from a PNG image.
func decodeQR(t *testing.T, pngData []byte) *gozxing.Result {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		t.Fatalf("decode png: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("binary bitmap: %v", err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("read qr code: %v", err)
	}
	return res
}

// minVersion is the smallest QR version whose level-Q data capacity holds
// bits(version) bits, from the decoder's own version tables.
func minVersion(t *testing.T, bits func(version int) int) int {
	t.Helper()
	for n := 1; n <= 40; n++ {
		v, err := decoder.Version_GetVersionForNumber(n)
		if err != nil {
			t.Fatalf("version %d: %v", n, err)
		}
		capacity := 0
		for _, b := range v.GetECBlocksForLevel(decoder.ErrorCorrectionLevel_Q).GetECBlocks() {
			capacity += b.GetCount() * b.GetDataCodewords() * 8
		}
		if bits(n) <= capacity {
			return n
		}
	}
	return 41
}

// alphanumericBits is the length of n characters as one alphanumeric segment.
func alphanumericBits(n int) func(int) int {
	return func(version int) int {
		count := 13
		switch {
		case version <= 9:
			count = 9
		case version <= 26:
			count = 11
		}
		return 4 + count + 11*(n/2) + 6*(n%2)
	}
}

// byteBits is the length of n characters as one byte segment.
func byteBits(n int) func(int) int {
	return func(version int) int {
		count := 16
		if version <= 9 {
			count = 8
		}
		return 4 + count + 8*n
	}
}

func TestQRRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		hc1  string
		opts QROptions
	}{
		{"SE recovery vector, default size", loadVector(t, "SE-5.json").Prefix, QROptions{}},
		{"SE test vector, default size", loadVector(t, "SE-2.json").Prefix, QROptions{}},
		{"SE test vector, 3 px", loadVector(t, "SE-2.json").Prefix, QROptions{ModulePixels: 3}},
		{"SE test vector, 1 px", loadVector(t, "SE-2.json").Prefix, QROptions{ModulePixels: 1}},
		{"short", syntheticHC1(40), QROptions{ModulePixels: 5}},
		{"300 characters", syntheticHC1(300), QROptions{}},
		{"1200 characters", syntheticHC1(1200), QROptions{ModulePixels: 7}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pngData, w, h, err := QR(tc.hc1, tc.opts)
			if err != nil {
				t.Fatalf("QR: %v", err)
			}
			img, err := png.Decode(bytes.NewReader(pngData))
			if err != nil {
				t.Fatalf("decode png: %v", err)
			}
			if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Fatalf("reported size %dx%d, image is %dx%d", w, h, b.Dx(), b.Dy())
			}
			if w != h {
				t.Fatalf("image is not square: %dx%d", w, h)
			}
			res := decodeQR(t, pngData)
			if got := res.GetText(); got != tc.hc1 {
				t.Fatalf("decoded text differs:\n got %q\nwant %q", got, tc.hc1)
			}
			meta := res.GetResultMetadata()
			if got := meta[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL]; got != "Q" {
				t.Errorf("error correction level %v, want Q", got)
			}
			if seg, ok := meta[gozxing.ResultMetadataType_BYTE_SEGMENTS]; ok {
				t.Errorf("symbol holds byte-mode segments %v, want alphanumeric only", seg)
			}

			px := tc.opts.ModulePixels
			if px == 0 {
				px = DefaultModulePixels
			}
			if w%px != 0 {
				t.Fatalf("width %d is not a multiple of the module size %d", w, px)
			}
			modules := w/px - 2*QuietZoneModules
			version := (modules - 17) / 4
			if 17+4*version != modules {
				t.Fatalf("%d modules a side is no QR version", modules)
			}
			n := len(tc.hc1)
			if limit := minVersion(t, alphanumericBits(n)); version > limit {
				t.Errorf("version %d, but %d characters fit in version %d in alphanumeric mode", version, n, limit)
			}
			if byteVersion := minVersion(t, byteBits(n)); version >= byteVersion {
				t.Errorf("version %d is no smaller than byte mode would need (%d)", version, byteVersion)
			}

			assertQuietZone(t, img, QuietZoneModules*px)
			assertModuleEdges(t, img, px)
		})
	}
}

// assertQuietZone checks that a margin of m pixels is light on all four sides
// and that the finder pattern starts right inside it.
func assertQuietZone(t *testing.T, img image.Image, m int) {
	t.Helper()
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			inside := x >= m && x < b.Max.X-m && y >= m && y < b.Max.Y-m
			if !inside && isDark(img.At(x, y)) {
				t.Fatalf("dark pixel at (%d,%d) inside the %d-pixel quiet zone", x, y, m)
			}
		}
	}
	for _, p := range []image.Point{{m, m}, {b.Max.X - m - 1, m}, {m, b.Max.Y - m - 1}} {
		if !isDark(img.At(p.X, p.Y)) {
			t.Errorf("finder pattern corner at %v is light", p)
		}
	}
}

// assertModuleEdges checks that every px by px block of the image is one
// colour, so module edges fall on exact pixel boundaries.
func assertModuleEdges(t *testing.T, img image.Image, px int) {
	t.Helper()
	b := img.Bounds()
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			if isDark(img.At(x, y)) != isDark(img.At(x-x%px, y-y%px)) {
				t.Fatalf("pixel (%d,%d) differs from its module's first pixel", x, y)
			}
		}
	}
}

func isDark(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r+g+b < 3*0x8000
}

func TestQRDeterministic(t *testing.T) {
	hc1 := loadVector(t, "SE-2.json").Prefix
	a, _, _, err := QR(hc1, QROptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, err := QR(hc1, QROptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two renderings of the same content differ")
	}
}

func TestQRRejects(t *testing.T) {
	cases := []struct {
		name string
		hc1  string
		opts QROptions
		want string
	}{
		{"empty content", "", QROptions{}, "empty content"},
		{"negative module size", "HC1:ABC", QROptions{ModulePixels: -1}, "module size -1"},
		{"module size too large", "HC1:ABC", QROptions{ModulePixels: MaxModulePixels + 1}, "module size"},
		{"content beyond version 40", syntheticHC1(3000), QROptions{}, "3000 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pngData, w, h, err := QR(tc.hc1, tc.opts)
			if err == nil {
				t.Fatalf("QR succeeded with a %dx%d image, want an error", w, h)
			}
			if pngData != nil {
				t.Errorf("QR returned %d bytes with its error", len(pngData))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
