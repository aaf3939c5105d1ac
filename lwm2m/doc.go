// Package lwm2m is the LwM2M 1.0 bootstrap and registration protocol code
// that both sides of the wire need: the OMA TLV codec, the Security (0) and
// Server (1) objects, DTLS-PSK setup for go-coap v3 with pion/dtls v3, a
// client (Bootstrap, Register) and server primitives (BootstrapServer,
// RegistrationServer, ListenConfig).
//
// It imports nothing of this module. Pre-shared keys are never logged;
// PSK's String and LogValue show only a SHA-256 fingerprint.
package lwm2m
