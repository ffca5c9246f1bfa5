package document

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestQRDecodesWithZbar reads every QR code back with zbar (zbarimg, from the
// Debian package zbar-tools that .ci/deps.sh installs), a decoder independent
// of the Go one in TestQRRoundTrip.
func TestQRDecodesWithZbar(t *testing.T) {
	zbarimg, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatalf("zbarimg not found (make deps installs zbar-tools): %v", err)
	}
	cases := []struct {
		name string
		hc1  string
		opts QROptions
	}{
		{"SE recovery vector", loadVector(t, "SE-5.json").Prefix, QROptions{}},
		{"SE test vector", loadVector(t, "SE-2.json").Prefix, QROptions{}},
		{"SE test vector, 2 px", loadVector(t, "SE-2.json").Prefix, QROptions{ModulePixels: 2}},
		{"short", syntheticHC1(40), QROptions{}},
		{"300 characters", syntheticHC1(300), QROptions{}},
		{"700 characters", syntheticHC1(700), QROptions{}},
		{"1500 characters, version above 27", syntheticHC1(1500), QROptions{ModulePixels: 3}},
	}
	dir := t.TempDir()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			png, _, _, err := QR(tc.hc1, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "qr"+string(rune('a'+i))+".png")
			err = os.WriteFile(file, png, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(zbarimg, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", file).Output()
			if err != nil {
				t.Fatalf("zbarimg: %v", err)
			}
			if got := strings.TrimSuffix(string(out), "\n"); got != tc.hc1 {
				t.Fatalf("zbar read\n%q\nwant\n%q", got, tc.hc1)
			}
		})
	}
}

// TestPenaltyTwoWordsMatchesGeneral: the register-held scoring of symbols up
// to 128 modules gives the same score as the general one, for every mask of
// several versions and random data.
func TestPenaltyTwoWordsMatchesGeneral(t *testing.T) {
	ls := new(layouts)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, v := range []int{1, 5, 7, 15, 19, 27} {
		l, err := ls.get(codingVersion(v))
		if err != nil {
			t.Fatal(err)
		}
		n := l.size
		data := make([]row, n)
		for y := range n {
			for x := range n {
				if rng.IntN(2) == 1 {
					setBit(&data[y], x)
				}
			}
		}
		for m := range 8 {
			if a, b := penalty2(l.fixed[m], data, n), penalty(l.fixed[m], data, n); a != b {
				t.Errorf("version %d mask %d: two-word score %d, general %d", v, m, a, b)
			}
		}
	}
}
