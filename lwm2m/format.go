package lwm2m

import (
	"fmt"
	"strconv"
)

// WriteFormat reports whether cf is a content format this package writes
// and reads for Bootstrap-Write: LwM2M TLV (and its pre-1.0 code 1542),
// SenML-JSON or SenML-CBOR, the three the NCS client accepts.
func WriteFormat(cf uint16) bool {
	switch cf {
	case FormatTLV, FormatOldTLV, FormatSenMLJSON, FormatSenMLCBOR:
		return true
	}
	return false
}

// FormatName returns "TLV", "SenML-JSON", "SenML-CBOR" or the number.
func FormatName(cf uint16) string {
	switch cf {
	case FormatTLV, FormatOldTLV:
		return "TLV"
	case FormatSenMLJSON:
		return "SenML-JSON"
	case FormatSenMLCBOR:
		return "SenML-CBOR"
	}
	return strconv.Itoa(int(cf))
}

// EncodeInstance encodes the resources rs of instance inst of object obj,
// the payload of PUT /obj/inst, in content format cf.
func EncodeInstance(cf, obj, inst uint16, rs []TLV) ([]byte, error) {
	switch cf {
	case FormatTLV, FormatOldTLV:
		return EncodeTLV(InstanceTLV(inst, rs...)), nil
	case FormatSenMLJSON:
		return encodeSenMLJSON(obj, inst, rs)
	case FormatSenMLCBOR:
		return encodeSenMLCBOR(obj, inst, rs)
	}
	return nil, fmt.Errorf("content format %d not supported for writes", cf)
}

// decodeWrite decodes the payload of a write to /segs[0][/segs[1][/segs[2]]]
// in content format cf into the shape TLV gives: object instance elements
// for an object, one instance element (or bare resources) for an
// instance, the one resource for a resource. SenML records outside the
// written path are an error; records of resource instances are dropped
// (multiple resources are not modelled).
func decodeWrite(cf uint16, segs []uint16, body []byte) ([]TLV, error) {
	var (
		vals []senmlValue
		err  error
	)
	switch cf {
	case FormatTLV, FormatOldTLV:
		return DecodeTLV(body)
	case FormatSenMLJSON:
		vals, err = decodeSenMLJSON(body)
	case FormatSenMLCBOR:
		vals, err = decodeSenMLCBOR(body)
	default:
		return nil, fmt.Errorf("content format %d not supported", cf)
	}
	if err != nil {
		return nil, err
	}
	return groupSenML(segs, vals)
}

// groupSenML arranges resolved SenML values under the written path.
func groupSenML(segs []uint16, vals []senmlValue) ([]TLV, error) {
	var insts []TLV // object instance elements, in first-seen order
	index := map[uint16]int{}
	for _, v := range vals {
		for i, s := range segs {
			if v.path[i] != s {
				return nil, fmt.Errorf("%w: %v outside the written path %v", ErrSenML, v.path, segs)
			}
		}
		if len(v.path) > 3 {
			continue
		}
		i, ok := index[v.path[1]]
		if !ok {
			i = len(insts)
			index[v.path[1]] = i
			insts = append(insts, InstanceTLV(v.path[1]))
		}
		insts[i].Children = append(insts[i].Children, v.tlv)
	}
	if len(segs) < 3 {
		return insts, nil
	}
	if len(insts) == 0 {
		return nil, nil
	}
	return insts[0].Children, nil
}
