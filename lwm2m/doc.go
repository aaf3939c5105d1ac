// Package lwm2m is the LwM2M 1.0/1.1 bootstrap and registration protocol
// code that both sides of the wire need: the OMA TLV and SenML-JSON/CBOR
// codecs for Bootstrap-Write, the Security (0) and Server (1) objects,
// DTLS-PSK setup for go-coap v3 with pion/dtls v3, a client (Bootstrap,
// Register) and server primitives (BootstrapServer, RegistrationServer,
// ListenConfig). The CoAPs listener adds what pion's lacks: a client that
// restarts from the same address and port gets a fresh handshake (RFC
// 6347 §4.2.8), unknown identities and wrong keys get prompt alerts, and
// sessions live as long as the registrations made over them.
//
// It imports nothing of this module. Pre-shared keys are never logged;
// PSK's String and LogValue show only a SHA-256 fingerprint.
package lwm2m
