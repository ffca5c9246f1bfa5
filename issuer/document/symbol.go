package document

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"rsc.io/qr/coding"
)

// The QR symbol is built with rsc.io/qr/coding (segment encoding, Reed-Solomon
// check bytes and the module layout of each version), but the layout of a
// version is planned once for all eight masks and kept, and the mask is chosen
// by the four penalty rules of ISO/IEC 18004 section 7.8.3, computed on whole
// rows and columns of bits at once. The library's own qr.Encode plans the
// layout again for every call and always uses mask 0.

// symbolWords is the number of 64-bit words a row of modules takes: 177 modules
// (version 40) fit in three.
const symbolWords = 3

type row [symbolWords]uint64

// layout is the module layout of one version at level Q, shared by all calls.
type layout struct {
	version coding.Version
	size    int
	// fixed[m] holds, for mask m, every module that does not depend on the
	// data: function patterns, format and version information with mask m,
	// and the mask pattern itself over the data region. The symbol is
	// fixed[m] XOR the placed codeword bits. fixedT is the same by column.
	fixed, fixedT [8][]row
	// pos[i] is the module of codeword bit i (bit 7 of byte 0 first), as y<<8|x.
	pos []uint16
}

// layouts holds the planned versions; each is planned on first use and never
// changed after.
type layouts struct {
	once [coding.MaxVersion + 1]sync.Once
	v    [coding.MaxVersion + 1]*layout
	err  [coding.MaxVersion + 1]error
}

func (ls *layouts) get(v coding.Version) (*layout, error) {
	ls.once[v].Do(func() { ls.v[v], ls.err[v] = planLayout(v) })
	return ls.v[v], ls.err[v]
}

func planLayout(v coding.Version) (*layout, error) {
	l := &layout{version: v, size: 17 + 4*int(v)}
	for m := range 8 {
		p, err := coding.NewPlan(v, coding.Q, coding.Mask(m))
		if err != nil {
			return nil, fmt.Errorf("plan version %d mask %d: %w", v, m, err)
		}
		l.fixed[m] = make([]row, l.size)
		l.fixedT[m] = make([]row, l.size)
		if m == 0 {
			l.pos = make([]uint16, (p.DataBytes+p.CheckBytes)*8)
		}
		for y, r := range p.Pixel {
			for x, pix := range r {
				if pix&coding.Black != 0 {
					setBit(&l.fixed[m][y], x)
					setBit(&l.fixedT[m][x], y)
				}
				if role := pix.Role(); m == 0 && (role == coding.Data || role == coding.Check) {
					l.pos[pix.Offset()] = uint16(y<<8 | x)
				}
			}
		}
	}
	return l, nil
}

func setBit(r *row, i int) { r[i>>6] |= 1 << (i & 63) }

// symbol is an encoded QR code: size rows of modules, bit x of a row set for a
// dark module.
type symbol struct {
	size int
	rows []row
}

// encodeSymbol encodes text at level Q in the smallest version that holds it,
// in alphanumeric mode when every character allows it (an HC1 string always
// does) and in byte mode otherwise.
func encodeSymbol(ls *layouts, text string) (symbol, error) {
	var enc coding.Encoding = coding.Alpha(text)
	if enc.Check() != nil {
		enc = coding.String(text)
	}
	v := coding.Version(coding.MinVersion)
	for ; enc.Bits(v) > v.DataBytes(coding.Q)*8; v++ {
		if v == coding.MaxVersion {
			return symbol{}, errors.New("content does not fit in version 40 at level Q")
		}
	}
	l, err := ls.get(v)
	if err != nil {
		return symbol{}, err
	}
	var b coding.Bits
	enc.Encode(&b, v)
	b.AddCheckBytes(v, coding.Q)
	words := b.Bytes()

	n := l.size
	buf := make([]row, 3*n)
	data, dataT, out := buf[:n], buf[n:2*n], buf[2*n:]
	// Only the set bits, found by counting zeros rather than tested one by one.
	for j, w := range words {
		pos := l.pos[8*j : 8*j+8]
		for b := uint(w); b != 0; b &= b - 1 {
			p := pos[7-bits.TrailingZeros(b)]
			y, x := int(p>>8), int(p&0xff)
			data[y][x>>6] |= 1 << (x & 63)
			dataT[x][y>>6] |= 1 << (y & 63)
		}
	}
	score := func(m int) int {
		if n <= 128 {
			return penalty2(l.fixed[m], data, n) + penaltyLines2(l.fixedT[m], dataT, n)
		}
		return penalty(l.fixed[m], data, n) + penaltyLines(l.fixedT[m], dataT, n)
	}
	best, bestScore := 0, -1
	for m := range 8 {
		s := score(m)
		if bestScore < 0 || s < bestScore {
			best, bestScore = m, s
		}
	}
	for y := range n {
		for k := range symbolWords {
			out[y][k] = l.fixed[best][y][k] ^ data[y][k]
		}
	}
	return symbol{size: n, rows: out}, nil
}

func shr(a row, n uint) row {
	return row{a[0]>>n | a[1]<<(64-n), a[1]>>n | a[2]<<(64-n), a[2] >> n}
}

func shl(a row, n uint) row {
	return row{a[0] << n, a[1]<<n | a[0]>>(64-n), a[2]<<n | a[1]>>(64-n)}
}

func and(a, b row) row    { return row{a[0] & b[0], a[1] & b[1], a[2] & b[2]} }
func or(a, b row) row     { return row{a[0] | b[0], a[1] | b[1], a[2] | b[2]} }
func xor(a, b row) row    { return row{a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2]} }
func andNot(a, b row) row { return row{a[0] &^ b[0], a[1] &^ b[1], a[2] &^ b[2]} }
func count(a row) int {
	return bits.OnesCount64(a[0]) + bits.OnesCount64(a[1]) + bits.OnesCount64(a[2])
}

// low returns a row with bits 0 to n-1 set.
func low(n int) row {
	var r row
	for k := range symbolWords {
		switch lo := n - 64*k; {
		case lo >= 64:
			r[k] = ^uint64(0)
		case lo > 0:
			r[k] = 1<<lo - 1
		}
	}
	return r
}

// penaltyLines scores rules 1 (runs of five or more) and 3 (finder-like
// patterns) over the lines fixed XOR data, each n modules long.
func penaltyLines(fixed, data []row, n int) int {
	valid1, valid6 := low(n-1), low(n-6)
	score := 0
	for i := range n {
		f, d := &fixed[i], &data[i]
		a := row{f[0] ^ d[0], f[1] ^ d[1], f[2] ^ d[2]}
		a1, a2, a3 := shr(a, 1), shr(a, 2), shr(a, 3)
		// Rule 1: bit j of same is set when modules j and j+1 match; a run of
		// length L >= 5 sets L-4 bits of run5 and scores 3+(L-5).
		same := andNot(valid1, xor(a, a1))
		run5 := and(and(same, shr(same, 1)), and(shr(same, 2), shr(same, 3)))
		if run5 != (row{}) {
			score += count(run5) + 2*count(andNot(run5, shl(run5, 1)))
		}
		// Rule 3: dark-light-dark-dark-dark-light-dark starting at j, with four
		// light modules before or after it (outside the symbol is light).
		finder := andNot(and(and(a, a2), and(a3, shr(a, 4))), or(a1, shr(a, 5)))
		finder = and(and(finder, shr(a, 6)), valid6)
		if finder == (row{}) {
			continue
		}
		after := or(or(shr(a, 7), shr(a, 8)), or(shr(a, 9), shr(a, 10)))
		before := or(or(shl(a, 1), shl(a, 2)), or(shl(a, 3), shl(a, 4)))
		score += 40 * count(andNot(finder, and(after, before)))
	}
	return score
}

// penalty scores the rows of fixed XOR data with rules 1 and 3, plus rule 2
// (2x2 blocks of one colour) and rule 4 (balance of dark and light).
func penalty(fixed, data []row, n int) int {
	score := penaltyLines(fixed, data, n)
	valid1 := low(n - 1)
	dark := 0
	prev := xor(fixed[0], data[0])
	dark += count(prev)
	for i := 1; i < n; i++ {
		a := xor(fixed[i], data[i])
		dark += count(a)
		ah, ph := shr(a, 1), shr(prev, 1)
		block := andNot(valid1, or(xor(a, prev), or(xor(a, ah), xor(prev, ph))))
		score += 3 * count(block)
		prev = a
	}
	return score + balance(dark, n)
}

// sharedLayouts is planned once per process: the layouts depend on nothing but
// the version and never change once planned.
var sharedLayouts = sync.OnceValue(func() *layouts { return new(layouts) })

func defaultLayouts() *layouts { return sharedLayouts() }

// penaltyLines2 and penalty2 are penaltyLines and penalty for symbols of at
// most 128 modules a side (version 27 and below, which holds HC1 strings of up
// to about 1,100 characters), with each line in two words held in registers.
func penaltyLines2(fixed, data []row, n int) int {
	v1, v1h := low2(n - 1)
	v6, v6h := low2(n - 6)
	score := 0
	for i := range n {
		f, d := &fixed[i], &data[i]
		lo, hi := f[0]^d[0], f[1]^d[1]
		s1, s1h := lo>>1|hi<<63, hi>>1
		same, sameh := ^(lo^s1)&v1, ^(hi^s1h)&v1h
		r5 := same & (same>>1 | sameh<<63) & (same>>2 | sameh<<62) & (same>>3 | sameh<<61)
		r5h := sameh & (sameh >> 1) & (sameh >> 2) & (sameh >> 3)
		if r5|r5h != 0 {
			starts := r5 &^ (r5 << 1)
			startsh := r5h &^ (r5h<<1 | r5>>63)
			score += bits.OnesCount64(r5) + bits.OnesCount64(r5h) + 2*(bits.OnesCount64(starts)+bits.OnesCount64(startsh))
		}
		// dark-light-dark-dark-dark-light-dark starting at j
		fl := lo & (lo>>2 | hi<<62) & (lo>>3 | hi<<61) & (lo>>4 | hi<<60) & (lo>>6 | hi<<58) &^ (s1 | lo>>5 | hi<<59) & v6
		fh := hi & (hi >> 2) & (hi >> 3) & (hi >> 4) & (hi >> 6) &^ (s1h | hi>>5) & v6h
		if fl|fh == 0 {
			continue
		}
		after := lo>>7 | hi<<57 | lo>>8 | hi<<56 | lo>>9 | hi<<55 | lo>>10 | hi<<54
		afterh := hi>>7 | hi>>8 | hi>>9 | hi>>10
		before := lo<<1 | lo<<2 | lo<<3 | lo<<4
		beforeh := hi<<1 | lo>>63 | hi<<2 | lo>>62 | hi<<3 | lo>>61 | hi<<4 | lo>>60
		score += 40 * (bits.OnesCount64(fl&^(after&before)) + bits.OnesCount64(fh&^(afterh&beforeh)))
	}
	return score
}

func penalty2(fixed, data []row, n int) int {
	score := penaltyLines2(fixed, data, n)
	v1, v1h := low2(n - 1)
	plo, phi := fixed[0][0]^data[0][0], fixed[0][1]^data[0][1]
	dark := bits.OnesCount64(plo) + bits.OnesCount64(phi)
	for i := 1; i < n; i++ {
		lo, hi := fixed[i][0]^data[i][0], fixed[i][1]^data[i][1]
		dark += bits.OnesCount64(lo) + bits.OnesCount64(hi)
		diff := (lo ^ plo) | (lo ^ (lo>>1 | hi<<63)) | (plo ^ (plo>>1 | phi<<63))
		diffh := (hi ^ phi) | (hi ^ hi>>1) | (phi ^ phi>>1)
		score += 3 * (bits.OnesCount64(v1&^diff) + bits.OnesCount64(v1h&^diffh))
		plo, phi = lo, hi
	}
	return score + balance(dark, n)
}

func low2(n int) (lo, hi uint64) {
	r := low(n)
	return r[0], r[1]
}

// balance is rule 4: 10 points for every 5 % the share of dark modules lies
// away from one half.
func balance(dark, n int) int {
	total := n * n
	diff := 2*dark - total
	if diff < 0 {
		diff = -diff
	}
	return 10 * (diff * 10 / total)
}

func codingVersion(v int) coding.Version { return coding.Version(v) }
