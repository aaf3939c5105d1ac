// Package portal registers a unit (endpoint, bootstrap PSK and the LwM2M
// server account the bootstrap server hands out) with a bootstrap server's
// management API. New builds one of four kinds from the [portal] table:
//
//   - "leshan": Eclipse Leshan 2.x demo API (*Leshan): target credentials
//     on the LwM2M server (portal.dm_url, when set), bootstrap PSK and
//     bootstrap config on the bootstrap server; rolled back on failure.
//   - "coiote": AVSystem Coiote DM v3 (*Coiote): one bootstrap account.
//   - "http": templated requests for other portals (*HTTP), below.
//   - "none": nothing to register (None).
//
// Portals hold no per-unit state and are safe for concurrent use by all
// slots.
//
// Every kind shares one HTTP client: portal.timeout per request,
// portal.retries further attempts with exponential backoff on network
// errors and 5xx replies only (never on 4xx, never on an untrusted
// certificate), redirects reported rather than followed, and TLS
// verification always on (WithRootCAs may only add trust). When
// portal.token_env is set, its variable must hold a bearer token, or
// "Basic user:password" for HTTP Basic; every request carries it in
// Authorization unless a template sets that header itself.
//
// Failures are *station.Error: PORTAL_UNREACHABLE (no answer after the
// retries, timeout, TLS failure), PORTAL_SERVER_ERROR (5xx after the
// retries), PORTAL_CONFLICT (the PSK identity belongs to another endpoint;
// HTTP 409), PORTAL_REJECTED (any other unexpected status; the
// *StatusError underneath holds the status and a body excerpt). Keys,
// tokens and Basic credentials appear only in what is sent on the wire:
// never in an error, never in a log line, in any of the encodings below.
//
// # Templated requests (kind "http")
//
// Each [[portal.request]] is one HTTP request, sent in order for every
// unit; the first failure stops the sequence (there is no undo). Its url,
// headers and body are Go text/template templates
// (https://pkg.go.dev/text/template); method defaults to POST; expect
// lists the statuses that mean success (default: any 2xx). A template
// that names an unknown variable or function, or a url that does not come
// out as an absolute http(s) URL, is a configuration error at start-up.
//
// Variables (strings unless noted):
//
//	.imei .imsi .iccid    from the modem (imsi/iccid empty when not read)
//	.endpoint             LwM2M endpoint name (urn:imei:…)
//	.identity             bootstrap PSK identity
//	.psk                  bootstrap PSK (a key, see below)
//	.target_identity      PSK identity handed out for the LwM2M server
//	.target_psk           PSK handed out for the LwM2M server (a key)
//	.target_uri           LwM2M server URI (portal.target_uri)
//	.station_id           station_id (WithStationID)
//	.token                value of the portal.token_env variable
//
// A key prints only as its fingerprint ("sha256:…"); pass it through an
// encoder to send it. Encoders take a string (its UTF-8 bytes) or a key
// (its raw bytes):
//
//	hex      lowercase hex            {{hex .psk}}          000102…0f
//	HEX      uppercase hex            {{HEX .psk}}          000102…0F
//	b64      standard base64          {{b64 .psk}}          AAECAwQFBgcICQoLDA0ODw==
//	bytes    JSON array of ints       {{bytes .identity}}   [117,114,110,…]
//	urlpath  path-segment escape      {{urlpath .endpoint}} urn%3Aimei%3A3526…
//	json     JSON string literal      {{json .imei}}        "352656100367872"
//
// json takes a string only, and writes it with its quotes and escapes:
// combine it with the others ({{json (b64 .target_psk)}}), or build a JSON
// document that a portal wants inside a string with printf. Fixed prefixes
// are plain text ("psk:{{b64 .psk}}", "urn:gsma:imei:{{.imei}}"); optional
// fields use {{if .imsi}}…{{end}}.
//
// Example: a DT-style bootstrap portal that takes Profile, IMEI, Target
// PSK Id, Target PSK Key (HEX or B64), IMSI, ICCID and LwM2M Endpoint. The
// host, path and field names are placeholders (nothing public documents
// that API; portals.md §4): take them from the portal's own documentation.
//
//	[portal]
//	kind       = "http"
//	token_env  = "BOOTSTRAP_PORTAL_TOKEN"
//	target_uri = "coaps://lwm2m.example.com:5684"
//	timeout    = "15s"
//	retries    = 3
//
//	[[portal.request]]
//	name   = "imei-configuration"
//	method = "PUT"
//	url    = "https://bootstrap.example.net/api/imei-configurations/{{urlpath .imei}}"
//	expect = [200, 201, 204]
//	headers = { "Content-Type" = "application/json" }
//	body   = '''
//	{"profile": "nrf9151-lwm2m",
//	 "bootstrapAllowed": true,
//	 "imei": {{json .imei}},
//	 "targetPskId": {{json .target_identity}},
//	 "targetPskKey": {{json (b64 .target_psk)}},
//	 "targetPskKeyFormat": "B64",
//	 {{- if .imsi}} "imsi": {{json .imsi}},{{end}}
//	 {{- if .iccid}} "iccid": {{json .iccid}},{{end}}
//	 "lwm2mEndpoint": {{json .endpoint}}}
//	'''
//
// For the HEX form write {{json (HEX .target_psk)}} and "HEX". A portal that
// also wants the bootstrap PSK gets it the same way from .identity/.psk.
package portal
