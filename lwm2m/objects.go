package lwm2m

import (
	"fmt"
	"math"
	"slices"
)

// Object IDs.
const (
	ObjectSecurity uint16 = 0
	ObjectServer   uint16 = 1
	ObjectACL      uint16 = 2
	ObjectDevice   uint16 = 3
	ObjectOSCORE   uint16 = 21
)

// Security object (0) resource IDs.
const (
	SecURI              uint16 = 0
	SecBootstrapServer  uint16 = 1
	SecMode             uint16 = 2
	SecIdentity         uint16 = 3
	SecServerPublicKey  uint16 = 4
	SecSecretKey        uint16 = 5
	SecShortServerID    uint16 = 10
	SecClientHoldOff    uint16 = 11
	SecBootstrapTimeout uint16 = 12
)

// Server object (1) resource IDs.
const (
	SrvShortServerID    uint16 = 0
	SrvLifetime         uint16 = 1
	SrvDefaultMinPeriod uint16 = 2
	SrvDefaultMaxPeriod uint16 = 3
	SrvNotifIfDisabled  uint16 = 6
	SrvBinding          uint16 = 7
)

// Content formats (CoAP Content-Format option values).
const (
	FormatText       uint16 = 0
	FormatLinkFormat uint16 = 40
	FormatOctets     uint16 = 42
	FormatCBOR       uint16 = 60
	FormatSenMLJSON  uint16 = 110
	FormatSenMLCBOR  uint16 = 112
	FormatOldText    uint16 = 1541
	FormatOldTLV     uint16 = 1542
	FormatOldJSON    uint16 = 1543
	FormatTLV        uint16 = 11542
	FormatLwM2MJSON  uint16 = 11543
	FormatLwM2MCBOR  uint16 = 11544
)

// SecurityMode is the Security object's resource 2.
type SecurityMode int

// Security modes.
const (
	ModePSK         SecurityMode = 0
	ModeRPK         SecurityMode = 1
	ModeCertificate SecurityMode = 2
	ModeNoSec       SecurityMode = 3
	ModeEST         SecurityMode = 4
)

func (m SecurityMode) String() string {
	switch m {
	case ModePSK:
		return "PSK"
	case ModeRPK:
		return "RPK"
	case ModeCertificate:
		return "X509"
	case ModeNoSec:
		return "NO_SEC"
	case ModeEST:
		return "EST"
	}
	return fmt.Sprintf("SecurityMode(%d)", int(m))
}

// SecurityInstance is one instance of the Security object (0). SecretKey
// is a secret: never log it.
type SecurityInstance struct {
	ID              uint16
	URI             string
	BootstrapServer bool
	Mode            SecurityMode
	Identity        []byte
	ServerPublicKey []byte // resource 4, mandatory; empty for PSK
	SecretKey       []byte
	ShortServerID   uint16
	ClientHoldOff   uint32 // resource 11, seconds
	// BootstrapTimeout is resource 12 (Bootstrap-Server Account Timeout,
	// seconds), written only when non-zero.
	BootstrapTimeout uint32
}

// ServerInstance is one instance of the Server object (1).
type ServerInstance struct {
	ID               uint16
	ShortServerID    uint16
	Lifetime         uint32
	DefaultMinPeriod uint32
	NotifIfDisabled  bool
	Binding          string
}

// BootstrapConfig is what a bootstrap server delivers to one endpoint:
// Bootstrap-Delete of ToDelete (in order), then a Bootstrap-Write per
// Security and per Server instance, then Bootstrap-Finish.
type BootstrapConfig struct {
	ToDelete []string
	Security []SecurityInstance
	Servers  []ServerInstance
	// ContentFormat of the writes (FormatTLV, FormatSenMLJSON,
	// FormatSenMLCBOR); 0 takes the client's pct, else TLV, as Leshan does.
	ContentFormat uint16
}

// TLV returns the instance as the resources Leshan's bootstrap server
// writes for it: 0, 1, 2, 3, 4 (empty for PSK), 5, 10, 11, and 12 when
// set. Identity and key are left out when empty (NoSec), the Short Server
// ID when zero (a bootstrap account may have none).
func (s SecurityInstance) TLV() []TLV {
	rs := []TLV{
		StringTLV(SecURI, s.URI),
		BoolTLV(SecBootstrapServer, s.BootstrapServer),
		IntTLV(SecMode, int64(s.Mode)),
	}
	if len(s.Identity) > 0 {
		rs = append(rs, OpaqueTLV(SecIdentity, s.Identity))
	}
	rs = append(rs, OpaqueTLV(SecServerPublicKey, s.ServerPublicKey))
	if len(s.SecretKey) > 0 {
		rs = append(rs, OpaqueTLV(SecSecretKey, s.SecretKey))
	}
	if s.ShortServerID != 0 {
		rs = append(rs, IntTLV(SecShortServerID, int64(s.ShortServerID)))
	}
	rs = append(rs, IntTLV(SecClientHoldOff, int64(s.ClientHoldOff)))
	if s.BootstrapTimeout != 0 {
		rs = append(rs, IntTLV(SecBootstrapTimeout, int64(s.BootstrapTimeout)))
	}
	return rs
}

// MarshalTLV encodes the instance wrapped in an object instance element, the
// payload of PUT /0/<ID>.
func (s SecurityInstance) MarshalTLV() []byte {
	return EncodeTLV(InstanceTLV(s.ID, s.TLV()...))
}

// UnmarshalTLV decodes the payload of a write to /0/<id>: either one object
// instance element (whose ID it takes) or bare resources. Like
// json.Unmarshal it merges: resources absent from b keep their value.
// Unknown resources are ignored.
func (s *SecurityInstance) UnmarshalTLV(b []byte) error {
	return unmarshalInstance(b, &s.ID, s.ApplyTLV)
}

// ApplyTLV sets the resources present in rs.
func (s *SecurityInstance) ApplyTLV(rs []TLV) error {
	return applyResources(rs, "security", s.applyResource)
}

func (s *SecurityInstance) applyResource(r TLV) error {
	if r.Kind != TLVResource {
		return nil // multiple resources (e.g. 16 cipher suites) are not modelled
	}
	var err error
	switch r.ID {
	case SecURI:
		s.URI, err = r.Text()
	case SecBootstrapServer:
		s.BootstrapServer, err = r.Bool()
	case SecMode:
		var v int64
		if v, err = intIn(r, 0, 4); err == nil {
			s.Mode = SecurityMode(v)
		}
	case SecIdentity:
		s.Identity = r.Opaque()
	case SecServerPublicKey:
		s.ServerPublicKey = r.Opaque()
	case SecSecretKey:
		s.SecretKey = r.Opaque()
	case SecClientHoldOff:
		var v int64
		if v, err = intIn(r, 0, math.MaxUint32); err == nil {
			s.ClientHoldOff = uint32(v)
		}
	case SecBootstrapTimeout:
		var v int64
		if v, err = intIn(r, 0, math.MaxUint32); err == nil {
			s.BootstrapTimeout = uint32(v)
		}
	case SecShortServerID:
		var v int64
		if v, err = intIn(r, 0, math.MaxUint16); err == nil {
			s.ShortServerID = uint16(v)
		}
	}
	return err
}

// TLV returns the instance as resources 0, 1, 2, 6 and 7 (binding only
// when set).
func (s ServerInstance) TLV() []TLV {
	rs := []TLV{
		IntTLV(SrvShortServerID, int64(s.ShortServerID)),
		IntTLV(SrvLifetime, int64(s.Lifetime)),
		IntTLV(SrvDefaultMinPeriod, int64(s.DefaultMinPeriod)),
		BoolTLV(SrvNotifIfDisabled, s.NotifIfDisabled),
	}
	if s.Binding != "" {
		rs = append(rs, StringTLV(SrvBinding, s.Binding))
	}
	return rs
}

// MarshalTLV encodes the instance wrapped in an object instance element, the
// payload of PUT /1/<ID>.
func (s ServerInstance) MarshalTLV() []byte {
	return EncodeTLV(InstanceTLV(s.ID, s.TLV()...))
}

// UnmarshalTLV decodes the payload of a write to /1/<id>, wrapped or bare,
// merging like SecurityInstance.UnmarshalTLV.
func (s *ServerInstance) UnmarshalTLV(b []byte) error {
	return unmarshalInstance(b, &s.ID, s.ApplyTLV)
}

// ApplyTLV sets the resources present in rs.
func (s *ServerInstance) ApplyTLV(rs []TLV) error {
	return applyResources(rs, "server", s.applyResource)
}

// unmarshalInstance decodes the payload of a write to an object instance:
// one object instance element (whose ID it stores in id) or bare resources,
// handed to apply.
func unmarshalInstance(b []byte, id *uint16, apply func([]TLV) error) error {
	ts, err := DecodeTLV(b)
	if err != nil {
		return err
	}
	iid, rs, wrapped, err := unwrapInstance(ts)
	if err != nil {
		return err
	}
	if wrapped {
		*id = iid
	}
	return apply(rs)
}

func applyResources(rs []TLV, object string, apply func(TLV) error) error {
	for _, r := range rs {
		if err := apply(r); err != nil {
			return fmt.Errorf("%s resource %d: %w", object, r.ID, err)
		}
	}
	return nil
}

func (s *ServerInstance) applyResource(r TLV) error {
	if r.Kind != TLVResource {
		return nil
	}
	var (
		v   int64
		err error
	)
	switch r.ID {
	case SrvShortServerID:
		if v, err = intIn(r, 0, math.MaxUint16); err == nil {
			s.ShortServerID = uint16(v)
		}
	case SrvLifetime:
		if v, err = intIn(r, 0, math.MaxUint32); err == nil {
			s.Lifetime = uint32(v)
		}
	case SrvDefaultMinPeriod:
		if v, err = intIn(r, 0, math.MaxUint32); err == nil {
			s.DefaultMinPeriod = uint32(v)
		}
	case SrvNotifIfDisabled:
		s.NotifIfDisabled, err = r.Bool()
	case SrvBinding:
		s.Binding, err = r.Text()
	}
	return err
}

func intIn(r TLV, lo, hi int64) (int64, error) {
	v, err := r.Int()
	if err != nil {
		return 0, err
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%w: %d out of range %d..%d", ErrTLV, v, lo, hi)
	}
	return v, nil
}

// unwrapInstance accepts a single object instance element (wrapped) or a
// list of resources (bare).
func unwrapInstance(ts []TLV) (id uint16, rs []TLV, wrapped bool, err error) {
	if len(ts) == 1 && ts[0].Kind == TLVObjectInstance {
		return ts[0].ID, ts[0].Children, true, nil
	}
	for _, t := range ts {
		if t.Kind != TLVResource && t.Kind != TLVMultipleResource {
			return 0, nil, false, fmt.Errorf("%w: %s %d where a resource was expected", ErrTLV, t.Kind, t.ID)
		}
	}
	return 0, ts, false, nil
}

// sortedSecurity returns the instances of m ordered by ID.
func sortedSecurity(m map[uint16]SecurityInstance) []SecurityInstance {
	out := make([]SecurityInstance, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b SecurityInstance) int { return int(a.ID) - int(b.ID) })
	return out
}

// sortedServers returns the instances of m ordered by ID.
func sortedServers(m map[uint16]ServerInstance) []ServerInstance {
	out := make([]ServerInstance, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b ServerInstance) int { return int(a.ID) - int(b.ID) })
	return out
}
