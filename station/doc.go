// Package station is the centre of the provisioning line: the domain types
// (slots, units, steps, verdicts, failure codes, events), the small
// interfaces the engine consumes, and the engine that walks every unit
// through the same pipeline.
//
// Read it top down to follow one unit:
//
//	engine.go    Engine.RunOnce / Engine.Run pick the slots to provision
//	pipeline.go  provision: connect → flash → identify → inject → register
//	             → probe → bootstrap → verify, then the verdict
//	steps.go     each step of that pipeline: what it asks of the flasher, the
//	             modem, the portal and the prober, and the line rules it applies
//	             on the way (J-Link retry, recover, credential checks)
//	rules.go     the line rules that turn observations into a verdict
//	             (bootstrap before registration, endpoint match, …)
//	events.go    the typed event stream the TUI, batch output and records share
//	errors.go    failure codes, their outcome and operator hint
//	config.go    the TOML configuration (configerr.go: its error messages)
//
// The packages flash, inject, records and sim implement the interfaces in
// iface.go; station imports none of them.
package station
