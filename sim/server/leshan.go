package server

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"nrfline/lwm2m"
)

// Bytes is a byte string that JSON carries as an array of unsigned ints
// (0..255), as Leshan's demo API does. It marshals nil as [].
type Bytes []byte

// MarshalJSON writes [b0,b1,…].
func (b Bytes) MarshalJSON() ([]byte, error) {
	ints := make([]int, len(b))
	for i, c := range b {
		ints[i] = int(c)
	}
	return json.Marshal(ints)
}

// UnmarshalJSON accepts only an array of integers 0..255 (or null).
func (b *Bytes) UnmarshalJSON(data []byte) error {
	var ints []int
	if err := json.Unmarshal(data, &ints); err != nil {
		return errors.New("byte array expected as a JSON array of integers 0..255")
	}
	out := make(Bytes, len(ints))
	for i, v := range ints {
		if v < 0 || v > 255 {
			return fmt.Errorf("byte value %d out of range 0..255", v)
		}
		out[i] = byte(v)
	}
	*b = out
	return nil
}

// SecurityInfo is the body of PUT /api/security/clients/ (Leshan 2.x).
type SecurityInfo struct {
	Endpoint string `json:"endpoint"`
	TLS      struct {
		Mode    string `json:"mode"`
		Details struct {
			Identity string `json:"identity"`
			Key      string `json:"key"` // hex
		} `json:"details"`
	} `json:"tls"`
}

// credential is a parsed, validated PSK security entry.
type credential struct {
	endpoint string
	identity string
	key      []byte
}

func (s SecurityInfo) credential() (credential, error) {
	switch {
	case s.Endpoint == "":
		return credential{}, errors.New("endpoint is mandatory")
	case s.TLS.Mode != "psk":
		return credential{}, fmt.Errorf("tls mode %q not supported (psk only)", s.TLS.Mode)
	case s.TLS.Details.Identity == "":
		return credential{}, errors.New("psk identity is mandatory")
	}
	key, err := hex.DecodeString(s.TLS.Details.Key)
	if err != nil || len(key) == 0 {
		return credential{}, errors.New("psk key must be a non-empty hex string")
	}
	return credential{endpoint: s.Endpoint, identity: s.TLS.Details.Identity, key: key}, nil
}

func securityInfo(c credential) SecurityInfo {
	var s SecurityInfo
	s.Endpoint = c.endpoint
	s.TLS.Mode = "psk"
	s.TLS.Details.Identity = c.identity
	s.TLS.Details.Key = hex.EncodeToString(c.key)
	return s
}

// ServerConfig is a Server object entry of a Leshan bootstrap config.
type ServerConfig struct {
	ShortID                        int     `json:"shortId"`
	Lifetime                       int64   `json:"lifetime"`
	DefaultMinPeriod               int64   `json:"defaultMinPeriod"`
	DefaultMaxPeriod               *int64  `json:"defaultMaxPeriod,omitempty"`
	DisableTimeout                 *int64  `json:"disableTimeout,omitempty"`
	NotifIfDisabled                bool    `json:"notifIfDisabled"`
	Binding                        string  `json:"binding"`
	APNLink                        *int    `json:"apnLink,omitempty"`
	RegistrationPriority           *int64  `json:"registrationPriority,omitempty"`
	InitialDelay                   *int64  `json:"initialDelay,omitempty"`
	RegistrationFailure            *bool   `json:"registrationFailure,omitempty"`
	BootstrapOnRegistrationFailure *bool   `json:"bootstrapOnRegistrationFailure,omitempty"`
	CommunicationRetryCount        *int64  `json:"communicationRetryCount,omitempty"`
	CommunicationRetryTimer        *int64  `json:"communicationRetryTimer,omitempty"`
	SequenceDelayTimer             *int64  `json:"sequenceDelayTimer,omitempty"`
	SequenceRetryCount             *int64  `json:"sequenceRetryCount,omitempty"`
	PreferredTransport             *string `json:"preferredTransport,omitempty"`
	MuteSend                       *bool   `json:"muteSend,omitempty"`
}

// UnmarshalJSON applies Leshan's defaults (lifetime 86400, min period 1,
// notifIfDisabled true, binding "U") before reading.
func (s *ServerConfig) UnmarshalJSON(data []byte) error {
	type plain ServerConfig
	v := plain{Lifetime: 86400, DefaultMinPeriod: 1, NotifIfDisabled: true, Binding: "U"}
	if err := strictUnmarshal(data, &v); err != nil {
		return err
	}
	*s = ServerConfig(v)
	return nil
}

// SecurityConfig is a Security object entry of a Leshan bootstrap config.
type SecurityConfig struct {
	URI                           string  `json:"uri"`
	BootstrapServer               bool    `json:"bootstrapServer"`
	SecurityMode                  string  `json:"securityMode"`
	PublicKeyOrID                 Bytes   `json:"publicKeyOrId"`
	ServerPublicKey               Bytes   `json:"serverPublicKey"`
	SecretKey                     Bytes   `json:"secretKey"`
	SMSSecurityMode               string  `json:"smsSecurityMode"`
	SMSBindingKeyParam            Bytes   `json:"smsBindingKeyParam"`
	SMSBindingKeySecret           Bytes   `json:"smsBindingKeySecret"`
	ServerSMSNumber               string  `json:"serverSmsNumber"`
	ServerID                      *int    `json:"serverId,omitempty"`
	ClientOldOffTime              int64   `json:"clientOldOffTime"`
	BootstrapServerAccountTimeout int64   `json:"bootstrapServerAccountTimeout"`
	OSCORESecurityMode            *int    `json:"oscoreSecurityMode,omitempty"`
	MatchingType                  *string `json:"matchingType,omitempty"`
	SNI                           *string `json:"sni,omitempty"`
	CertificateUsage              *string `json:"certificateUsage,omitempty"`
	CipherSuite                   []int   `json:"cipherSuite,omitempty"`
}

// UnmarshalJSON applies Leshan's defaults (smsSecurityMode NO_SEC,
// clientOldOffTime 1) before reading.
func (s *SecurityConfig) UnmarshalJSON(data []byte) error {
	type plain SecurityConfig
	v := plain{SMSSecurityMode: "NO_SEC", ClientOldOffTime: 1}
	if err := strictUnmarshal(data, &v); err != nil {
		return err
	}
	*s = SecurityConfig(v)
	return nil
}

// BootstrapConfig is the body of POST /api/bootstrap/<endpoint> and an
// entry of GET /api/bootstrap (Leshan 2.x demo shape, reference §1.2).
// Map keys are instance ids as strings.
type BootstrapConfig struct {
	AutoIDForSecurityObject bool                       `json:"autoIdForSecurityObject"`
	ContentFormat           *string                    `json:"contentFormat"`
	ToDelete                []string                   `json:"toDelete"`
	Servers                 map[string]ServerConfig    `json:"servers"`
	Security                map[string]SecurityConfig  `json:"security"`
	ACLs                    map[string]json.RawMessage `json:"acls"`
	OSCORE                  map[string]json.RawMessage `json:"oscore"`
}

// parseBootstrapConfig decodes and validates a config body.
func parseBootstrapConfig(data []byte) (BootstrapConfig, error) {
	var c BootstrapConfig
	if err := strictUnmarshal(data, &c); err != nil {
		return BootstrapConfig{}, err
	}
	c.fillNil()
	if _, err := c.toLwM2M(); err != nil {
		return BootstrapConfig{}, err
	}
	return c, nil
}

// fillNil makes absent collections empty so GET shows [] and {}.
func (c *BootstrapConfig) fillNil() {
	if c.ToDelete == nil {
		c.ToDelete = []string{}
	}
	if c.Servers == nil {
		c.Servers = map[string]ServerConfig{}
	}
	if c.Security == nil {
		c.Security = map[string]SecurityConfig{}
	}
	if c.ACLs == nil {
		c.ACLs = map[string]json.RawMessage{}
	}
	if c.OSCORE == nil {
		c.OSCORE = map[string]json.RawMessage{}
	}
}

var securityModes = map[string]lwm2m.SecurityMode{
	"PSK": lwm2m.ModePSK, "RPK": lwm2m.ModeRPK, "X509": lwm2m.ModeCertificate,
	"NO_SEC": lwm2m.ModeNoSec, "EST": lwm2m.ModeEST,
}

// toLwM2M validates the config with Leshan's rules and converts it to what
// the bootstrap server writes, instances ordered by id.
func (c BootstrapConfig) toLwM2M() (lwm2m.BootstrapConfig, error) {
	var out lwm2m.BootstrapConfig
	cf, err := contentFormat(c.ContentFormat)
	if err != nil {
		return out, err
	}
	out.ContentFormat = cf
	for _, p := range c.ToDelete {
		if !lwm2m.ValidPath(p) {
			return out, fmt.Errorf("invalid path %q in toDelete", p)
		}
	}
	out.ToDelete = slices.Clone(c.ToDelete)
	ssids := map[int]bool{}
	for _, k := range sortedKeys(c.Security) {
		sec, err := c.security(k)
		if err != nil {
			return out, err
		}
		if !sec.BootstrapServer {
			ssids[int(sec.ShortServerID)] = true
		}
		out.Security = append(out.Security, sec)
	}
	for _, k := range sortedKeys(c.Servers) {
		srv, err := c.server(k)
		if err != nil {
			return out, err
		}
		if !ssids[int(srv.ShortServerID)] {
			return out, fmt.Errorf("server %s (shortId %d) has no security entry with serverId %d", k, srv.ShortServerID, srv.ShortServerID)
		}
		out.Servers = append(out.Servers, srv)
	}
	return out, nil
}

func (c BootstrapConfig) security(k string) (lwm2m.SecurityInstance, error) {
	s := c.Security[k]
	id, err := instanceID(k)
	if err != nil {
		return lwm2m.SecurityInstance{}, fmt.Errorf("security %q: %w", k, err)
	}
	mode, ok := securityModes[s.SecurityMode]
	switch {
	case s.URI == "":
		return lwm2m.SecurityInstance{}, fmt.Errorf("security %s: uri is mandatory", k)
	case s.SecurityMode == "":
		return lwm2m.SecurityInstance{}, fmt.Errorf("security %s: securityMode is mandatory", k)
	case !ok:
		return lwm2m.SecurityInstance{}, fmt.Errorf("security %s: unknown securityMode %q", k, s.SecurityMode)
	case mode == lwm2m.ModePSK && len(s.SecretKey) == 0:
		return lwm2m.SecurityInstance{}, fmt.Errorf("security %s: PSK needs a secretKey", k)
	case mode == lwm2m.ModePSK && (len(s.PublicKeyOrID) == 0 || !utf8.Valid(s.PublicKeyOrID)):
		return lwm2m.SecurityInstance{}, fmt.Errorf("security %s: PSK identity (publicKeyOrId) must be non-empty UTF-8", k)
	}
	switch {
	case s.ClientOldOffTime < 0 || s.ClientOldOffTime > math.MaxUint32:
		return lwm2m.SecurityInstance{}, fmt.Errorf("security %s: clientOldOffTime %d out of range", k, s.ClientOldOffTime)
	case s.BootstrapServerAccountTimeout < 0 || s.BootstrapServerAccountTimeout > math.MaxUint32:
		return lwm2m.SecurityInstance{}, fmt.Errorf("security %s: bootstrapServerAccountTimeout %d out of range", k, s.BootstrapServerAccountTimeout)
	}
	in := lwm2m.SecurityInstance{
		ID: id, URI: s.URI, BootstrapServer: s.BootstrapServer, Mode: mode,
		Identity: slices.Clone([]byte(s.PublicKeyOrID)), SecretKey: slices.Clone([]byte(s.SecretKey)),
		ServerPublicKey: append([]byte{}, s.ServerPublicKey...),
		ClientHoldOff:   uint32(s.ClientOldOffTime), BootstrapTimeout: uint32(s.BootstrapServerAccountTimeout),
	}
	if s.ServerID != nil {
		if *s.ServerID < 1 || *s.ServerID > 65534 {
			return lwm2m.SecurityInstance{}, fmt.Errorf("security %s: serverId %d out of range 1..65534", k, *s.ServerID)
		}
		in.ShortServerID = uint16(*s.ServerID)
	} else if !s.BootstrapServer {
		return lwm2m.SecurityInstance{}, fmt.Errorf("security %s: serverId is mandatory for a server account", k)
	}
	return in, nil
}

func (c BootstrapConfig) server(k string) (lwm2m.ServerInstance, error) {
	s := c.Servers[k]
	id, err := instanceID(k)
	if err != nil {
		return lwm2m.ServerInstance{}, fmt.Errorf("server %q: %w", k, err)
	}
	switch {
	case s.ShortID < 1 || s.ShortID > 65534:
		return lwm2m.ServerInstance{}, fmt.Errorf("server %s: shortId %d out of range 1..65534", k, s.ShortID)
	case s.Lifetime < 0 || s.Lifetime > math.MaxUint32:
		return lwm2m.ServerInstance{}, fmt.Errorf("server %s: lifetime %d out of range", k, s.Lifetime)
	case s.DefaultMinPeriod < 0 || s.DefaultMinPeriod > math.MaxUint32:
		return lwm2m.ServerInstance{}, fmt.Errorf("server %s: defaultMinPeriod %d out of range", k, s.DefaultMinPeriod)
	case s.Binding == "":
		return lwm2m.ServerInstance{}, fmt.Errorf("server %s: binding is mandatory", k)
	}
	return lwm2m.ServerInstance{
		ID: id, ShortServerID: uint16(s.ShortID), Lifetime: uint32(s.Lifetime),
		DefaultMinPeriod: uint32(s.DefaultMinPeriod), NotifIfDisabled: s.NotifIfDisabled, Binding: s.Binding,
	}, nil
}

// contentFormat reads the config's contentFormat: null (the client's
// pct, else TLV), a name as Leshan's ContentFormat spells it ("TLV",
// "SENML_JSON", "SENML_CBOR") or the numeric code.
func contentFormat(v *string) (uint16, error) {
	if v == nil {
		return 0, nil
	}
	switch strings.ToUpper(strings.ReplaceAll(*v, "-", "_")) {
	case "TLV", "11542":
		return lwm2m.FormatTLV, nil
	case "SENML_JSON", "110":
		return lwm2m.FormatSenMLJSON, nil
	case "SENML_CBOR", "112":
		return lwm2m.FormatSenMLCBOR, nil
	}
	return 0, fmt.Errorf("contentFormat %q: want TLV, SENML_JSON or SENML_CBOR", *v)
}

func instanceID(k string) (uint16, error) {
	v, err := strconv.ParseUint(k, 10, 16)
	if err != nil || v == 65535 {
		return 0, errors.New("instance id must be an integer 0..65534")
	}
	return uint16(v), nil
}

// sortedKeys returns the map's instance-id keys in numeric order (invalid
// ids last, so validation reports them).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		x, errA := strconv.Atoi(a)
		y, errB := strconv.Atoi(b)
		switch {
		case errA != nil || errB != nil:
			return len(a) - len(b)
		default:
			return x - y
		}
	})
	return keys
}
