package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"nrfline/station"
)

// Leshan registers units with an Eclipse Leshan 2.x bootstrap server demo
// (portals.md §1): with dm_url set, first the target credentials on the
// LwM2M server's security API, then the bootstrap PSK on the bootstrap
// server's security API, then the bootstrap config that hands out
// target_uri with the target credentials. A repeated registration replaces
// all three entries. When a step fails, the steps done are undone (DELETE)
// in reverse order.
type Leshan struct {
	cl        *client
	base      string // bootstrap server API, e.g. http://host:8080/api
	dm        string // LwM2M server API, or ""
	targetURI string
}

var _ station.Portal = (*Leshan)(nil)

// Server account values of the bootstrap config (portals.md §1.2).
const (
	leshanShortID          = 123
	leshanLifetime         = 60
	leshanDefaultMinPeriod = 1
	leshanBinding          = "U"
)

func newLeshan(cfg station.PortalConfig, cl *client) (*Leshan, error) {
	base, err := checkBaseURL("portal.url", cfg.URL)
	if err != nil {
		return nil, err
	}
	l := &Leshan{cl: cl, base: base, targetURI: cfg.TargetURI}
	if cfg.DMURL != "" {
		if l.dm, err = checkBaseURL("portal.dm_url", cfg.DMURL); err != nil {
			return nil, err
		}
	}
	if cfg.TargetURI == "" {
		return nil, fmt.Errorf("portal.target_uri: required for portal kind leshan")
	}
	return l, nil
}

// leshanStep is one request of the sequence with the DELETE that undoes it.
type leshanStep struct {
	call     call
	undo     call
	api      string // base of the security API, for owner lookups; "" for the config
	ident    string // the PSK identity a security PUT stores
	endpoint string
}

// Register stores the unit's entries; see Leshan.
func (l *Leshan) Register(ctx context.Context, r station.Registration) error {
	if err := checkRegistration(r, true); err != nil {
		return err
	}
	red := l.cl.redactorFor(r)
	steps, err := l.plan(r)
	if err != nil {
		return err
	}
	defer wipeSteps(steps)
	for i, s := range steps {
		if err := l.apply(ctx, s, red); err != nil {
			l.rollback(ctx, steps[:i], s, err, red)
			return err
		}
	}
	l.cl.log.Info("unit registered", "endpoint", r.Endpoint, "bootstrap_key", r.Bootstrap.Key, "target_key", r.Target.Key,
		"target_uri", l.target(r), "dm", l.dm != "")
	return nil
}

func (l *Leshan) target(r station.Registration) string {
	if r.TargetURI != "" {
		return r.TargetURI
	}
	return l.targetURI
}

// plan lists the requests of portals.md §1.5.
func (l *Leshan) plan(r station.Registration) ([]leshanStep, error) {
	var steps []leshanStep
	if l.dm != "" {
		s, err := securityStep("LwM2M server security", l.dm, r.Endpoint, r.Target)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	s, err := securityStep("bootstrap security", l.base, r.Endpoint, r.Bootstrap)
	if err != nil {
		return nil, err
	}
	bc := bootstrapConfig(l.target(r), r.Target)
	body, err := marshal(bc)
	clear(bc.Security["1"].SecretKey)
	if err != nil {
		return nil, err
	}
	cfgURL := l.base + "/bootstrap/" + escapeSegment(r.Endpoint)
	return append(steps, s, leshanStep{
		call: call{op: "bootstrap config", method: http.MethodPost, url: cfgURL, header: jsonHeader(), body: body},
		undo: call{op: "remove bootstrap config", method: http.MethodDelete, url: cfgURL},
	}), nil
}

func securityStep(op, api, endpoint string, c station.Credential) (leshanStep, error) {
	body, err := marshal(securityInfo{Endpoint: endpoint, TLS: tlsInfo{Mode: "psk", Details: pskDetails{Identity: c.Identity, Key: c.Key.Hex()}}})
	if err != nil {
		return leshanStep{}, err
	}
	return leshanStep{
		call:     call{op: op, method: http.MethodPut, url: api + "/security/clients/", header: jsonHeader(), body: body},
		undo:     call{op: "remove " + op, method: http.MethodDelete, url: api + "/security/clients/" + escapeSegment(endpoint)},
		api:      api,
		ident:    c.Identity,
		endpoint: endpoint,
	}, nil
}

// apply sends one step and classifies its failure. A 400 to a security
// PUT is a conflict when the identity belongs to another endpoint.
func (l *Leshan) apply(ctx context.Context, s leshanStep, red redactor) error {
	rep, err := l.cl.send(ctx, s.call, red)
	if err != nil {
		return err
	}
	err = check(s.call, rep, success, red)
	if err == nil || s.api == "" || rep.status != http.StatusBadRequest {
		return err
	}
	if owner, ok := l.owner(ctx, s.api, s.ident, red); ok && owner != s.endpoint {
		return station.Errorf(station.PortalConflict, statusError(s.call, rep, red),
			"%s: PSK identity %q is already used by endpoint %q", s.call.op, s.ident, owner)
	}
	if bytes.Contains(bytes.ToLower(rep.body), []byte("already used")) {
		return station.Errorf(station.PortalConflict, statusError(s.call, rep, red),
			"%s: PSK identity %q is already used by another endpoint", s.call.op, s.ident)
	}
	return err
}

// owner asks a security API which endpoint holds identity. The listing
// carries every unit's key: it is parsed for endpoints and identities
// only, and wiped.
func (l *Leshan) owner(ctx context.Context, api, identity string, red redactor) (string, bool) {
	c := call{op: "list security clients", method: http.MethodGet, url: api + "/security/clients", header: http.Header{"Accept": {"application/json"}}}
	rep, err := l.cl.send(ctx, c, red)
	defer clear(rep.body)
	if err != nil || rep.status != http.StatusOK {
		l.cl.log.Warn("cannot list security clients", "url", red.url(c.url), "status", rep.status, "err", red.err(err))
		return "", false
	}
	var list []struct {
		Endpoint string `json:"endpoint"`
		TLS      struct {
			Details struct {
				Identity string `json:"identity"`
			} `json:"details"`
		} `json:"tls"`
		PSK struct { // Leshan 1.x shape
			Identity string `json:"identity"`
		} `json:"psk"`
	}
	if err := json.Unmarshal(rep.body, &list); err != nil {
		l.cl.log.Warn("cannot parse security clients", "url", red.url(c.url), "err", err)
		return "", false
	}
	for _, e := range list {
		if e.TLS.Details.Identity == identity || e.PSK.Identity == identity {
			return e.Endpoint, true
		}
	}
	return "", false
}

// rollback undoes the steps done, in reverse order, after failed failed
// with cause. The failed step itself is undone too when the server may
// have applied it (a 5xx, or no answer in time). Rollback runs even when ctx was
// cancelled, one attempt per request within the request timeout.
func (l *Leshan) rollback(ctx context.Context, done []leshanStep, failed leshanStep, cause error, red redactor) {
	undo := make([]call, 0, len(done)+1)
	if station.CodeOf(cause) == station.PortalServerError || errors.Is(cause, context.DeadlineExceeded) {
		undo = append(undo, failed.undo)
	}
	for i := len(done) - 1; i >= 0; i-- {
		undo = append(undo, done[i].undo)
	}
	ctx = context.WithoutCancel(ctx)
	for _, c := range undo {
		rep, err := l.cl.once(ctx, c, red)
		switch {
		case err != nil:
			l.cl.log.Warn("rollback failed", "op", c.op, "url", red.url(c.url), "err", red.err(err))
		case rep.status == http.StatusNotFound || success(rep.status):
			l.cl.log.Info("rolled back", "op", c.op, "status", rep.status)
		default:
			l.cl.log.Warn("rollback refused", "op", c.op, "url", red.url(c.url), "status", rep.status, "body", excerpt(red, rep.body))
		}
	}
}

func wipeSteps(steps []leshanStep) {
	for _, s := range steps {
		clear(s.call.body)
	}
}

// securityInfo is the body of PUT /security/clients/ (portals.md §1.1).
type securityInfo struct {
	Endpoint string  `json:"endpoint"`
	TLS      tlsInfo `json:"tls"`
}

type tlsInfo struct {
	Mode    string     `json:"mode"`
	Details pskDetails `json:"details"`
}

type pskDetails struct {
	Identity string `json:"identity"`
	Key      string `json:"key"` // hex
}

// leshanConfig is the body of POST /bootstrap/<endpoint>, in the exact
// shape of portals.md §1.2 (field order included).
type leshanConfig struct {
	Servers  map[string]leshanServer   `json:"servers"`
	Security map[string]leshanSecurity `json:"security"`
	OSCORE   struct{}                  `json:"oscore"`
	ToDelete []string                  `json:"toDelete"`
}

type leshanServer struct {
	ShortID          int    `json:"shortId"`
	Lifetime         int    `json:"lifetime"`
	DefaultMinPeriod int    `json:"defaultMinPeriod"`
	NotifIfDisabled  bool   `json:"notifIfDisabled"`
	Binding          string `json:"binding"`
}

type leshanSecurity struct {
	URI                 string    `json:"uri"`
	BootstrapServer     bool      `json:"bootstrapServer"`
	SecurityMode        string    `json:"securityMode"`
	PublicKeyOrID       byteArray `json:"publicKeyOrId"`
	SecretKey           byteArray `json:"secretKey"`
	ServerID            int       `json:"serverId"`
	ClientOldOffTime    int       `json:"clientOldOffTime"`
	SMSSecurityMode     string    `json:"smsSecurityMode"`
	SMSBindingKeyParam  byteArray `json:"smsBindingKeyParam"`
	SMSBindingKeySecret byteArray `json:"smsBindingKeySecret"`
	ServerSMSNumber     string    `json:"serverSmsNumber"`
}

// bootstrapConfig hands out uri with the target credentials as security
// instance 1 and server instance 0, deleting /0 and /1 first.
func bootstrapConfig(uri string, target station.Credential) leshanConfig {
	return leshanConfig{
		Servers: map[string]leshanServer{"0": {
			ShortID: leshanShortID, Lifetime: leshanLifetime, DefaultMinPeriod: leshanDefaultMinPeriod,
			NotifIfDisabled: true, Binding: leshanBinding,
		}},
		Security: map[string]leshanSecurity{"1": {
			URI: uri, SecurityMode: "PSK",
			PublicKeyOrID: byteArray(target.Identity), SecretKey: target.Key.Bytes(),
			ServerID: leshanShortID, ClientOldOffTime: 1, SMSSecurityMode: "NO_SEC",
		}},
		ToDelete: []string{"/0", "/1"},
	}
}

// byteArray is bytes as a JSON array of unsigned ints (Leshan's form).
type byteArray []byte

// MarshalJSON writes [b0,b1,…], [] when empty.
func (b byteArray) MarshalJSON() ([]byte, error) { return []byte(intArray(b)), nil }

// marshal encodes v as compact JSON without HTML escaping, as Leshan's
// Jackson writes it.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, station.Errorf(station.Internal, err, "encode portal request")
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
