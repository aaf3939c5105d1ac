package portal

import (
	"context"
	"fmt"
	"net/http"

	"nrfline/station"
)

// Coiote registers units with AVSystem Coiote DM (API v3, portals.md §2):
// one bootstrap account per unit, POST /devices with id "<endpoint>-bs".
// Coiote creates the LwM2M server account itself, so the target
// credentials are not sent. portal.url is the API root
// (https://eu.iot.avsystem.cloud/api/coiotedm/v3); authentication is the
// token_env value (a bearer token, or "Basic user:password").
//
// Coiote does not document how it answers a duplicate create, so a
// registration first deletes the unit's bootstrap account (404 is fine),
// then creates it: a re-tested unit always gets its new key.
type Coiote struct {
	cl     *client
	base   string
	domain string
}

var _ station.Portal = (*Coiote)(nil)

func newCoiote(cfg station.PortalConfig, cl *client) (*Coiote, error) {
	base, err := checkBaseURL("portal.url", cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Coiote.Domain == "" {
		return nil, fmt.Errorf("portal.coiote.domain: required for portal kind coiote (e.g. \"/IoT/MyCompany/\")")
	}
	return &Coiote{cl: cl, base: base, domain: cfg.Coiote.Domain}, nil
}

// coioteDevice is the body of POST /devices (portals.md §2, field order
// included).
type coioteDevice struct {
	ID            string           `json:"id"`
	ConnectorType string           `json:"connectorType"`
	Properties    coioteProperties `json:"properties"`
	Domain        string           `json:"domain"`
	SecurityMode  string           `json:"securityMode"`
	DTLSIdentity  string           `json:"dtlsIdentity"`
	DTLSPSK       coiotePSK        `json:"dtlsPsk"`
}

type coioteProperties struct {
	EndpointName string `json:"endpointName"`
}

type coiotePSK struct {
	HexadecimalPsk string `json:"HexadecimalPsk"`
}

// Register replaces the unit's bootstrap account; see Coiote.
func (c *Coiote) Register(ctx context.Context, r station.Registration) error {
	if err := checkRegistration(r, false); err != nil {
		return err
	}
	red := c.cl.redactorFor(r)
	id := r.Endpoint + "-bs"
	body, err := marshal(coioteDevice{
		ID: id, ConnectorType: "bootstrap", Properties: coioteProperties{EndpointName: r.Endpoint},
		Domain: c.domain, SecurityMode: "psk", DTLSIdentity: r.Bootstrap.Identity,
		DTLSPSK: coiotePSK{HexadecimalPsk: r.Bootstrap.Key.Hex()},
	})
	if err != nil {
		return err
	}
	defer clear(body)
	del := call{op: "remove bootstrap account", method: http.MethodDelete, url: c.base + "/devices/" + escapeSegment(id), header: http.Header{"Accept": {"application/json"}}}
	rep, err := c.cl.send(ctx, del, red)
	if err != nil {
		return err
	}
	if err := check(del, rep, func(s int) bool { return success(s) || s == http.StatusNotFound }, red); err != nil {
		return err
	}
	create := call{op: "create bootstrap account", method: http.MethodPost, url: c.base + "/devices", header: jsonHeader(), body: body}
	if rep, err = c.cl.send(ctx, create, red); err != nil {
		return err
	}
	if err := check(create, rep, success, red); err != nil {
		return err
	}
	c.cl.log.Info("unit registered", "endpoint", r.Endpoint, "id", id, "domain", c.domain, "bootstrap_key", r.Bootstrap.Key)
	return nil
}
