// Package document renders an issued certificate for people: the QR code image
// that carries the HC1 string, and the printable A4 certificate around it.
package document

import (
	"errors"
	"fmt"
)

// DefaultModulePixels is the side of one QR module in pixels when QROptions
// leaves it unset. A typical HC1 string (300 to 600 characters) then gives an
// image of about 300 to 400 pixels a side, which phone cameras and border
// scanners read from a screen at arm's length.
const DefaultModulePixels = 4

// MaxModulePixels bounds the image size a caller may ask for.
const MaxModulePixels = 32

// QuietZoneModules is the width of the light margin around the symbol, in
// modules: the four modules ISO/IEC 18004 requires.
const QuietZoneModules = 4

// QROptions tunes the QR code image. The zero value gives the defaults.
type QROptions struct {
	// ModulePixels is the side of one module in pixels, from 1 to
	// MaxModulePixels; zero means DefaultModulePixels.
	ModulePixels int
}

// QR encodes hc1 (the "HC1:"-prefixed Base45 string of a signed certificate)
// as a QR code with error correction level Q, as the EU DCC guidelines
// require, surrounded by a quiet zone of QuietZoneModules modules. It returns
// the PNG image (black modules on white, two-colour palette) and its size in
// pixels.
//
// Content made only of characters of the QR alphanumeric set is encoded as
// one alphanumeric segment, anything else as one byte segment. An HC1 string
// uses only the Base45 alphabet and ':', all of which belong to that set, so
// it is encoded in alphanumeric mode (5.5 bits per character instead of 8 in
// byte mode), which keeps the symbol several versions smaller. The mask is
// chosen by the penalty rules of ISO/IEC 18004, and the PNG is a 1-bit
// greyscale image (dark modules black).
//
// The output depends only on hc1 and opts.
func QR(hc1 string, opts QROptions) (pngData []byte, width, height int, err error) {
	img, err := renderQR(defaultLayouts(), hc1, opts)
	if err != nil {
		return nil, 0, 0, err
	}
	return img.data, img.width, img.width, nil
}

func renderQR(ls *layouts, hc1 string, opts QROptions) (qrPNG, error) {
	if hc1 == "" {
		return qrPNG{}, errors.New("qr code: empty content")
	}
	px := opts.ModulePixels
	if px == 0 {
		px = DefaultModulePixels
	}
	if px < 1 || px > MaxModulePixels {
		return qrPNG{}, fmt.Errorf("qr code: module size %d pixels is outside 1 to %d", px, MaxModulePixels)
	}
	sym, err := encodeSymbol(ls, hc1)
	if err != nil {
		return qrPNG{}, fmt.Errorf("qr code: encode %d characters at level Q: %w", len(hc1), err)
	}
	return writePNG(sym, px), nil
}
