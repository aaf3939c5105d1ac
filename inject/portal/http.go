package portal

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/template"

	"nrfline/station"
)

// HTTP registers units with a portal through the templated requests of
// [[portal.request]], sent in order; see the package documentation for the
// template language.
type HTTP struct {
	cl        *client
	reqs      []httpRequest
	stationID string
}

var _ station.Portal = (*HTTP)(nil)

// httpRequest is one parsed [[portal.request]].
type httpRequest struct {
	name    string
	method  string
	url     *template.Template
	headers []httpHeader // sorted by name
	body    *template.Template
	expect  func(int) bool
}

type httpHeader struct {
	name  string
	value *template.Template
}

var httpMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func newHTTP(cfg station.PortalConfig, cl *client, stationID string) (*HTTP, error) {
	if len(cfg.HTTP) == 0 {
		return nil, errors.New("portal.request: the http kind needs at least one [[portal.request]]")
	}
	h := &HTTP{cl: cl, stationID: stationID}
	for i, rc := range cfg.HTTP {
		key := fmt.Sprintf("portal.request[%d]", i)
		if rc.Name != "" {
			key += " (" + rc.Name + ")"
		}
		r, err := parseRequest(rc, key)
		if err != nil {
			return nil, err
		}
		h.reqs = append(h.reqs, r)
	}
	if err := h.dryRun(); err != nil {
		return nil, err
	}
	return h, nil
}

func parseRequest(rc station.HTTPRequest, key string) (httpRequest, error) {
	r := httpRequest{name: rc.Name, method: strings.ToUpper(strings.TrimSpace(rc.Method))}
	if r.name == "" {
		r.name = key
	}
	if r.method == "" {
		r.method = http.MethodPost
	}
	if !slices.Contains(httpMethods, r.method) {
		return r, fmt.Errorf("%s.method: %q is not one of %s", key, rc.Method, strings.Join(httpMethods, ", "))
	}
	for _, c := range rc.Expect {
		if c < 100 || c > 599 {
			return r, fmt.Errorf("%s.expect: %d is not an HTTP status", key, c)
		}
	}
	r.expect = oneOf(slices.Clone(rc.Expect))
	var err error
	if r.url, err = parseTemplate(key+".url", rc.URL); err != nil {
		return r, err
	}
	if rc.Body != "" {
		if r.body, err = parseTemplate(key+".body", rc.Body); err != nil {
			return r, err
		}
	}
	for name, v := range rc.Headers {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return r, fmt.Errorf("%s.headers: %q is not a header name", key, name)
		}
		t, err := parseTemplate(key+".headers."+name, v)
		if err != nil {
			return r, err
		}
		r.headers = append(r.headers, httpHeader{name: http.CanonicalHeaderKey(name), value: t})
	}
	slices.SortFunc(r.headers, func(a, b httpHeader) int { return strings.Compare(a.name, b.name) })
	return r, nil
}

func parseTemplate(key, text string) (*template.Template, error) {
	if strings.TrimSpace(text) == "" && strings.HasSuffix(key, ".url") {
		return nil, fmt.Errorf("%s: required", key)
	}
	t, err := template.New(key).Funcs(encoders()).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return t, nil
}

// dryRun renders every request for a sample unit, so that a misspelt
// variable or a URL that cannot be right fails at start-up, not on the
// first unit.
func (h *HTTP) dryRun() error {
	key := station.PSKFromBytes(make([]byte, 16))
	sample := station.Registration{
		Endpoint:  "urn:imei:352656100367872",
		Identity:  station.Identity{IMEI: "352656100367872", IMSI: "001010123456789", ICCID: "8901234567890123456"},
		Bootstrap: station.Credential{Identity: "urn:imei:352656100367872", Key: key},
		Target:    station.Credential{Identity: "urn:imei:352656100367872", Key: key},
		TargetURI: "coaps://lwm2m.example.com:5684",
	}
	vars := h.vars(sample)
	for _, r := range h.reqs {
		c, err := r.render(vars, redactor{})
		if err != nil {
			return err
		}
		if _, err := checkRequestURL(c.url); err != nil {
			return fmt.Errorf("%s.url: %w", r.name, err)
		}
	}
	return nil
}

// checkRequestURL accepts an absolute http(s) URL with a host and no
// credentials.
func checkRequestURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("not a URL")
	case strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return nil, errors.New("contains spaces or control characters (use urlpath)")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme %q: must be http or https", u.Scheme)
	case u.Host == "":
		return nil, errors.New("no host")
	case u.User != nil:
		return nil, errors.New("credentials in the URL are not allowed; use portal.token_env")
	}
	return u, nil
}

// vars are the template variables for one unit.
func (h *HTTP) vars(r station.Registration) map[string]any {
	return map[string]any{
		"imei":            r.Identity.IMEI,
		"imsi":            r.Identity.IMSI,
		"iccid":           r.Identity.ICCID,
		"endpoint":        r.Endpoint,
		"identity":        r.Bootstrap.Identity,
		"psk":             r.Bootstrap.Key,
		"target_identity": r.Target.Identity,
		"target_psk":      r.Target.Key,
		"target_uri":      r.TargetURI,
		"station_id":      h.stationID,
		"token":           h.cl.auth.token,
	}
}

// Register sends the requests in order; the first failure ends it. There
// is no undo sequence in the config, so nothing is rolled back.
func (h *HTTP) Register(ctx context.Context, r station.Registration) error {
	if err := checkRegistration(r, false); err != nil {
		return err
	}
	red := h.cl.redactorFor(r)
	vars := h.vars(r)
	for _, req := range h.reqs {
		if err := h.send(ctx, req, vars, red); err != nil {
			return err
		}
	}
	h.cl.log.Info("unit registered", "endpoint", r.Endpoint, "requests", len(h.reqs), "bootstrap_key", r.Bootstrap.Key, "target_key", r.Target.Key)
	return nil
}

func (h *HTTP) send(ctx context.Context, req httpRequest, vars map[string]any, red redactor) error {
	c, err := req.render(vars, red)
	if err != nil {
		return station.Errorf(station.Internal, err, "portal request %s", req.name)
	}
	defer clear(c.body)
	if _, err := checkRequestURL(c.url); err != nil {
		return station.Errorf(station.Internal, err, "portal request %s: url %s", req.name, red.url(c.url))
	}
	rep, err := h.cl.send(ctx, c, red)
	if err != nil {
		return err
	}
	return check(c, rep, req.expect, red)
}

// render executes the request's templates. Errors carry no value: a
// template error names the template and position only, and is redacted
// all the same.
func (r httpRequest) render(vars map[string]any, red redactor) (call, error) {
	c := call{op: "request " + r.name, method: r.method, header: http.Header{}}
	u, err := execute(r.url, vars)
	if err != nil {
		return c, red.err(err)
	}
	c.url = strings.TrimSpace(u)
	for _, hd := range r.headers {
		v, err := execute(hd.value, vars)
		if err != nil {
			return c, red.err(err)
		}
		if strings.ContainsAny(v, "\r\n") {
			return c, fmt.Errorf("header %s: value contains a line break", hd.name)
		}
		c.header.Set(hd.name, v)
	}
	if r.body != nil {
		b, err := execute(r.body, vars)
		if err != nil {
			return c, red.err(err)
		}
		c.body = []byte(b)
	}
	return c, nil
}

func execute(t *template.Template, vars map[string]any) (string, error) {
	var sb strings.Builder
	if err := t.Execute(&sb, vars); err != nil {
		return "", err
	}
	return sb.String(), nil
}

// encoders are the template functions; see the package documentation.
func encoders() template.FuncMap {
	return template.FuncMap{
		"hex":     encoder(hex.EncodeToString),
		"HEX":     encoder(func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }),
		"b64":     encoder(base64.StdEncoding.EncodeToString),
		"bytes":   encoder(intArray),
		"urlpath": encoder(func(b []byte) string { return escapeSegment(string(b)) }),
		"json":    jsonString,
	}
}

// encoder lifts a byte encoding to a template function over a string (its
// UTF-8 bytes), a key (its raw bytes) or bytes.
func encoder(enc func([]byte) string) func(any) (string, error) {
	return func(v any) (string, error) {
		b, err := rawBytes(v)
		if err != nil {
			return "", err
		}
		defer clear(b)
		return enc(b), nil
	}
}

func rawBytes(v any) ([]byte, error) {
	switch x := v.(type) {
	case station.PSK:
		return x.Bytes(), nil
	case string:
		return []byte(x), nil
	case []byte:
		return slices.Clone(x), nil
	}
	return nil, fmt.Errorf("cannot encode a %T", v)
}

// jsonString writes a string as a JSON string literal, quotes included.
// A key must be encoded first ({{json (b64 .psk)}}).
func jsonString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("json takes a string, not a %T (encode keys first: json (hex .psk))", v)
	}
	b, err := marshal(s)
	if err != nil {
		return "", errors.New("json: cannot encode the string")
	}
	return string(b), nil
}
