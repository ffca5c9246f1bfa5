package document

import (
	"encoding/binary"
	"hash/crc32"
)

// The PNG of a QR code is written here rather than with image/png: the image
// is one bit per pixel and every module row repeats px times, so each pixel row
// after the first of a module row is filtered "Up" to all zeros and compressed
// as one back-reference. The zlib stream uses deflate with the fixed Huffman
// codes of RFC 1951 and two kinds of match: runs of one byte (distance 1) and
// whole repeated rows (distance one row). image/png, which filters and
// compresses every pixel row, takes about a millisecond for the same image;
// this writer takes a few microseconds and the output decodes with image/png
// (tested).

// qrPNG is the PNG of a symbol and where its zlib stream lies in it, so that a
// PDF can embed the same compressed pixels.
type qrPNG struct {
	data  []byte
	width int
	zlib  []byte // the IDAT payload, a slice of data
}

var pngSignature = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}

// writePNG draws s with px pixels per module and a quiet zone of
// QuietZoneModules, as a 1-bit greyscale PNG (dark modules 0, light 1).
func writePNG(s symbol, px int) qrPNG {
	modules := s.size + 2*QuietZoneModules
	w := modules * px
	rb := (w + 7) / 8
	// Worst case: every byte of every distinct row a 9-bit literal, plus
	// framing; the buffer is allocated once.
	capacity := len(pngSignature) + 25 + 12 + 2 + 4 + 12 + modules*(rb+1)*9/8 + modules*16 + 64
	out := make([]byte, 0, capacity)
	out = append(out, pngSignature...)

	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(w))
	ihdr[8] = 1 // bit depth
	ihdr[9] = 0 // greyscale
	out = appendChunk(out, "IHDR", ihdr[:])

	// IDAT: length placeholder, type, then the zlib stream.
	idat := len(out)
	out = append(out, 0, 0, 0, 0, 'I', 'D', 'A', 'T')
	zstart := len(out)
	out = append(out, 0x78, 0x01) // zlib header: deflate, 32K window, no dictionary, fastest
	z := deflater{out: out}
	z.bits(1, 1) // final block
	z.bits(1, 2) // fixed Huffman codes

	var sum adler = adler{a: 1}
	line := make([]byte, rb+1)
	white := func() {
		line[0] = 0
		for i := 1; i < len(line); i++ {
			line[i] = 0xff
		}
	}
	quiet := func() {
		white()
		z.row(line)
		sum.write(line)
		repeats := QuietZoneModules*px - 1
		z.repeat(len(line), repeats)
		sum.zeroRows(len(line), repeats)
	}
	quiet()
	ones := uint64(1)<<px - 1
	for y := range s.size {
		// Pixels MSB first, 1 for light: the quiet zone, the modules, the
		// quiet zone, and light padding to the byte.
		r := &s.rows[y]
		var acc uint64
		nacc, o := 0, 1
		put := func(v uint64, n int) {
			acc = acc<<n | v
			nacc += n
			for nacc >= 8 {
				nacc -= 8
				line[o] = byte(acc >> nacc)
				o++
			}
		}
		for range QuietZoneModules {
			put(ones, px)
		}
		if px == 4 {
			// Eight modules at a time, each spread to four light or dark pixels.
			x := 0
			for ; x+8 <= s.size; x += 8 {
				put(uint64(spread4[byte(r[x>>6]>>(x&63)|r[min(x>>6+1, symbolWords-1)]<<(64-x&63)&mask8(x))]), 32)
			}
			for ; x < s.size; x++ {
				put(ones*(^r[x>>6]>>(x&63)&1), px)
			}
		} else {
			for x := range s.size {
				put(ones*(^r[x>>6]>>(x&63)&1), px)
			}
		}
		for range QuietZoneModules {
			put(ones, px)
		}
		if nacc > 0 {
			put(1<<(8-nacc)-1, 8-nacc)
		}
		line[0] = 0
		z.row(line)
		sum.write(line)
		z.repeat(len(line), px-1)
		sum.zeroRows(len(line), px-1)
	}
	quiet()
	z.code(fixedLiteral(256)) // end of block
	out = z.flush()
	out = binary.BigEndian.AppendUint32(out, sum.sum())
	zend := len(out)
	binary.BigEndian.PutUint32(out[idat:], uint32(zend-zstart))
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[idat+4:zend]))
	out = appendChunk(out, "IEND", nil)
	return qrPNG{data: out, width: w, zlib: out[zstart:zend]}
}

// spread4 maps eight modules (bit i for module i, 1 dark) to their 32 pixels
// at four pixels a module, most significant first, 1 for light.
var spread4 = func() (t [256]uint32) {
	for m := range t {
		var v uint32
		for i := range 8 {
			v <<= 4
			if m>>i&1 == 0 {
				v |= 0xf
			}
		}
		t[m] = v
	}
	return t
}()

// mask8 keeps the bits carried over from the next word only when x is not
// word-aligned (a shift by 64 would otherwise keep them all).
func mask8(x int) uint64 {
	if x&63 == 0 {
		return 0
	}
	return ^uint64(0)
}

func appendChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	start := len(out)
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
}

// adler is the Adler-32 checksum of the uncompressed image data.
type adler struct{ a, b uint32 }

const adlerMod = 65521

func (s *adler) write(p []byte) {
	for len(p) > 0 {
		n := min(len(p), 5552)
		for _, c := range p[:n] {
			s.a += uint32(c)
			s.b += s.a
		}
		s.a %= adlerMod
		s.b %= adlerMod
		p = p[n:]
	}
}

// zeroRows adds n rows of rowLen bytes, each the filter byte 2 (Up) followed
// by zeros: the a sum grows by 2 a row, and the b sum by a for every byte.
func (s *adler) zeroRows(rowLen, n int) {
	for range n {
		s.a = (s.a + 2) % adlerMod
		s.b = uint32((uint64(s.b) + uint64(s.a)*uint64(rowLen)) % adlerMod)
	}
}

func (s *adler) sum() uint32 { return s.b<<16 | s.a }

// deflater writes one deflate block with the fixed Huffman codes.
type deflater struct {
	out  []byte
	acc  uint64
	nacc uint
}

// huff is a Huffman code with its bits already reversed for LSB-first output.
type huff struct {
	code uint32
	n    uint
}

func reverse(code uint32, n uint) uint32 {
	var r uint32
	for range n {
		r = r<<1 | code&1
		code >>= 1
	}
	return r
}

// fixedCodes holds the fixed code of every literal/length symbol.
var fixedCodes = func() (t [286]huff) {
	for i := range t {
		t[i] = fixedCode(i)
	}
	return t
}()

func fixedLiteral(sym int) huff { return fixedCodes[sym] }

// fixedCode is the fixed code of a literal/length symbol (RFC 1951 3.2.6).
func fixedCode(sym int) huff {
	switch {
	case sym < 144:
		return huff{reverse(uint32(0x30+sym), 8), 8}
	case sym < 256:
		return huff{reverse(uint32(0x190+sym-144), 9), 9}
	case sym < 280:
		return huff{reverse(uint32(sym-256), 7), 7}
	}
	return huff{reverse(uint32(0xc0+sym-280), 8), 8}
}

func (z *deflater) bits(v uint32, n uint) {
	z.acc |= uint64(v) << z.nacc
	z.nacc += n
	if z.nacc >= 32 {
		z.out = binary.LittleEndian.AppendUint32(z.out, uint32(z.acc))
		z.acc >>= 32
		z.nacc -= 32
	}
}

func (z *deflater) code(h huff) { z.bits(h.code, h.n) }

func (z *deflater) flush() []byte {
	for z.nacc > 0 {
		z.out = append(z.out, byte(z.acc))
		z.acc >>= 8
		z.nacc -= min(8, z.nacc)
	}
	return z.out
}

// Length and distance bases (RFC 1951 3.2.5).
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// match writes a back-reference of length 3 to 258 at distance 1 to 32768.
func (z *deflater) match(length, dist int) {
	i := 28
	for int(lengthBase[i]) > length {
		i--
	}
	z.code(fixedLiteral(257 + i))
	if e := lengthExtra[i]; e > 0 {
		z.bits(uint32(length-int(lengthBase[i])), uint(e))
	}
	j := 29
	for int(distBase[j]) > dist {
		j--
	}
	z.bits(reverse(uint32(j), 5), 5)
	if e := distExtra[j]; e > 0 {
		z.bits(uint32(dist-int(distBase[j])), uint(e))
	}
}

// run writes n copies of the byte just written (distance 1), n >= 3 apart
// from a remainder of one or two literals of value b.
func (z *deflater) run(b byte, n int) {
	for n > 0 {
		switch {
		case n >= 3:
			k := min(n, 258)
			if r := n - k; r > 0 && r < 3 {
				k -= 3
			}
			z.match(k, 1)
			n -= k
		default:
			z.code(fixedLiteral(int(b)))
			n--
		}
	}
}

// row writes one row: each run of four or more equal bytes as the byte and a
// back-reference to it.
func (z *deflater) row(line []byte) {
	for i := 0; i < len(line); {
		j := i + 1
		for j < len(line) && line[j] == line[i] {
			j++
		}
		z.code(fixedLiteral(int(line[i])))
		if n := j - i - 1; n >= 3 {
			z.run(line[i], n)
		} else {
			for range n {
				z.code(fixedLiteral(int(line[i])))
			}
		}
		i = j
	}
}

// repeat writes n rows that each repeat the row above: the filter byte 2 (Up)
// and rowLen-1 zeros for the first, then one back-reference of a row's length
// for the rest.
func (z *deflater) repeat(rowLen, n int) {
	if n <= 0 {
		return
	}
	z.code(fixedLiteral(2))
	z.code(fixedLiteral(0))
	if rowLen-2 >= 3 {
		z.run(0, rowLen-2)
	} else {
		for range rowLen - 2 {
			z.code(fixedLiteral(0))
		}
	}
	rest := (n - 1) * rowLen
	for rest > 0 {
		k := min(rest, 258)
		if r := rest - k; r > 0 && r < 3 {
			k -= 3
		}
		z.match(k, rowLen)
		rest -= k
	}
}
