package lwm2m

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"
)

// SenML byte examples for the reference Server instance /1/0 (shortId
// 123, lifetime 60, min period 1, notif-if-disabled true, binding "U"),
// written by hand from RFC 8428 (JSON §5, CBOR labels §6) with LwM2M's
// naming (base name "/1/0/", resource IDs as names), independently of the
// encoder.
const (
	refServerSenMLJSON = `[{"bn":"/1/0/","n":"0","v":123},{"n":"1","v":60},{"n":"2","v":1},{"n":"6","vb":true},{"n":"7","vs":"U"}]`
	refServerSenMLCBOR = "85" + // array(5)
		" a3 21 65 2f 31 2f 30 2f 00 61 30 02 18 7b" + // {-2:"/1/0/", 0:"0", 2:123}
		" a2 00 61 31 02 18 3c" + // {0:"1", 2:60}
		" a2 00 61 32 02 01" + // {0:"2", 2:1}
		" a2 00 61 36 04 f5" + // {0:"6", 4:true}
		" a2 00 61 37 03 61 55" // {0:"7", 3:"U"}
	// The full Security instance /0/1: opaque values in vd, base64url
	// without padding; the empty Server Public Key as "".
	fullSecuritySenMLJSON = `[{"bn":"/0/1/","n":"0","vs":"coaps://lwm2m.example.com:5684"},{"n":"1","vb":false},{"n":"2","v":0},` +
		`{"n":"3","vd":"dXJuOmltZWk6MzUyNjU2MTAwMzY3ODcy"},{"n":"4","vd":""},{"n":"5","vd":"AAECAwQFBgcICQoLDA0ODw"},` +
		`{"n":"10","v":123},{"n":"11","v":1}]`
)

func TestSenMLReferenceBytes(t *testing.T) {
	srv, sec := refServer(), fullSecurity()
	tests := []struct {
		name string
		cf   uint16
		obj  uint16
		inst uint16
		rs   []TLV
		want []byte
	}{
		{"server JSON", FormatSenMLJSON, ObjectServer, 0, srv.TLV(), []byte(refServerSenMLJSON)},
		{"server CBOR", FormatSenMLCBOR, ObjectServer, 0, srv.TLV(), mustHex(t, refServerSenMLCBOR)},
		{"security JSON", FormatSenMLJSON, ObjectSecurity, 1, sec.TLV(), []byte(fullSecuritySenMLJSON)},
		{"security TLV", FormatTLV, ObjectSecurity, 1, sec.TLV(), mustHex(t, fullSecurityHex)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EncodeInstance(tc.cf, tc.obj, tc.inst, tc.rs)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("encode:\n got %s\nwant %s", show(tc.cf, got), show(tc.cf, tc.want))
			}
			dec, err := decodeWrite(tc.cf, []uint16{tc.obj, tc.inst}, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if want := []TLV{InstanceTLV(tc.inst, tc.rs...)}; !reflect.DeepEqual(normalize(dec), normalize(want)) {
				t.Errorf("decode:\n got %+v\nwant %+v", dec, want)
			}
		})
	}
}

func show(cf uint16, b []byte) string {
	if cf == FormatSenMLJSON {
		return string(b)
	}
	return fmt.Sprintf("% x", b)
}

// TestSenMLDecode: what other servers send — base names that change,
// several instances in one object write, CBOR integers as floats, padded
// standard base64 — and what must be refused.
func TestSenMLDecode(t *testing.T) {
	tests := []struct {
		name string
		cf   uint16
		segs []uint16
		in   string
		want []TLV
		err  bool
	}{
		{
			name: "object write, two instances", cf: FormatSenMLJSON, segs: []uint16{1},
			in:   `[{"bn":"/1/0/","n":"0","v":1},{"n":"1","v":60},{"bn":"/1/1/","n":"0","v":2}]`,
			want: []TLV{InstanceTLV(0, IntTLV(0, 1), IntTLV(1, 60)), InstanceTLV(1, IntTLV(0, 2))},
		},
		{
			name: "full names, no base", cf: FormatSenMLJSON, segs: []uint16{0, 1},
			in:   `[{"n":"/0/1/10","v":5},{"n":"/0/1/3","vd":"YWI="}]`,
			want: []TLV{InstanceTLV(1, IntTLV(10, 5), OpaqueTLV(3, []byte("ab")))},
		},
		{
			name: "resource write", cf: FormatSenMLJSON, segs: []uint16{0, 1, 10},
			in:   `[{"bn":"/0/1/10","v":7}]`,
			want: []TLV{IntTLV(10, 7)},
		},
		{
			name: "resource instance dropped", cf: FormatSenMLJSON, segs: []uint16{0, 1},
			in:   `[{"bn":"/0/1/","n":"16/0","v":49320},{"n":"10","v":1}]`,
			want: []TLV{InstanceTLV(1, IntTLV(10, 1))},
		},
		{
			name: "CBOR float integer", cf: FormatSenMLCBOR, segs: []uint16{1, 0},
			in:   "81 a3 21 65 2f 31 2f 30 2f 00 61 31 02 f9 53 80", // {-2:"/1/0/",0:"1",2:60.0 (half float)}
			want: []TLV{InstanceTLV(0, IntTLV(1, 60))},
		},
		{name: "outside the path", cf: FormatSenMLJSON, segs: []uint16{0, 1}, in: `[{"bn":"/0/2/","n":"0","vs":"x"}]`, err: true},
		{name: "two values", cf: FormatSenMLJSON, segs: []uint16{1, 0}, in: `[{"bn":"/1/0/","n":"0","v":1,"vs":"x"}]`, err: true},
		{name: "no value", cf: FormatSenMLJSON, segs: []uint16{1, 0}, in: `[{"bn":"/1/0/","n":"0"}]`, err: true},
		{name: "fraction", cf: FormatSenMLJSON, segs: []uint16{1, 0}, in: `[{"bn":"/1/0/","n":"1","v":1.5}]`, err: true},
		{name: "not a path", cf: FormatSenMLJSON, segs: []uint16{1, 0}, in: `[{"n":"temperature","v":1}]`, err: true},
		{name: "object only", cf: FormatSenMLJSON, segs: []uint16{1}, in: `[{"n":"/1","v":1}]`, err: true},
		{name: "not JSON", cf: FormatSenMLJSON, segs: []uint16{1}, in: `{`, err: true},
		{name: "not CBOR", cf: FormatSenMLCBOR, segs: []uint16{1}, in: "ff", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			if tc.cf == FormatSenMLCBOR {
				in = mustHex(t, tc.in)
			}
			got, err := decodeWrite(tc.cf, tc.segs, in)
			if tc.err {
				if !errors.Is(err, ErrSenML) {
					t.Fatalf("err = %v, want ErrSenML (got %+v)", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(tc.want)) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestBootstrapFormats: each content format round-trips the bootstrap
// writes end to end, chosen by the config, else the client's pct, else
// TLV. Before, the server wrote TLV whatever pct or the config said.
func TestBootstrapFormats(t *testing.T) {
	checkGoroutines(t)
	key := []byte("0123456789abcdef")
	for _, tc := range []struct {
		name   string
		config uint16 // BootstrapConfig.ContentFormat
		pct    uint16 // 0: none sent
		want   uint16
	}{
		{"default TLV", 0, 0, FormatTLV},
		{"pct TLV", 0, FormatTLV, FormatTLV},
		{"pct SenML-JSON", 0, FormatSenMLJSON, FormatSenMLJSON},
		{"pct SenML-CBOR", 0, FormatSenMLCBOR, FormatSenMLCBOR},
		{"config SenML-JSON", FormatSenMLJSON, 0, FormatSenMLJSON},
		{"config SenML-CBOR over pct TLV", FormatSenMLCBOR, FormatTLV, FormatSenMLCBOR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.ContentFormat = tc.config
			timeout := fullSecurity()
			timeout.ID, timeout.BootstrapTimeout, timeout.ShortServerID = 2, 300, 124
			cfg.Security = append(cfg.Security, timeout)
			sessions := newSessionLog()
			bs := &BootstrapServer{Logger: testLogger(t), Done: sessions.done,
				Lookup: func(context.Context, string, string) (BootstrapConfig, error) { return cfg, nil }}
			l := mustListen(t, bs, testKeys{testEndpoint: key})
			t.Cleanup(bs.Wait)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			opts := []ClientOption{WithLogger(testLogger(t))}
			if tc.pct != 0 {
				opts = append(opts, WithPreferredFormat(tc.pct))
			}
			got, err := Bootstrap(ctx, l.URI(), testEndpoint, &PSK{Identity: testEndpoint, Key: key}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			want := &Delivered{Security: cfg.Security, Servers: cfg.Servers, Deleted: cfg.ToDelete, Format: tc.want}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("delivered:\n got %+v\nwant %+v", got, want)
			}
			<-sessions.ch
		})
	}
}

// TestBootstrapUnknownPct: a pct the server cannot write is refused 4.00.
func TestBootstrapUnknownPct(t *testing.T) {
	sessions := newSessionLog()
	l := mustListen(t, newTestBootstrapServer(t, sessions), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Bootstrap(ctx, l.URI(), testEndpoint, nil, WithPreferredFormat(FormatLwM2MCBOR))
	wantResponse(codes.BadRequest)(t, err)
}

func FuzzDecodeSenML(f *testing.F) {
	f.Add([]byte(refServerSenMLJSON), false)
	f.Add([]byte(fullSecuritySenMLJSON), false)
	f.Add(mustHex(f, refServerSenMLCBOR), true)
	f.Fuzz(func(t *testing.T, b []byte, isCBOR bool) {
		cf := FormatSenMLJSON
		if isCBOR {
			cf = FormatSenMLCBOR
		}
		ts, err := decodeWrite(cf, []uint16{1}, b)
		if err != nil {
			return
		}
		for _, in := range ts { // what decodes re-encodes and decodes the same
			out, err := EncodeInstance(cf, 1, in.ID, in.Children)
			if err != nil {
				continue // e.g. a resource whose type the Server object does not define
			}
			back, err := decodeWrite(cf, []uint16{1, in.ID}, out)
			if err != nil || !reflect.DeepEqual(normalize(back), normalize([]TLV{in})) {
				t.Fatalf("round trip of %+v: %+v, %v", in, back, err)
			}
		}
	})
}
