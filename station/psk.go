package station

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
)

// PSK is a pre-shared key. It keeps its bytes private: every way of printing
// it (String, %v, %x, %q, JSON, text, slog) shows only "sha256:" and the
// fingerprint, so a key cannot reach a log, a record or the screen by accident.
// Hex and Bytes are the only ways to the secret; call them where the key is
// handed to the modem or a portal, and Wipe when done.
type PSK struct{ b []byte }

// NewPSK draws n random bytes from crypto/rand.
func NewPSK(n int) (PSK, error) {
	if n < 4 || n > 64 {
		return PSK{}, fmt.Errorf("psk length %d out of range 4..64", n)
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return PSK{}, fmt.Errorf("draw psk: %w", err)
	}
	return PSK{b: b}, nil
}

// PSKFromBytes wraps existing key bytes (copied).
func PSKFromBytes(b []byte) PSK { return PSK{b: append([]byte(nil), b...)} }

// IsZero reports whether the key is empty.
func (k PSK) IsZero() bool { return len(k.b) == 0 }

// Len is the key length in bytes.
func (k PSK) Len() int { return len(k.b) }

// Hex is the key as lowercase hex text: the form the modem stores (type 3).
func (k PSK) Hex() string { return hex.EncodeToString(k.b) }

// Bytes is a copy of the raw key.
func (k PSK) Bytes() []byte { return append([]byte(nil), k.b...) }

// Fingerprint is the uppercase SHA-256 of the hex text: what the modem's
// %CMNG list reports for the stored key.
func (k PSK) Fingerprint() string { return HexDigest(k.Hex()) }

// RawFingerprint is the uppercase SHA-256 of the raw key bytes, the other
// hashing convention a modem might use (see modem-at.md §6.2).
func (k PSK) RawFingerprint() string {
	s := sha256.Sum256(k.b)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// Wipe overwrites the key bytes.
func (k *PSK) Wipe() {
	for i := range k.b {
		k.b[i] = 0
	}
	k.b = nil
}

func (k PSK) String() string {
	if k.IsZero() {
		return "sha256:none"
	}
	return "sha256:" + strings.ToLower(k.Fingerprint()) // lower case, like every digest the station shows
}

// Format makes every verb print the fingerprint form.
func (k PSK) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// GoString keeps %#v safe too.
func (k PSK) GoString() string { return k.String() }

// MarshalText and MarshalJSON keep encoders safe.
func (k PSK) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// MarshalJSON writes the fingerprint as a JSON string.
func (k PSK) MarshalJSON() ([]byte, error) { return []byte(`"` + k.String() + `"`), nil }

// LogValue keeps slog safe.
func (k PSK) LogValue() slog.Value { return slog.StringValue(k.String()) }

// HexDigest is the uppercase SHA-256 of s: the form %CMNG lists.
func HexDigest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
