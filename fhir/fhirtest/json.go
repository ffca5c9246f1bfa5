package fhirtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// object is a JSON object that keeps its keys in the order they were set, so that built bodies
// read like the FHIR examples (resourceType first).
type object struct {
	keys []string
	vals map[string]any
}

// obj builds an object from alternating keys and values.
func obj(kv ...any) *object {
	o := &object{vals: map[string]any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

func (o *object) get(k string) any { return o.vals[k] }

func (o *object) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) del(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, x := range o.keys {
		if x == k {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			break
		}
	}
}

// MarshalJSON writes the keys in order.
func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// segment is one step of a path: a key, optionally followed by an index.
type segment struct {
	key   string
	index int // -1 when the step has no index
}

// parsePath reads "contained[0].identifier[0].value" into segments. It panics on a malformed
// path: that is a mistake in the calling test.
func parsePath(path string) []segment {
	var segs []segment
	for _, part := range strings.Split(path, ".") {
		s := segment{key: part, index: -1}
		if i := strings.IndexByte(part, '['); i >= 0 {
			if !strings.HasSuffix(part, "]") {
				panic("fhirtest: malformed path " + strconv.Quote(path))
			}
			n, err := strconv.Atoi(part[i+1 : len(part)-1])
			if err != nil || n < 0 {
				panic("fhirtest: malformed path " + strconv.Quote(path))
			}
			s.key, s.index = part[:i], n
		}
		if s.key == "" {
			panic("fhirtest: malformed path " + strconv.Quote(path))
		}
		segs = append(segs, s)
	}
	return segs
}

// setPath sets the element at segs below node, creating objects and growing arrays on the way,
// and returns the (possibly new) node.
func setPath(node any, segs []segment, v any) any {
	o, ok := node.(*object)
	if !ok {
		o = obj()
	}
	s := segs[0]
	if s.index < 0 {
		if len(segs) == 1 {
			o.set(s.key, v)
		} else {
			o.set(s.key, setPath(o.get(s.key), segs[1:], v))
		}
		return o
	}
	arr, _ := o.get(s.key).([]any)
	for len(arr) <= s.index {
		arr = append(arr, nil)
	}
	if len(segs) == 1 {
		arr[s.index] = v
	} else {
		arr[s.index] = setPath(arr[s.index], segs[1:], v)
	}
	o.set(s.key, arr)
	return o
}

// removePath removes the element at segs below node, if it is there.
func removePath(node any, segs []segment) {
	o, ok := node.(*object)
	if !ok {
		return
	}
	s := segs[0]
	if s.index < 0 {
		if len(segs) == 1 {
			o.del(s.key)
		} else {
			removePath(o.get(s.key), segs[1:])
		}
		return
	}
	arr, _ := o.get(s.key).([]any)
	if s.index >= len(arr) {
		return
	}
	if len(segs) == 1 {
		arr = append(arr[:s.index:s.index], arr[s.index+1:]...)
		o.set(s.key, arr)
		return
	}
	removePath(arr[s.index], segs[1:])
}
