package document

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
)

// DefaultFontFile is the TrueType font that prints text outside Windows-1252
// (names such as Dvořák-Wałęsa, Nguyễn or Παπαδοπούλου): DejaVu Sans from the
// Debian package fonts-dejavu-core.
const DefaultFontFile = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

// scripts are the subsets of the font cut once per process, each with the
// characters of one script family: Latin with its extensions (Vietnamese
// included), Greek, and Cyrillic. A PDF embeds, unchanged, the subset its text
// needs, if any (text in Windows-1252 uses the standard fonts, which need no
// font file); one subset of all three would weigh some 110 KB in every such
// PDF, the Latin one alone 25 KB.
var scripts = []struct {
	name   string
	ranges [][2]rune
}{
	{"latin", [][2]rune{
		{0x0020, 0x017f}, // Basic Latin, Latin-1 Supplement, Latin Extended-A
		{0x01a0, 0x01b0}, // Vietnamese horn letters
		{0x01cd, 0x01dc}, // pinyin tone letters
		{0x0218, 0x021b}, // Romanian comma-below letters
		{0x0300, 0x036f}, // combining diacritical marks
		{0x1e00, 0x1eff}, // Latin Extended Additional (Vietnamese)
		{0x2010, 0x2027}, // dashes, quotes, ellipsis
	}},
	{"greek", [][2]rune{{0x0020, 0x007e}, {0x00b7, 0x00b7}, {0x0370, 0x03ff}}},
	{"cyrillic", [][2]rune{{0x0020, 0x007e}, {0x0400, 0x052f}}},
}

// unicodeFont is one cut subset and what a PDF needs to use it.
type unicodeFont struct {
	resource string          // name in the page resources, e.g. "U1"
	object   int             // object number of its Type0 font; the next four are its own too
	glyph    map[rune]uint16 // character to glyph id in the subset
	advance  []uint16        // advance width of each glyph, in 1/1000 em
	objects  []byte          // the five PDF objects, numbered from object
	offsets  [5]int          // where each object starts in objects
}

// firstFontObject is the object number of the first subset's Type0 font in
// every PDF; each subset takes five numbers.
const firstFontObject = 8

// unicodeFonts are the subsets of one font file.
type unicodeFonts struct {
	subsets []*unicodeFont
}

// loadUnicodeFonts reads a TrueType font and cuts the subsets.
func loadUnicodeFonts(path string) (*unicodeFonts, error) {
	f, err := parseTrueTypeFile(path)
	if err != nil {
		return nil, fmt.Errorf("font %s: %w", path, err)
	}
	fs := &unicodeFonts{}
	for i, sc := range scripts {
		u, err := f.cut(sc.ranges, "U"+strconv.Itoa(i+1), firstFontObject+5*i)
		if err != nil {
			return nil, fmt.Errorf("font %s, %s subset: %w", path, sc.name, err)
		}
		fs.subsets = append(fs.subsets, u)
	}
	return fs, nil
}

// covering returns the first subset with a glyph for every character of s.
func (fs *unicodeFonts) covering(s string) (*unicodeFont, bool) {
	if fs == nil {
		return nil, false
	}
	for _, u := range fs.subsets {
		if _, ok := u.width(s); ok {
			return u, true
		}
	}
	return nil, false
}

type trueType struct {
	raw        []byte
	tables     map[string][]byte
	numGlyphs  int
	unitsPerEm int
	longLoca   bool
	cmap       map[rune]uint16
}

func parseTrueType(raw []byte) (*trueType, error) {
	if len(raw) < 12 {
		return nil, errors.New("too short")
	}
	if v := binary.BigEndian.Uint32(raw); v != 0x00010000 && v != 0x74727565 {
		return nil, fmt.Errorf("not a TrueType font (version %#x)", v)
	}
	n := int(binary.BigEndian.Uint16(raw[4:]))
	f := &trueType{raw: raw, tables: map[string][]byte{}}
	for i := range n {
		rec := raw[12+16*i:]
		if len(rec) < 16 {
			return nil, errors.New("table directory truncated")
		}
		off, length := binary.BigEndian.Uint32(rec[8:]), binary.BigEndian.Uint32(rec[12:])
		if uint64(off)+uint64(length) > uint64(len(raw)) {
			return nil, fmt.Errorf("table %q outside the file", rec[:4])
		}
		f.tables[string(rec[:4])] = raw[off : off+length]
	}
	for _, t := range []string{"head", "hhea", "maxp", "hmtx", "loca", "glyf", "cmap"} {
		if f.tables[t] == nil {
			return nil, fmt.Errorf("no %s table", t)
		}
	}
	head := f.tables["head"]
	f.unitsPerEm = int(binary.BigEndian.Uint16(head[18:]))
	f.longLoca = binary.BigEndian.Uint16(head[50:]) == 1
	f.numGlyphs = int(binary.BigEndian.Uint16(f.tables["maxp"][4:]))
	cmap, err := parseCmap(f.tables["cmap"])
	if err != nil {
		return nil, err
	}
	f.cmap = cmap
	return f, nil
}

// parseCmap reads the Windows Unicode BMP subtable (format 4).
func parseCmap(t []byte) (map[rune]uint16, error) {
	n := int(binary.BigEndian.Uint16(t[2:]))
	for i := range n {
		rec := t[4+8*i:]
		platform, encoding := binary.BigEndian.Uint16(rec), binary.BigEndian.Uint16(rec[2:])
		off := binary.BigEndian.Uint32(rec[4:])
		if platform != 3 || encoding != 1 || int(off) >= len(t) {
			continue
		}
		sub := t[off:]
		if binary.BigEndian.Uint16(sub) != 4 {
			continue
		}
		segs := int(binary.BigEndian.Uint16(sub[6:])) / 2
		ends, starts := sub[14:], sub[16+2*segs:]
		deltas, ranges := sub[16+4*segs:], sub[16+6*segs:]
		m := map[rune]uint16{}
		for s := range segs {
			end, start := binary.BigEndian.Uint16(ends[2*s:]), binary.BigEndian.Uint16(starts[2*s:])
			delta, ro := binary.BigEndian.Uint16(deltas[2*s:]), binary.BigEndian.Uint16(ranges[2*s:])
			for c := uint32(start); c <= uint32(end) && c != 0xffff; c++ {
				var g uint16
				if ro == 0 {
					g = uint16(c) + delta
				} else {
					at := 16 + 6*segs + 2*s + int(ro) + 2*int(c-uint32(start))
					if at+2 > len(sub) {
						continue
					}
					g = binary.BigEndian.Uint16(sub[at:])
					if g != 0 {
						g += delta
					}
				}
				if g != 0 {
					m[rune(c)] = g
				}
			}
		}
		return m, nil
	}
	return nil, errors.New("no Windows Unicode (3,1) format 4 cmap")
}

func (f *trueType) glyphData(g int) []byte {
	loca, glyf := f.tables["loca"], f.tables["glyf"]
	var a, b int
	if f.longLoca {
		a, b = int(binary.BigEndian.Uint32(loca[4*g:])), int(binary.BigEndian.Uint32(loca[4*g+4:]))
	} else {
		a, b = 2*int(binary.BigEndian.Uint16(loca[2*g:])), 2*int(binary.BigEndian.Uint16(loca[2*g+2:]))
	}
	if a > b || b > len(glyf) {
		return nil
	}
	return glyf[a:b]
}

// unhinted returns a copy of glyph g without its TrueType instructions (PDF
// renderers rasterise without hinting, and the instructions are a third of
// the font), with the glyph ids of composite parts renumbered.
func unhinted(g []byte, newID map[int]uint16) []byte {
	if len(g) < 12 {
		return nil
	}
	nc := int16(binary.BigEndian.Uint16(g))
	if nc >= 0 {
		at := 10 + 2*int(nc)
		if at+2 > len(g) {
			return nil
		}
		ni := int(binary.BigEndian.Uint16(g[at:]))
		if at+2+ni > len(g) {
			return nil
		}
		out := make([]byte, 0, len(g)-ni)
		out = append(out, g[:at]...)
		out = append(out, 0, 0)
		return append(out, g[at+2+ni:]...)
	}
	out := slices.Clone(g)
	p := 10
	for p+4 <= len(out) {
		flags := binary.BigEndian.Uint16(out[p:])
		binary.BigEndian.PutUint16(out[p:], flags&^0x100) // no instructions
		binary.BigEndian.PutUint16(out[p+2:], newID[int(binary.BigEndian.Uint16(out[p+2:]))])
		n := 4 + 2
		if flags&1 != 0 {
			n = 4 + 4
		}
		switch {
		case flags&0x08 != 0:
			n += 2
		case flags&0x40 != 0:
			n += 4
		case flags&0x80 != 0:
			n += 8
		}
		p += n
		if flags&0x20 == 0 {
			break
		}
	}
	return out[:min(p, len(out))]
}

// components returns the glyphs a composite glyph is built from.
func components(g []byte) []int {
	if len(g) < 10 || int16(binary.BigEndian.Uint16(g)) >= 0 {
		return nil
	}
	var out []int
	p := g[10:]
	for len(p) >= 4 {
		flags := binary.BigEndian.Uint16(p)
		out = append(out, int(binary.BigEndian.Uint16(p[2:])))
		n := 4 + 2
		if flags&1 != 0 {
			n = 4 + 4
		}
		switch {
		case flags&0x08 != 0:
			n += 2
		case flags&0x40 != 0:
			n += 4
		case flags&0x80 != 0:
			n += 8
		}
		if flags&0x20 == 0 || n > len(p) {
			break
		}
		p = p[n:]
	}
	return out
}

// cut keeps the glyphs of the characters in ranges (and the glyphs composite
// glyphs are built from) at their original glyph ids, empties the others, and
// builds the PDF objects.
func (f *trueType) cut(ranges [][2]rune, resource string, object int) (*unicodeFont, error) {
	keep := map[int]bool{0: true}
	glyph := map[rune]uint16{}
	var queue []int
	for _, r := range ranges {
		for c := r[0]; c <= r[1]; c++ {
			if g, ok := f.cmap[c]; ok && int(g) < f.numGlyphs {
				glyph[c] = g
				if !keep[int(g)] {
					keep[int(g)] = true
					queue = append(queue, int(g))
				}
			}
		}
	}
	queue = append(queue, 0)
	for len(queue) > 0 {
		g := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, c := range components(f.glyphData(g)) {
			if c < f.numGlyphs && !keep[c] {
				keep[c] = true
				queue = append(queue, c)
			}
		}
	}

	// Glyphs are renumbered in order of their original ids; the PDF's CIDs
	// are the new ids.
	kept := make([]int, 0, len(keep))
	for g := range keep {
		kept = append(kept, g)
	}
	sort.Ints(kept)
	newID := make(map[int]uint16, len(kept))
	for i, g := range kept {
		newID[g] = uint16(i)
	}
	var glyf []byte
	loca := make([]byte, 4*(len(kept)+1))
	hmtxOld := f.tables["hmtx"]
	nh := int(binary.BigEndian.Uint16(f.tables["hhea"][34:]))
	hmtx := make([]byte, 4*len(kept))
	u := &unicodeFont{resource: resource, object: object, glyph: map[rune]uint16{}, advance: make([]uint16, len(kept))}
	for i, g := range kept {
		binary.BigEndian.PutUint32(loca[4*i:], uint32(len(glyf)))
		glyf = append(glyf, unhinted(f.glyphData(g), newID)...)
		for len(glyf)%4 != 0 {
			glyf = append(glyf, 0)
		}
		m := min(g, nh-1)
		adv := binary.BigEndian.Uint16(hmtxOld[4*m:])
		binary.BigEndian.PutUint16(hmtx[4*i:], adv)
		if 4*nh+2*(g-nh)+2 <= len(hmtxOld) && g >= nh {
			copy(hmtx[4*i+2:], hmtxOld[4*nh+2*(g-nh):][:2])
		} else {
			copy(hmtx[4*i+2:], hmtxOld[4*m+2:][:2])
		}
		u.advance[i] = uint16(int(adv) * 1000 / f.unitsPerEm)
	}
	binary.BigEndian.PutUint32(loca[4*len(kept):], uint32(len(glyf)))
	for c, g := range glyph {
		u.glyph[c] = newID[int(g)]
	}
	head := slices.Clone(f.tables["head"])
	binary.BigEndian.PutUint32(head[8:], 0) // checkSumAdjustment, set below
	binary.BigEndian.PutUint16(head[50:], 1)
	hhea := slices.Clone(f.tables["hhea"])
	binary.BigEndian.PutUint16(hhea[34:], uint16(len(kept)))
	maxp := slices.Clone(f.tables["maxp"])
	binary.BigEndian.PutUint16(maxp[4:], uint16(len(kept)))
	tables := map[string][]byte{
		"head": head, "hhea": hhea, "maxp": maxp, "hmtx": hmtx, "loca": loca, "glyf": glyf,
	}
	file := writeTrueType(tables)
	keep = map[int]bool{}
	for i := range kept {
		keep[i] = true
	}
	u.objects = u.pdfObjects(f, file, keep)
	return u, nil
}

// writeTrueType assembles a font file from its tables, with checksums.
func writeTrueType(tables map[string][]byte) []byte {
	tags := make([]string, 0, len(tables))
	for t := range tables {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	n := len(tags)
	entry, log := 1, 0
	for entry*2 <= n {
		entry *= 2
		log++
	}
	out := make([]byte, 12+16*n)
	binary.BigEndian.PutUint32(out, 0x00010000)
	binary.BigEndian.PutUint16(out[4:], uint16(n))
	binary.BigEndian.PutUint16(out[6:], uint16(entry*16))
	binary.BigEndian.PutUint16(out[8:], uint16(log))
	binary.BigEndian.PutUint16(out[10:], uint16(n*16-entry*16))
	headAt := 0
	for i, t := range tags {
		data := tables[t]
		rec := out[12+16*i:]
		copy(rec, t)
		binary.BigEndian.PutUint32(rec[4:], checksum(data))
		binary.BigEndian.PutUint32(rec[8:], uint32(len(out)))
		binary.BigEndian.PutUint32(rec[12:], uint32(len(data)))
		if t == "head" {
			headAt = len(out)
		}
		out = append(out, data...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	binary.BigEndian.PutUint32(out[headAt+8:], 0xb1b0afba-checksum(out))
	return out
}

func checksum(b []byte) uint32 {
	var s uint32
	for i := 0; i < len(b); i += 4 {
		var w [4]byte
		copy(w[:], b[i:])
		s += binary.BigEndian.Uint32(w[:])
	}
	return s
}

// pdfObjects writes the five objects of the embedded font.
func (u *unicodeFont) pdfObjects(f *trueType, file []byte, keep map[int]bool) []byte {
	var zbuf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&zbuf, zlib.BestCompression)
	_, _ = zw.Write(file)
	_ = zw.Close()

	kept := make([]int, 0, len(keep))
	for g := range keep {
		kept = append(kept, g)
	}
	sort.Ints(kept)
	var w bytes.Buffer
	w.WriteString("[")
	for i := 0; i < len(kept); {
		j := i
		for j+1 < len(kept) && kept[j+1] == kept[j]+1 {
			j++
		}
		fmt.Fprintf(&w, "%d[", kept[i])
		for k := i; k <= j; k++ {
			if k > i {
				w.WriteByte(' ')
			}
			w.WriteString(strconv.Itoa(int(u.advance[kept[k]])))
		}
		w.WriteString("]")
		i = j + 1
	}
	w.WriteString("]")

	// ToUnicode: each glyph to the first character that maps to it.
	first := map[uint16]rune{}
	for c, g := range u.glyph {
		if r, ok := first[g]; !ok || c < r {
			first[g] = c
		}
	}
	gids := make([]int, 0, len(first))
	for g := range first {
		gids = append(gids, int(g))
	}
	sort.Ints(gids)
	var cm bytes.Buffer
	cm.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n" +
		"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n" +
		"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n" +
		"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
	for i := 0; i < len(gids); i += 100 {
		chunk := gids[i:min(i+100, len(gids))]
		fmt.Fprintf(&cm, "%d beginbfchar\n", len(chunk))
		for _, g := range chunk {
			fmt.Fprintf(&cm, "<%04X> <%04X>\n", g, first[uint16(g)])
		}
		cm.WriteString("endbfchar\n")
	}
	cm.WriteString("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")

	head, hhea := f.tables["head"], f.tables["hhea"]
	scale := func(v int16) int { return int(v) * 1000 / f.unitsPerEm }
	i16 := func(b []byte, at int) int16 { return int16(binary.BigEndian.Uint16(b[at:])) }
	ascent, descent := scale(i16(hhea, 4)), scale(i16(hhea, 6))
	capHeight := ascent
	if os2 := f.tables["OS/2"]; len(os2) >= 90 && binary.BigEndian.Uint16(os2) >= 2 {
		capHeight = scale(i16(os2, 88))
	}

	fontName := "/SEDCC" + string(rune('A'+(u.object-firstFontObject)/5)) + "+DejaVuSans"
	var tu bytes.Buffer
	zw, _ = zlib.NewWriterLevel(&tu, zlib.BestCompression)
	_, _ = zw.Write(cm.Bytes())
	_ = zw.Close()
	var o bytes.Buffer
	n := u.object
	u.offsets[0] = o.Len()
	fmt.Fprintf(&o, "%d 0 obj\n<< /Type /Font /Subtype /Type0 /BaseFont %s /Encoding /Identity-H /DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>\nendobj\n",
		n, fontName, n+1, n+4)
	u.offsets[1] = o.Len()
	fmt.Fprintf(&o, "%d 0 obj\n<< /Type /Font /Subtype /CIDFontType2 /BaseFont %s /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor %d 0 R /DW 1000 /W %s /CIDToGIDMap /Identity >>\nendobj\n",
		n+1, fontName, n+2, w.String())
	u.offsets[2] = o.Len()
	fmt.Fprintf(&o, "%d 0 obj\n<< /Type /FontDescriptor /FontName %s /Flags 32 /FontBBox [%d %d %d %d] /ItalicAngle 0 /Ascent %d /Descent %d /CapHeight %d /StemV 80 /FontFile2 %d 0 R >>\nendobj\n",
		n+2, fontName, scale(i16(head, 36)), scale(i16(head, 38)), scale(i16(head, 40)), scale(i16(head, 42)),
		ascent, descent, capHeight, n+3)
	u.offsets[3] = o.Len()
	fmt.Fprintf(&o, "%d 0 obj\n<< /Length %d /Length1 %d /Filter /FlateDecode >>\nstream\n", n+3, zbuf.Len(), len(file))
	o.Write(zbuf.Bytes())
	o.WriteString("\nendstream\nendobj\n")
	u.offsets[4] = o.Len()
	fmt.Fprintf(&o, "%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", n+4, tu.Len())
	o.Write(tu.Bytes())
	o.WriteString("\nendstream\nendobj\n")
	return o.Bytes()
}

// width returns the advance of s in 1/1000 em and whether every character has a glyph.
func (u *unicodeFont) width(s string) (int, bool) {
	w := 0
	for _, r := range s {
		g, ok := u.glyph[r]
		if !ok {
			return 0, false
		}
		w += int(u.advance[g])
	}
	return w, true
}

func parseTrueTypeFile(path string) (*trueType, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read font: %w", err)
	}
	return parseTrueType(raw)
}
