package fhir

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/sedcc/dcc/fhir/problem"
)

// The request body is read once, strictly, so that whatever reads it before or after the service
// (a gateway's validator, the audit, a support desk) sees the document that was signed: member
// names match exactly (no case folding, so "STATUS" and "ſtatus" are not "status"), a member
// appears at most once in an object (no "last one wins"), and the text is UTF-8. The structs are
// then filled by github.com/go-json-experiment/json, whose defaults hold the same rules.

// memberNames are the JSON member names the parser reads, taken from the json tags of the
// resource types, so that a name differing from one of them only in case is found wherever it
// stands.
var memberNames = collectMemberNames(observation{}, immunization{}, resourceHead{},
	patient{}, organization{}, device{})

func collectMemberNames(roots ...any) []string {
	seen := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !seen[name] {
				seen[name] = true
				walk(f.Type)
			}
		}
	}
	for _, r := range roots {
		walk(reflect.TypeOf(r))
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	return names
}

// memberSet holds memberNames for the exact look-up of every member name of a body.
var memberSet = func() map[string]bool {
	set := make(map[string]bool, len(memberNames))
	for _, n := range memberNames {
		set[n] = true
	}
	return set
}()

// knownMember says whether name is one the parser reads, and, when it is not, which one it
// matches when case is ignored ("" for none).
func knownMember(name string) (exact bool, folded string) {
	if memberSet[name] {
		return true, ""
	}
	for _, n := range memberNames {
		if strings.EqualFold(n, name) {
			return false, n
		}
	}
	return false, ""
}

// checkEncoding reports a body that is not UTF-8, or that starts with a byte-order mark, naming
// what was found; it returns false when the body cannot be read further.
func checkEncoding(r *report, body []byte) bool {
	if bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) {
		r.add(problem.CodeBodyEncoding, "", "The body starts with a UTF-8 byte-order mark (bytes EF BB BF). Send the JSON without it: JSON text never starts with a byte-order mark (RFC 8259).")
		return false
	}
	if utf8.Valid(body) {
		return true
	}
	off := 0
	for off < len(body) {
		c, size := utf8.DecodeRune(body[off:])
		if c == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	b := body[off]
	hint := ""
	if b >= 0xa0 {
		// In ISO-8859-1 and Windows-1252 a byte from A0 up is a letter such as å, ä, ö or é.
		hint = fmt.Sprintf(" It looks like ISO-8859-1 or Windows-1252, where it is %q.", string(rune(b)))
	}
	r.add(problem.CodeBodyEncoding, "", fmt.Sprintf("The body is not UTF-8: byte 0x%02X at offset %d cannot start or continue a UTF-8 character.%s Send the body UTF-8 encoded.", b, off, hint))
	return false
}

// checkMembers walks the whole body once and reports every member name that is repeated within
// its object and every one that matches a name the parser reads only when case is ignored, each
// at its FHIRPath (root, then the path inside the body). A body that is not valid JSON is left to
// the decoder, which names the syntax error. Paths are built only for what is reported, and an
// object's names are kept in one list shared by the whole walk (a set of its own only for an
// object of many members), since every request goes through here.
func checkMembers(r *report, body []byte, root string) bool {
	type frame struct {
		array bool
		index int
		key   string
		// The object's names so far are names[from:]; many holds them too once they are many.
		from int
		many map[string]bool
	}
	const fewMembers = 16
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true))
	stack := make([]frame, 0, 8)
	names := make([]string, 0, 32)
	path := func(last string) string {
		var b strings.Builder
		b.WriteString(root)
		for _, f := range stack {
			if f.array {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			} else if f.key != "" {
				b.WriteString("." + f.key)
			}
		}
		if last != "" {
			b.WriteString("." + last)
		}
		return b.String()
	}
	ok := true
	wantName := false
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return ok // the end, or a syntax error the decoder reports
		}
		n := len(stack)
		if wantName && n > 0 && !stack[n-1].array && tok.Kind() == '"' {
			name := tok.String()
			f := &stack[n-1]
			// The path of the object this member is in: its own key is not yet set.
			f.key = ""
			var dup bool
			if f.many != nil {
				dup = f.many[name]
			} else {
				dup = slices.Contains(names[f.from:], name)
			}
			if dup {
				r.add(problem.CodeJSONMemberDuplicate, path(name), fmt.Sprintf(
					"The member %s appears more than once in this object. Send each member once: readers disagree on which copy counts.", quote(name)))
				ok = false
			}
			switch {
			case f.many != nil:
				f.many[name] = true
			case len(names)-f.from < fewMembers:
				names = append(names, name)
			default:
				f.many = make(map[string]bool, 2*fewMembers)
				for _, m := range names[f.from:] {
					f.many[m] = true
				}
				f.many[name] = true
			}
			if exact, folded := knownMember(name); !exact && folded != "" {
				r.add(problem.CodeJSONMemberCase, path(name), fmt.Sprintf(
					"The member %s differs from %q only in case. FHIR member names are case-sensitive: send %q.", quote(name), folded, folded))
				ok = false
			}
			f.key = name
			wantName = false
			continue
		}
		switch tok.Kind() {
		case '{':
			stack = append(stack, frame{from: len(names)})
			wantName = true
			continue
		case '[':
			stack = append(stack, frame{array: true})
			continue
		case '}', ']':
			if !stack[n-1].array {
				names = names[:stack[n-1].from]
			}
			stack = stack[:n-1]
		}
		// A value ended: the next token is the next member's name or the next element.
		if m := len(stack); m > 0 {
			if stack[m-1].array {
				stack[m-1].index++
			} else {
				wantName = true
			}
		}
	}
}

// pointerPath turns a JSON Pointer (RFC 6901) into the FHIRPath suffix after base:
// "/contained/0/name" becomes ".contained[0].name". FHIR member names are never all digits, so a
// numeric token is an array index.
func pointerPath(base string, p jsontext.Pointer) string {
	var b strings.Builder
	b.WriteString(base)
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		b.WriteString("." + tok)
	}
	return b.String()
}
