package lwm2m

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/mux"
)

var codeText = map[codes.Code]string{
	codes.Created:               "Created",
	codes.Deleted:               "Deleted",
	codes.Valid:                 "Valid",
	codes.Changed:               "Changed",
	codes.Content:               "Content",
	codes.BadRequest:            "Bad Request",
	codes.Unauthorized:          "Unauthorized",
	codes.BadOption:             "Bad Option",
	codes.Forbidden:             "Forbidden",
	codes.NotFound:              "Not Found",
	codes.MethodNotAllowed:      "Method Not Allowed",
	codes.NotAcceptable:         "Not Acceptable",
	codes.PreconditionFailed:    "Precondition Failed",
	codes.RequestEntityTooLarge: "Request Entity Too Large",
	codes.UnsupportedMediaType:  "Unsupported Content-Format",
	codes.InternalServerError:   "Internal Server Error",
	codes.NotImplemented:        "Not Implemented",
	codes.BadGateway:            "Bad Gateway",
	codes.ServiceUnavailable:    "Service Unavailable",
	codes.GatewayTimeout:        "Gateway Timeout",
}

// CodeText formats a CoAP code as "4.00 Bad Request".
func CodeText(c codes.Code) string {
	num := fmt.Sprintf("%d.%02d", uint8(c)>>5, uint8(c)&0x1f)
	if t, ok := codeText[c]; ok {
		return num + " " + t
	}
	return num
}

// msgPath returns the request's Uri-Path joined as "/a/b", or "/" when it
// has none.
func msgPath(m *pool.Message) (string, error) {
	p, err := m.Path()
	if errors.Is(err, message.ErrOptionNotFound) {
		return "/", nil
	}
	if err != nil {
		return "", err
	}
	if p == "" {
		return "/", nil
	}
	return p, nil
}

// msgQuery returns the Uri-Query options as a map (the last value wins).
func msgQuery(m *pool.Message) (map[string]string, error) {
	qs, err := m.Queries()
	if errors.Is(err, message.ErrOptionNotFound) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(qs))
	for _, q := range qs {
		k, v, _ := strings.Cut(q, "=")
		out[k] = v
	}
	return out, nil
}

// parseObjectPath splits an LwM2M path ("/", "/0", "/0/1", "/0/1/5") into
// numeric segments; more than four or non-numeric segments are an error.
func parseObjectPath(p string) ([]uint16, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil, nil
	}
	segs := strings.Split(p, "/")
	if len(segs) > 4 {
		return nil, fmt.Errorf("path /%s: too deep", p)
	}
	out := make([]uint16, len(segs))
	for i, s := range segs {
		v, err := strconv.ParseUint(s, 10, 16)
		if err != nil || v == 65535 {
			return nil, fmt.Errorf("path /%s: bad segment %q", p, s)
		}
		out[i] = uint16(v)
	}
	return out, nil
}

// ValidPath reports whether p is a valid LwM2M path ("/", "/0", "/0/1", …).
func ValidPath(p string) bool {
	if !strings.HasPrefix(p, "/") || (len(p) > 1 && strings.HasSuffix(p, "/")) {
		return false
	}
	_, err := parseObjectPath(p)
	return err == nil
}

// respond sets a response on w; the write error goes to log.
func respond(w mux.ResponseWriter, code codes.Code, errf func(error)) {
	if err := w.SetResponse(code, message.TextPlain, nil); err != nil {
		errf(fmt.Errorf("set response %s: %w", CodeText(code), err))
	}
}

// isResponse reports whether c is a response code (classes 2 to 5), not a
// request method or the empty code.
func isResponse(c codes.Code) bool {
	class := uint8(c) >> 5
	return class >= 2 && class <= 5
}

// ignoreResponse reports whether r is a response that go-coap could not
// match to a request of ours (a late or duplicate reply, e.g. a 2.04
// retransmitted after the request ended). Such a message reaches the mux
// like a request but must never be answered as one: the handler leaves the
// response unset, so go-coap sends nothing for an ACK and an empty ACK for
// a CON.
func ignoreResponse(r *mux.Message, log *slog.Logger) bool {
	if !isResponse(r.Code()) {
		return false
	}
	log.Debug("ignoring unmatched response", "type", r.Type().String(), "code", CodeText(r.Code()),
		"mid", r.MessageID(), "token", r.Token().String())
	return true
}
