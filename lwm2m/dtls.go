package lwm2m

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"

	piondtls "github.com/pion/dtls/v3"
	coapdtls "github.com/plgd-dev/go-coap/v3/dtls"
)

// CipherSuiteID is a DTLS cipher suite.
type CipherSuiteID = piondtls.CipherSuiteID

// Cipher suites for DTLS-PSK.
const (
	// SuiteCCM8 is TLS_PSK_WITH_AES_128_CCM_8 (0xC0A8), mandated by LwM2M.
	SuiteCCM8 = piondtls.TLS_PSK_WITH_AES_128_CCM_8
	// SuiteGCM is TLS_PSK_WITH_AES_128_GCM_SHA256 (0x00A8).
	SuiteGCM = piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256
)

// CipherSuites returns the PSK suites offered and accepted by default: only
// the LwM2M-mandated TLS_PSK_WITH_AES_128_CCM_8. pion's own default list
// holds no PSK suite at all, so every DTLS option set here names its suites.
func CipherSuites() []CipherSuiteID {
	return []CipherSuiteID{SuiteCCM8}
}

// PSK is a DTLS pre-shared key with its identity. String and LogValue never
// show the key, only its SHA-256 fingerprint.
type PSK struct {
	Identity string
	Key      []byte
}

// Validate rejects an empty identity (mbedTLS servers refuse it) or key.
func (p PSK) Validate() error {
	switch {
	case p.Identity == "":
		return errors.New("psk: empty identity")
	case len(p.Key) == 0:
		return errors.New("psk: empty key")
	}
	return nil
}

// Fingerprint returns the lowercase hex SHA-256 of the key.
func (p PSK) Fingerprint() string {
	return Fingerprint(p.Key)
}

// Fingerprint returns the lowercase hex SHA-256 of key, the only form in
// which a key may be logged.
func Fingerprint(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:])
}

// String shows the identity and the key's fingerprint.
func (p PSK) String() string {
	return fmt.Sprintf("PSK{identity=%q sha256=%s}", p.Identity, p.Fingerprint())
}

// GoString keeps %#v from printing the key.
func (p PSK) GoString() string { return p.String() }

// LogValue logs the identity and the key's fingerprint.
func (p PSK) LogValue() slog.Value {
	return slog.GroupValue(slog.String("identity", p.Identity), slog.String("sha256", p.Fingerprint()))
}

// KeyLookup returns the PSK for a client's DTLS identity, or an error when
// the identity is unknown (the handshake then fails).
type KeyLookup func(identity string) ([]byte, error)

// pionClientOptions: the client sends psk.Identity (pion's PSKIdentityHint
// setting) and answers any server hint with psk.Key.
func pionClientOptions(psk PSK, suites []CipherSuiteID) ([]piondtls.ClientOption, error) {
	if err := psk.Validate(); err != nil {
		return nil, err
	}
	if len(suites) == 0 {
		return nil, errors.New("dtls: no cipher suite")
	}
	key := append([]byte(nil), psk.Key...)
	return []piondtls.ClientOption{
		piondtls.WithPSK(func([]byte) ([]byte, error) { return key, nil }),
		piondtls.WithPSKIdentityHint([]byte(psk.Identity)),
		piondtls.WithCipherSuites(suites...),
	}, nil
}

// DTLSClientOptions builds go-coap DTLS client options for psk with suites
// (default CipherSuites()).
func DTLSClientOptions(psk PSK, suites ...CipherSuiteID) (coapdtls.DTLSClientOptions, error) {
	if len(suites) == 0 {
		suites = CipherSuites()
	}
	opts, err := pionClientOptions(psk, suites)
	if err != nil {
		return coapdtls.DTLSClientOptions{}, err
	}
	return coapdtls.NewDTLSClientOptions(opts...), nil
}

// ErrUnknownIdentity is what a KeyLookup returns (wrapped) for an identity
// it does not know: ListenCoAPs then refuses the handshake with the
// unknown_psk_identity alert (RFC 4279 §2), other lookup errors with
// internal_error.
var ErrUnknownIdentity = errors.New("unknown PSK identity")

// pionServerOptions: the PSK callback looks the client's identity up with
// keys and calls onUnknown for an empty or unknown identity.
func pionServerOptions(keys KeyLookup, suites []CipherSuiteID, onUnknown func()) []piondtls.ServerOption {
	if len(suites) == 0 {
		suites = CipherSuites()
	}
	return []piondtls.ServerOption{
		piondtls.WithPSK(func(identity []byte) ([]byte, error) {
			if len(identity) == 0 {
				onUnknown()
				return nil, fmt.Errorf("empty identity: %w", ErrUnknownIdentity)
			}
			key, err := keys(string(identity))
			if errors.Is(err, ErrUnknownIdentity) {
				onUnknown()
			}
			if err != nil {
				return nil, fmt.Errorf("psk for identity %q: %w", identity, err)
			}
			if len(key) == 0 {
				return nil, fmt.Errorf("psk for identity %q: empty key", identity)
			}
			return key, nil
		}),
		piondtls.WithCipherSuites(suites...),
	}
}

// PeerIdentity returns the PSK identity a DTLS peer authenticated with, or
// false for a plain (UDP) connection or before the handshake.
func PeerIdentity(c net.Conn) (string, bool) {
	dc, ok := c.(*piondtls.Conn)
	if !ok {
		return "", false
	}
	st, ok := dc.ConnectionState()
	if !ok || len(st.IdentityHint) == 0 {
		return "", false
	}
	return string(st.IdentityHint), true
}
