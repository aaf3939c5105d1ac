package lwm2m

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/mux"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
)

// step is one request a scripted bootstrap server sends, with the reply
// code it expects from our client.
type step struct {
	method codes.Code
	path   string
	cf     message.MediaType
	body   []byte
	accept bool // ask for link-format
	want   codes.Code
	// wantBody, if set, must equal the reply payload.
	wantBody string
}

// scriptServer answers POST /bs with 2.04 and then runs its steps,
// reporting a mismatch on errs (nil when all replies matched).
type scriptServer struct {
	steps []step
	errs  chan error
}

func (s *scriptServer) ServeCOAP(w mux.ResponseWriter, r *mux.Message) {
	_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
	conn := w.Conn()
	responsewriter.AfterWrite(r.Context(), func() { go func() { s.errs <- s.run(conn) }() })
}

func (s *scriptServer) run(conn mux.Conn) error {
	for _, st := range s.steps {
		ctx, cancel := context.WithTimeout(conn.Context(), 5*time.Second)
		req, err := newRequest(ctx, conn, st)
		if err != nil {
			cancel()
			return err
		}
		resp, err := conn.Do(req)
		conn.ReleaseMessage(req)
		cancel()
		if err != nil {
			return fmt.Errorf("%v %s: %w", st.method, st.path, err)
		}
		body, _ := resp.ReadBody()
		if resp.Code() != st.want || (st.wantBody != "" && string(body) != st.wantBody) {
			return fmt.Errorf("%v %s: got %s %q, want %s %q", st.method, st.path, CodeText(resp.Code()), body, CodeText(st.want), st.wantBody)
		}
	}
	return nil
}

func newRequest(ctx context.Context, conn mux.Conn, st step) (*pool.Message, error) {
	switch st.method {
	case codes.GET:
		req, err := conn.NewGetRequest(ctx, st.path)
		if err == nil && st.accept {
			req.SetAccept(message.AppLinkFormat)
		}
		return req, err
	case codes.DELETE:
		return conn.NewDeleteRequest(ctx, st.path)
	case codes.PUT:
		return conn.NewPutRequest(ctx, st.path, st.cf, bytes.NewReader(st.body))
	default:
		return conn.NewPostRequest(ctx, st.path, st.cf, nil)
	}
}

func TestClientSessionReplies(t *testing.T) {
	checkGoroutines(t)
	sec := fullSecurity()
	srv := refServer()
	tlv := message.MediaType(FormatTLV)
	tests := []struct {
		name      string
		steps     []step
		delivered *Delivered
		wantErr   error
	}{
		{
			name: "full session with discover and partial write",
			steps: []step{
				{method: codes.GET, path: "/", accept: true, want: codes.Content, wantBody: `</>;lwm2m="1.0",</0/0>,</3/0>`},
				{method: codes.DELETE, path: "/", want: codes.Deleted},
				{method: codes.PUT, path: "/0/1", cf: tlv, body: sec.MarshalTLV()[3:], want: codes.Changed}, // bare resources
				{method: codes.PUT, path: "/0/1/10", cf: tlv, body: EncodeTLV(IntTLV(SecShortServerID, 124)), want: codes.Changed},
				{method: codes.PUT, path: "/1", cf: tlv, body: func() []byte { s := srv; s.ShortServerID = 124; return s.MarshalTLV() }(), want: codes.Changed},
				{method: codes.GET, path: "/0", accept: true, want: codes.Content, wantBody: `</>;lwm2m="1.0",</0/0>,</0/1>;ssid=124`},
				{method: codes.POST, path: "/bs", want: codes.Changed},
			},
			delivered: &Delivered{
				Security: []SecurityInstance{func() SecurityInstance { s := sec; s.ShortServerID = 124; return s }()},
				Servers:  []ServerInstance{func() ServerInstance { s := srv; s.ShortServerID = 124; return s }()},
				Deleted:  []string{"/"},
				Format:   FormatTLV,
			},
		},
		{
			name: "refusals",
			steps: []step{
				{method: codes.DELETE, path: "/0/1/5", want: codes.MethodNotAllowed},
				{method: codes.PUT, path: "/0/1", cf: message.AppJSON, body: []byte("{}"), want: codes.UnsupportedMediaType},
				{method: codes.PUT, path: "/0/1", cf: tlv, body: []byte{0xc8}, want: codes.BadRequest},
				{method: codes.PUT, path: "/0/2", cf: tlv, body: sec.MarshalTLV(), want: codes.BadRequest}, // instance 1 sent to /0/2
				{method: codes.PUT, path: "/5/0", cf: tlv, body: sec.MarshalTLV(), want: codes.NotFound},
				{method: codes.POST, path: "/1/0/8", want: codes.MethodNotAllowed},
				{method: codes.DELETE, path: "/0/0", want: codes.Deleted}, // the bootstrap account survives
				{method: codes.GET, path: "/0", accept: true, want: codes.Content, wantBody: `</>;lwm2m="1.0",</0/0>`},
				{method: codes.PUT, path: "/1/0", cf: tlv, body: srv.MarshalTLV(), want: codes.Changed},
				{method: codes.POST, path: "/bs", want: codes.NotAcceptable}, // server without security account
			},
			wantErr: ErrInconsistent,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := &scriptServer{steps: tc.steps, errs: make(chan error, 1)}
			l := mustListen(t, srv, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			type result struct {
				d   *Delivered
				err error
			}
			res := make(chan result, 1)
			go func() {
				d, err := Bootstrap(ctx, l.URI(), testEndpoint, nil, WithLogger(testLogger(t)))
				res <- result{d, err}
			}()
			if err := <-srv.errs; err != nil {
				t.Fatal(err)
			}
			r := <-res
			if (tc.wantErr == nil && r.err != nil) || !errors.Is(r.err, tc.wantErr) {
				t.Fatalf("Bootstrap err = %v, want %v", r.err, tc.wantErr)
			}
			if !reflect.DeepEqual(r.d, tc.delivered) {
				t.Errorf("delivered:\n got %+v\nwant %+v", r.d, tc.delivered)
			}
		})
	}
}
