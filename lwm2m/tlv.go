package lwm2m

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// TLVKind is the element type in bits 7–6 of an OMA LwM2M TLV type byte.
type TLVKind uint8

// TLV element kinds.
const (
	TLVObjectInstance   TLVKind = 0 // value: resources / multiple resources
	TLVResourceInstance TLVKind = 1 // value: raw bytes
	TLVMultipleResource TLVKind = 2 // value: resource instances
	TLVResource         TLVKind = 3 // resource with value: raw bytes
)

func (k TLVKind) String() string {
	switch k {
	case TLVObjectInstance:
		return "object instance"
	case TLVResourceInstance:
		return "resource instance"
	case TLVMultipleResource:
		return "multiple resource"
	case TLVResource:
		return "resource"
	}
	return fmt.Sprintf("TLVKind(%d)", uint8(k))
}

// container reports whether elements of kind k hold children, not a value.
func (k TLVKind) container() bool { return k == TLVObjectInstance || k == TLVMultipleResource }

// TLV is one OMA LwM2M TLV element. Containers (object instance, multiple
// resource) carry Children and no Value; the others carry Value only.
type TLV struct {
	Kind     TLVKind
	ID       uint16
	Value    []byte
	Children []TLV
}

// maxTLVLength is the largest value length a 24-bit length field holds.
const maxTLVLength = 1<<24 - 1

// ErrTLV marks malformed TLV input.
var ErrTLV = errors.New("malformed TLV")

// DecodeTLV parses a sequence of TLV elements. Containers are decoded
// recursively: object instances may hold resources and multiple resources,
// multiple resources only resource instances.
func DecodeTLV(b []byte) ([]TLV, error) {
	return decodeTLV(b, nil)
}

// decodeTLV parses b; allowed, when non-nil, lists the kinds that may appear.
func decodeTLV(b []byte, allowed []TLVKind) ([]TLV, error) {
	var out []TLV
	for off := 0; off < len(b); {
		t, n, err := decodeOne(b[off:])
		if err != nil {
			return nil, fmt.Errorf("%w at byte %d: %w", ErrTLV, off, err)
		}
		if allowed != nil && !kindIn(t.Kind, allowed) {
			return nil, fmt.Errorf("%w at byte %d: %s not allowed here", ErrTLV, off, t.Kind)
		}
		out = append(out, t)
		off += n
	}
	return out, nil
}

func kindIn(k TLVKind, ks []TLVKind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// decodeOne parses the element at the start of b and returns it with the
// number of bytes it took.
func decodeOne(b []byte) (TLV, int, error) {
	if len(b) < 2 {
		return TLV{}, 0, errors.New("truncated header")
	}
	typ := b[0]
	t := TLV{Kind: TLVKind(typ >> 6)}
	off := 1
	idLen := 1 + int(typ>>5&1)
	lenLen := int(typ >> 3 & 3)
	if len(b) < off+idLen+lenLen {
		return TLV{}, 0, errors.New("truncated header")
	}
	t.ID = uint16(readUint(b[off : off+idLen]))
	off += idLen
	length := int(typ & 7)
	if lenLen > 0 {
		if typ&7 != 0 {
			return TLV{}, 0, errors.New("length bits set with a length field")
		}
		length = int(readUint(b[off : off+lenLen]))
		off += lenLen
	}
	if len(b)-off < length {
		return TLV{}, 0, fmt.Errorf("value of %d bytes truncated to %d", length, len(b)-off)
	}
	val := b[off : off+length]
	off += length
	if !t.Kind.container() {
		t.Value = append([]byte{}, val...)
		return t, off, nil
	}
	allowed := []TLVKind{TLVResource, TLVMultipleResource}
	if t.Kind == TLVMultipleResource {
		allowed = []TLVKind{TLVResourceInstance}
	}
	children, err := decodeTLV(val, allowed)
	if err != nil {
		return TLV{}, 0, fmt.Errorf("in %s %d: %w", t.Kind, t.ID, err)
	}
	t.Children = children
	return t, off, nil
}

func readUint(b []byte) uint32 {
	var v uint32
	for _, c := range b {
		v = v<<8 | uint32(c)
	}
	return v
}

// EncodeTLV serialises elements with the shortest identifier and length
// fields, as LwM2M clients and servers do. A container's value is its
// encoded Children. It panics if a value exceeds the 24-bit length limit
// (16 MiB), which no LwM2M payload reaches.
func EncodeTLV(ts ...TLV) []byte {
	var out []byte
	for _, t := range ts {
		out = appendTLV(out, t)
	}
	return out
}

func appendTLV(out []byte, t TLV) []byte {
	val := t.Value
	if t.Kind.container() {
		val = EncodeTLV(t.Children...)
	}
	if len(val) > maxTLVLength {
		panic(fmt.Sprintf("lwm2m: TLV value of %d bytes exceeds 24-bit length", len(val)))
	}
	typ := byte(t.Kind&3) << 6
	if t.ID > 0xff {
		typ |= 1 << 5
	}
	n := len(val)
	switch {
	case n <= 7:
		typ |= byte(n)
	case n <= 0xff:
		typ |= 1 << 3
	case n <= 0xffff:
		typ |= 2 << 3
	default:
		typ |= 3 << 3
	}
	out = append(out, typ)
	if t.ID > 0xff {
		out = binary.BigEndian.AppendUint16(out, t.ID)
	} else {
		out = append(out, byte(t.ID))
	}
	switch {
	case n <= 7:
	case n <= 0xff:
		out = append(out, byte(n))
	case n <= 0xffff:
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, val...)
}

// InstanceTLV builds an object instance element.
func InstanceTLV(id uint16, resources ...TLV) TLV {
	return TLV{Kind: TLVObjectInstance, ID: id, Children: resources}
}

// IntTLV builds a resource holding v in the shortest of 1, 2, 4 or 8
// big-endian two's complement bytes.
func IntTLV(id uint16, v int64) TLV {
	var b []byte
	switch {
	case v >= math.MinInt8 && v <= math.MaxInt8:
		b = []byte{byte(v)}
	case v >= math.MinInt16 && v <= math.MaxInt16:
		b = binary.BigEndian.AppendUint16(nil, uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		b = binary.BigEndian.AppendUint32(nil, uint32(v))
	default:
		b = binary.BigEndian.AppendUint64(nil, uint64(v))
	}
	return TLV{Kind: TLVResource, ID: id, Value: b}
}

// BoolTLV builds a resource holding one byte, 1 for true.
func BoolTLV(id uint16, v bool) TLV {
	var b byte
	if v {
		b = 1
	}
	return TLV{Kind: TLVResource, ID: id, Value: []byte{b}}
}

// StringTLV builds a resource holding the UTF-8 bytes of s.
func StringTLV(id uint16, s string) TLV {
	return TLV{Kind: TLVResource, ID: id, Value: []byte(s)}
}

// OpaqueTLV builds a resource holding a copy of b.
func OpaqueTLV(id uint16, b []byte) TLV {
	return TLV{Kind: TLVResource, ID: id, Value: append([]byte{}, b...)}
}

// Int decodes an integer value of 1, 2, 4 or 8 bytes.
func (t TLV) Int() (int64, error) {
	v := t.Value
	switch len(v) {
	case 1:
		return int64(int8(v[0])), nil
	case 2:
		return int64(int16(binary.BigEndian.Uint16(v))), nil
	case 4:
		return int64(int32(binary.BigEndian.Uint32(v))), nil
	case 8:
		return int64(binary.BigEndian.Uint64(v)), nil
	}
	return 0, fmt.Errorf("%w: integer %d of %d bytes", ErrTLV, t.ID, len(v))
}

// Bool decodes a one-byte boolean (0 or 1).
func (t TLV) Bool() (bool, error) {
	if len(t.Value) != 1 || t.Value[0] > 1 {
		return false, fmt.Errorf("%w: boolean %d is % x", ErrTLV, t.ID, t.Value)
	}
	return t.Value[0] == 1, nil
}

// Text decodes a UTF-8 string value.
func (t TLV) Text() (string, error) {
	if !utf8.Valid(t.Value) {
		return "", fmt.Errorf("%w: string %d is not UTF-8", ErrTLV, t.ID)
	}
	return string(t.Value), nil
}

// Opaque returns a copy of the raw value.
func (t TLV) Opaque() []byte {
	return append([]byte{}, t.Value...)
}
