// Package linetest holds the end-to-end tests: the built station binary
// provisioning a virtual line (package sim) over real ptys, real fake-tool
// processes, real HTTP and real CoAP/DTLS on loopback, and real SQLite
// files. It is the only place besides cmd/station that imports everything.
package linetest
