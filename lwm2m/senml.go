package lwm2m

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// SenML (RFC 8428) as LwM2M 1.1 uses it for writes: one record per
// resource, the first carrying the base name "/<obj>/<inst>/" and every
// record the resource ID as its name; integers in v, booleans in vb,
// strings in vs, opaque values in vd (base64url without padding in JSON,
// a byte string in CBOR). SenML-CBOR uses the integer labels of RFC 8428
// §6: bn -2, n 0, v 2, vs 3, vb 4, vd 8.

// ErrSenML marks malformed SenML input.
var ErrSenML = errors.New("malformed SenML")

// senmlRecord is one SenML record, for both encodings. V holds an int64
// when encoding, whatever number the decoder met when decoding.
type senmlRecord struct {
	BN string  `json:"bn,omitempty" cbor:"-2,keyasint,omitempty"`
	N  string  `json:"n,omitempty" cbor:"0,keyasint,omitempty"`
	V  any     `json:"v,omitempty" cbor:"2,keyasint,omitempty"`
	VS *string `json:"vs,omitempty" cbor:"3,keyasint,omitempty"`
	VB *bool   `json:"vb,omitempty" cbor:"4,keyasint,omitempty"`
	VD *[]byte `json:"-" cbor:"8,keyasint,omitempty"`
	// VDText is vd in JSON: base64url text.
	VDText *string `json:"vd,omitempty" cbor:"-"`
}

// resourceKind is how a resource's value is represented.
type resourceKind int

const (
	kindUnknown resourceKind = iota
	kindString
	kindInt
	kindBool
	kindOpaque
)

// kindOf gives the data type of the Security and Server resources this
// package models (OMA object definitions 0 and 1).
func kindOf(obj, res uint16) resourceKind {
	switch obj {
	case ObjectSecurity:
		switch res {
		case SecURI, 9:
			return kindString
		case SecBootstrapServer:
			return kindBool
		case SecMode, 6, SecShortServerID, SecClientHoldOff, SecBootstrapTimeout:
			return kindInt
		case SecIdentity, SecServerPublicKey, SecSecretKey, 7, 8:
			return kindOpaque
		}
	case ObjectServer:
		switch res {
		case SrvShortServerID, SrvLifetime, SrvDefaultMinPeriod, SrvDefaultMaxPeriod, 5:
			return kindInt
		case SrvNotifIfDisabled:
			return kindBool
		case SrvBinding:
			return kindString
		}
	}
	return kindUnknown
}

// senmlRecords turns the resources of instance inst of object obj into
// SenML records with base name "/obj/inst/".
func senmlRecords(obj, inst uint16, rs []TLV) ([]senmlRecord, error) {
	out := make([]senmlRecord, 0, len(rs))
	for _, r := range rs {
		if r.Kind != TLVResource {
			return nil, fmt.Errorf("senml: %s %d not supported", r.Kind, r.ID)
		}
		rec := senmlRecord{N: strconv.Itoa(int(r.ID))}
		switch kindOf(obj, r.ID) {
		case kindString:
			v, err := r.Text()
			if err != nil {
				return nil, err
			}
			rec.VS = &v
		case kindInt:
			v, err := r.Int()
			if err != nil {
				return nil, err
			}
			rec.V = v
		case kindBool:
			v, err := r.Bool()
			if err != nil {
				return nil, err
			}
			rec.VB = &v
		case kindOpaque:
			v := r.Opaque()
			rec.VD = &v
		default:
			return nil, fmt.Errorf("senml: type of /%d/%d/%d unknown", obj, inst, r.ID)
		}
		out = append(out, rec)
	}
	if len(out) > 0 {
		out[0].BN = fmt.Sprintf("/%d/%d/", obj, inst)
	}
	return out, nil
}

// encodeSenMLJSON encodes the resources of /obj/inst as SenML-JSON.
func encodeSenMLJSON(obj, inst uint16, rs []TLV) ([]byte, error) {
	recs, err := senmlRecords(obj, inst, rs)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		if recs[i].VD != nil {
			s := base64.RawURLEncoding.EncodeToString(*recs[i].VD)
			recs[i].VDText = &s
		}
	}
	return json.Marshal(recs)
}

// cborEnc encodes with the shortest integer forms, as RFC 8949's
// preferred serialization asks.
var cborEnc, _ = cbor.EncOptions{}.EncMode()

// encodeSenMLCBOR encodes the resources of /obj/inst as SenML-CBOR.
func encodeSenMLCBOR(obj, inst uint16, rs []TLV) ([]byte, error) {
	recs, err := senmlRecords(obj, inst, rs)
	if err != nil {
		return nil, err
	}
	return cborEnc.Marshal(recs)
}

// senmlValue is one resolved record: its full LwM2M path and value as a
// resource TLV.
type senmlValue struct {
	path []uint16
	tlv  TLV
}

// decodeSenMLJSON decodes a SenML-JSON write payload into resource values
// by path (see resolveSenML).
func decodeSenMLJSON(b []byte) ([]senmlValue, error) {
	var recs []senmlRecord
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&recs); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSenML, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrSenML)
	}
	for i := range recs {
		if recs[i].VDText != nil {
			v, err := decodeBase64(*recs[i].VDText)
			if err != nil {
				return nil, fmt.Errorf("%w: record %d vd: %w", ErrSenML, i, err)
			}
			recs[i].VD = &v
		}
	}
	return resolveSenML(recs)
}

// decodeBase64 accepts base64url as RFC 8428 asks, and for robustness
// standard base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// decodeSenMLCBOR decodes a SenML-CBOR write payload.
func decodeSenMLCBOR(b []byte) ([]senmlValue, error) {
	var recs []senmlRecord
	if err := cbor.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSenML, err)
	}
	return resolveSenML(recs)
}

// resolveSenML applies base names (RFC 8428 §4.5.1: a bn holds for the
// records after it until the next) and turns each record into a path and
// a resource TLV of the value's type. Records naming a resource instance
// (multiple resources) are kept with their four-segment path.
func resolveSenML(recs []senmlRecord) ([]senmlValue, error) {
	var bn string
	out := make([]senmlValue, 0, len(recs))
	for i, r := range recs {
		if r.BN != "" {
			bn = r.BN
		}
		name := bn + r.N
		path, err := parseObjectPath(name)
		if err != nil || !strings.HasPrefix(name, "/") || len(path) < 3 {
			return nil, fmt.Errorf("%w: record %d: %q is not a resource path", ErrSenML, i, name)
		}
		t, err := senmlTLV(path[len(path)-1], r)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d (%s): %w", ErrSenML, i, name, err)
		}
		out = append(out, senmlValue{path: path, tlv: t})
	}
	return out, nil
}

// senmlTLV converts the record's one value into a resource TLV.
func senmlTLV(id uint16, r senmlRecord) (TLV, error) {
	n := 0
	for _, set := range []bool{r.V != nil, r.VS != nil, r.VB != nil, r.VD != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return TLV{}, fmt.Errorf("%d values, want exactly one", n)
	}
	switch {
	case r.VS != nil:
		if !utf8.ValidString(*r.VS) {
			return TLV{}, errors.New("vs is not UTF-8")
		}
		return StringTLV(id, *r.VS), nil
	case r.VB != nil:
		return BoolTLV(id, *r.VB), nil
	case r.VD != nil:
		return OpaqueTLV(id, *r.VD), nil
	}
	v, err := senmlInt(r.V)
	if err != nil {
		return TLV{}, err
	}
	return IntTLV(id, v), nil
}

// senmlInt reads an integral numeric value; the resources modelled here
// hold no floats.
func senmlInt(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("v %q: %w", x, err)
		}
		return floatInt(f)
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("v %d out of range", x)
		}
		return int64(x), nil
	case int64:
		return x, nil
	case float64:
		return floatInt(x)
	case float32:
		return floatInt(float64(x))
	}
	return 0, fmt.Errorf("v of type %T", v)
}

func floatInt(f float64) (int64, error) {
	if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, fmt.Errorf("v %v is not an integer", f)
	}
	return int64(f), nil
}
