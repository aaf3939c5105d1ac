package station

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestPSKNeverPrintsItsKey(t *testing.T) {
	k := PSKFromBytes([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	if k.Hex() != "000102030405060708090a0b0c0d0e0f" {
		t.Fatalf("hex %s", k.Hex())
	}
	// The modem's digest of the hex text (modem-at.md §6.2).
	if k.Fingerprint() != "D65DF89F702EEC58CA3C7BF2001C9FFC7CD80553AE01D42A799BA26756142D96" {
		t.Errorf("fingerprint %s", k.Fingerprint())
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "psk", k)
	js, _ := json.Marshal(struct{ K PSK }{k})
	outputs := []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %X %q", k, k, k, k, k, k, k), string(js), logged.String(),
		fmt.Errorf("write %v", k).Error(),
	}
	for _, out := range outputs {
		low := strings.ToLower(out)
		if strings.Contains(low, k.Hex()) || strings.Contains(low, "0001020304") {
			t.Errorf("key leaked: %s", out)
		}
		if !strings.Contains(out, "sha256:d65df89f") {
			t.Errorf("fingerprint missing: %s", out)
		}
	}
}

func TestPSKWipe(t *testing.T) {
	k, err := NewPSK(16)
	if err != nil {
		t.Fatal(err)
	}
	b := k.b
	k.Wipe()
	if !k.IsZero() || !bytes.Equal(b, make([]byte, 16)) {
		t.Error("wipe left key bytes")
	}
}
