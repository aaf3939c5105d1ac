// Package station is the centre of the provisioning line: the domain types
// (slots, units, steps, verdicts, failure codes, events), the small
// interfaces the engine consumes, and the engine that walks every unit
// through the same pipeline.
//
// Read it top down to follow one unit:
//
//	engine.go    Engine.Run / RunOnce / RunCount and the operator commands
//	line.go      the line's actor: owns every slot (EMPTY → PRESENT → RUNNING
//	             → DONE / LOCKED / DISABLED), follows discovery, starts runs
//	discovery.go the discoveries the engine makes itself (static, polled listing)
//	pipeline.go  provision: connect → flash → identify → inject → register
//	             → probe → bootstrap → verify, then the verdict
//	steps.go     each step of that pipeline: what it asks of the flasher, the
//	             modem, the portal and the prober, and the line rules it applies
//	             on the way (J-Link retry, recover, credential checks, and the
//	             unit rules that need the IMEI: max_attempts, reprovision, duplicates)
//	rules.go     the line rules that turn observations into a verdict
//	             (bootstrap before registration, endpoint match, …)
//	slots.go     slot states, SlotStatus, Refusal
//	events.go    the typed event stream the TUI, batch output and records share
//	errors.go    failure codes, their outcome and operator hint
//	config.go    the TOML configuration (configerr.go: its error messages)
//
// The packages flash, inject, records and sim implement the interfaces in
// iface.go; station imports none of them.
package station
