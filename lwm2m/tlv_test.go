package lwm2m

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Byte examples from reference/lwm2m-bootstrap.md §6.
const (
	refSecurityHex = "08 01 58" +
		" c8 00 1e 63 6f 61 70 73 3a 2f 2f 6c 77 6d 32 6d 2e 65 78 61 6d 70 6c 65 2e 63 6f 6d 3a 35 36 38 34" +
		" c1 01 00" +
		" c1 02 00" +
		" c8 03 18 75 72 6e 3a 69 6d 65 69 3a 33 35 32 36 35 36 31 30 30 33 36 37 38 37 32" +
		" c8 05 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f" +
		" c1 0a 7b"
	refServerHex = "08 00 0f c1 00 7b c1 01 3c c1 02 01 c1 06 01 c1 07 55"
	// The same account as Leshan's bootstrap server writes it (reference
	// §6, "a faithful server sends the full one"): resource 4 (Server
	// Public Key) empty, 11 (Client Hold Off Time) = 1 added.
	fullSecurityHex = "08 01 5d" +
		" c8 00 1e 63 6f 61 70 73 3a 2f 2f 6c 77 6d 32 6d 2e 65 78 61 6d 70 6c 65 2e 63 6f 6d 3a 35 36 38 34" +
		" c1 01 00" +
		" c1 02 00" +
		" c8 03 18 75 72 6e 3a 69 6d 65 69 3a 33 35 32 36 35 36 31 30 30 33 36 37 38 37 32" +
		" c0 04" +
		" c8 05 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f" +
		" c1 0a 7b" +
		" c1 0b 01"
)

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func refKey() []byte {
	return []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
}

func refSecurity() SecurityInstance {
	return SecurityInstance{
		ID:            1,
		URI:           "coaps://lwm2m.example.com:5684",
		Mode:          ModePSK,
		Identity:      []byte("urn:imei:352656100367872"),
		SecretKey:     refKey(),
		ShortServerID: 123,
	}
}

func refServer() ServerInstance {
	return ServerInstance{ID: 0, ShortServerID: 123, Lifetime: 60, DefaultMinPeriod: 1, NotifIfDisabled: true, Binding: "U"}
}

func TestReferenceBytes(t *testing.T) {
	secTLV := InstanceTLV(1,
		StringTLV(0, "coaps://lwm2m.example.com:5684"),
		BoolTLV(1, false),
		IntTLV(2, 0),
		OpaqueTLV(3, []byte("urn:imei:352656100367872")),
		OpaqueTLV(5, refKey()),
		IntTLV(10, 123),
	)
	srvTLV := InstanceTLV(0, IntTLV(0, 123), IntTLV(1, 60), IntTLV(2, 1), BoolTLV(6, true), StringTLV(7, "U"))
	tests := []struct {
		name    string
		hex     string
		tlv     TLV
		marshal func() []byte
	}{
		{"PUT /0/1", refSecurityHex, secTLV, nil},
		{"PUT /1/0", refServerHex, srvTLV, refServer().MarshalTLV},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := mustHex(t, tc.hex)
			if got := EncodeTLV(tc.tlv); !bytes.Equal(got, want) {
				t.Errorf("EncodeTLV:\n got % x\nwant % x", got, want)
			}
			if tc.marshal != nil {
				if got := tc.marshal(); !bytes.Equal(got, want) {
					t.Errorf("MarshalTLV:\n got % x\nwant % x", got, want)
				}
			}
			dec, err := DecodeTLV(want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(dec, []TLV{tc.tlv}) {
				t.Errorf("DecodeTLV:\n got %+v\nwant %+v", dec, tc.tlv)
			}
		})
	}
}

// fullSecurity is refSecurity as Leshan's bootstrap server writes it.
func fullSecurity() SecurityInstance {
	s := refSecurity()
	s.ServerPublicKey, s.ClientHoldOff = []byte{}, 1
	return s
}

// TestSecurityResources: the Security instance carries every resource
// Leshan writes for PSK: 0-5, 10, 11, and 12 where configured.
func TestSecurityResources(t *testing.T) {
	full := fullSecurity()
	if got, want := full.MarshalTLV(), mustHex(t, fullSecurityHex); !bytes.Equal(got, want) {
		t.Errorf("MarshalTLV:\n got % x\nwant % x", got, want)
	}
	withTimeout := full
	withTimeout.BootstrapTimeout = 300
	for _, tc := range []struct {
		in   SecurityInstance
		want []uint16
	}{
		{full, []uint16{0, 1, 2, 3, 4, 5, 10, 11}},
		{withTimeout, []uint16{0, 1, 2, 3, 4, 5, 10, 11, 12}},
	} {
		var ids []uint16
		for _, r := range tc.in.TLV() {
			ids = append(ids, r.ID)
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("resources %v, want %v", ids, tc.want)
		}
		var back SecurityInstance
		if err := back.UnmarshalTLV(tc.in.MarshalTLV()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, tc.in) {
			t.Errorf("round trip:\n got %+v\nwant %+v", back, tc.in)
		}
	}
}

func TestUnmarshalReference(t *testing.T) {
	wrapped := mustHex(t, refSecurityHex)
	bare := wrapped[3:] // the resources without the instance header
	for _, tc := range []struct {
		name   string
		in     []byte
		wantID uint16
	}{
		{"wrapped", wrapped, 1},
		{"bare", bare, 7}, // bare keeps the ID the caller set
	} {
		t.Run("security "+tc.name, func(t *testing.T) {
			s := SecurityInstance{ID: 7}
			if err := s.UnmarshalTLV(tc.in); err != nil {
				t.Fatal(err)
			}
			want := refSecurity()
			want.ID = tc.wantID
			if !reflect.DeepEqual(s, want) {
				t.Errorf("got %+v\nwant %+v", s, want)
			}
		})
	}
	srvWrapped := mustHex(t, refServerHex)
	for _, in := range [][]byte{srvWrapped, srvWrapped[3:]} {
		var s ServerInstance
		if err := s.UnmarshalTLV(in); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s, refServer()) {
			t.Errorf("server: got %+v want %+v", s, refServer())
		}
	}
}

func TestUnmarshalMerges(t *testing.T) {
	s := refSecurity()
	if err := s.UnmarshalTLV(EncodeTLV(IntTLV(SecShortServerID, 200))); err != nil {
		t.Fatal(err)
	}
	want := refSecurity()
	want.ShortServerID = 200
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got %+v want %+v", s, want)
	}
}

func TestEncodeLengths(t *testing.T) {
	tests := []struct {
		name   string
		tlv    TLV
		header string
	}{
		{"len 0", TLV{Kind: TLVResource, ID: 1}, "c0 01"},
		{"len 7 inline", TLV{Kind: TLVResource, ID: 1, Value: make([]byte, 7)}, "c7 01"},
		{"len 8 byte", TLV{Kind: TLVResource, ID: 1, Value: make([]byte, 8)}, "c8 01 08"},
		{"len 256 two bytes", TLV{Kind: TLVResource, ID: 1, Value: make([]byte, 256)}, "d0 01 01 00"},
		{"len 65536 three bytes", TLV{Kind: TLVResource, ID: 1, Value: make([]byte, 65536)}, "d8 01 01 00 00"},
		{"16-bit id", TLV{Kind: TLVResourceInstance, ID: 300, Value: []byte{1}}, "61 01 2c"},
		{"multiple resource", TLV{Kind: TLVMultipleResource, ID: 16, Children: []TLV{{Kind: TLVResourceInstance, ID: 0, Value: []byte{0xc0, 0xa8}}}}, "84 10 42 00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := EncodeTLV(tc.tlv)
			h := mustHex(t, tc.header)
			if !bytes.HasPrefix(enc, h) {
				t.Fatalf("header % x, want % x", enc[:min(len(enc), len(h)+1)], h)
			}
			dec, err := DecodeTLV(enc)
			if err != nil {
				t.Fatal(err)
			}
			if len(dec) != 1 || !bytes.Equal(EncodeTLV(dec...), enc) {
				t.Errorf("round trip differs")
			}
		})
	}
}

func TestIntTLV(t *testing.T) {
	tests := []struct {
		v    int64
		want string
	}{
		{0, "00"}, {127, "7f"}, {-1, "ff"}, {128, "00 80"}, {-129, "ff 7f"},
		{86400, "00 01 51 80"}, {1 << 31, "00 00 00 00 80 00 00 00"}, {-1 << 63, "80 00 00 00 00 00 00 00"},
	}
	for _, tc := range tests {
		tl := IntTLV(1, tc.v)
		if want := mustHex(t, tc.want); !bytes.Equal(tl.Value, want) {
			t.Errorf("IntTLV(%d) = % x, want % x", tc.v, tl.Value, want)
		}
		if got, err := tl.Int(); err != nil || got != tc.v {
			t.Errorf("Int() = %d, %v; want %d", got, err, tc.v)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		hex  string
	}{
		{"truncated header", "c8"},
		{"truncated length field", "c8 01"},
		{"truncated value", "c3 01 00 00"},
		{"value longer than buffer", "c8 01 05 00"},
		{"length bits with length field", "c9 01 01 00"},
		{"instance holding instance", "03 01 03 00 00 00"},
		{"multiple resource holding resource", "83 10 c1 00 01"},
		{"truncated child", "02 01 c1 00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeTLV(mustHex(t, tc.hex))
			if !errors.Is(err, ErrTLV) {
				t.Errorf("err = %v, want ErrTLV", err)
			}
		})
	}
}

func TestTypedErrors(t *testing.T) {
	if _, err := (TLV{Value: []byte{1, 2, 3}}).Int(); err == nil {
		t.Error("3-byte int accepted")
	}
	if _, err := (TLV{Value: []byte{2}}).Bool(); err == nil {
		t.Error("bool 2 accepted")
	}
	if _, err := (TLV{Value: []byte{0xff}}).Text(); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	var s SecurityInstance
	if err := s.UnmarshalTLV(EncodeTLV(IntTLV(SecMode, 9))); err == nil {
		t.Error("security mode 9 accepted")
	}
	var sv ServerInstance
	if err := sv.UnmarshalTLV(EncodeTLV(IntTLV(SrvShortServerID, 70000))); err == nil {
		t.Error("short server id 70000 accepted")
	}
}

func FuzzDecodeTLV(f *testing.F) {
	f.Add(mustHex(f, refSecurityHex))
	f.Add(mustHex(f, refServerHex))
	f.Add(mustHex(f, "84 10 42 00 c0 a8"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := DecodeTLV(b)
		if err != nil {
			return
		}
		enc := EncodeTLV(ts...)
		again, err := DecodeTLV(enc)
		if err != nil {
			t.Fatalf("re-decode of % x: %v", enc, err)
		}
		if !reflect.DeepEqual(normalize(ts), normalize(again)) {
			t.Fatalf("round trip differs:\n%+v\n%+v", ts, again)
		}
		if !bytes.Equal(EncodeTLV(again...), enc) {
			t.Fatal("encoding not stable")
		}
		if len(enc) == len(b) && !bytes.Equal(enc, b) {
			t.Fatalf("canonical input % x re-encoded as % x", b, enc)
		}
		var s SecurityInstance
		_ = s.UnmarshalTLV(b)
		var sv ServerInstance
		_ = sv.UnmarshalTLV(b)
	})
}

// normalize maps empty values to nil so DeepEqual compares content.
func normalize(ts []TLV) []TLV {
	out := make([]TLV, len(ts))
	for i, t := range ts {
		if len(t.Value) == 0 {
			t.Value = nil
		}
		t.Children = normalize(t.Children)
		if len(t.Children) == 0 {
			t.Children = nil
		}
		out[i] = t
	}
	return out
}
