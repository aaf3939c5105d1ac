// Package flashctl is the virtual line's J-Link side: a control server that
// lives in the sim process and owns one state machine per virtual probe, and
// a client that the fake flash tools (sim/faketool) use to reach it.
//
// The wire is HTTP/1.1 over a unix socket. GET /v1/probes lists the probes
// that are plugged in; POST /v1/probes/{serial}/ops runs one operation and
// answers with NDJSON: zero or more progress events, then exactly one event
// carrying the Result. The server decides every outcome (faults, protection,
// erase state); the tools only render it in their own dialect.
package flashctl

import (
	"fmt"
	"strings"
	"time"
)

// Family is the device family of every virtual unit (nrfjprog's -f value).
const Family = "NRF91"

// Unit is the virtual nRF9151 behind a probe. It is implemented by sim/unit.
// The server calls it with the probe's lock held, one call at a time.
type Unit interface {
	Halt()                              // the debugger halted the core
	Erase(chip bool)                    // chip erase (true) or sector erase of the touched pages
	Program(size int, sha256hex string) // new application image in flash
	Reset()                             // system or pin reset: the unit reboots
	Unplug()                            // the unit and its probe left the USB bus for good
}

// Faults are the probe-level faults of `station sim --faults`.
type Faults struct {
	Protected         bool // APPROTECT set: every operation but recover fails until --recover
	VerifyError       bool // every verify reports a mismatch
	JLinkTransient    bool // the first connecting call fails (nrfjprog exit 33), later ones work
	UnplugAtFlash     bool // the unit disappears when programming starts
	UnplugAtBootstrap bool // the unit disappears at the first standalone reset (the bootstrap trigger)
}

// Probe is one virtual J-Link OB with its unit.
type Probe struct {
	Serial string // USB form, 12 digits with leading zeros, e.g. "001051200001"
	Port   string // VCOM0 path (AT / console)
	Port2  string // VCOM1 path, optional
	Unit   Unit
	Faults Faults
}

// ProbeInfo is what GET /v1/probes reports for a plugged-in probe.
type ProbeInfo struct {
	ID     int    `json:"id"`     // stable 1-based index, nrfutil's device id
	Serial string `json:"serial"` // as configured (12 digits)
	Port   string `json:"port"`
	Port2  string `json:"port2,omitempty"`
	Family string `json:"family"`
}

// Op is a probe operation.
type Op string

// The operations the server runs.
const (
	OpProgram  Op = "program"  // [erase] program [verify] [reset]
	OpRecover  Op = "recover"  // CTRL-AP erase all: clears APPROTECT, chip blank
	OpEraseAll Op = "eraseall" // chip erase then system reset (nrfjprog -e)
	OpReset    Op = "reset"    // system reset
	OpPinReset Op = "pinreset" // pin reset
)

// Erase selects how OpProgram erases before writing.
type Erase string

// Erase modes.
const (
	EraseNone   Erase = "none"   // write only: fails on a chip that holds firmware
	EraseChip   Erase = "chip"   // all user flash and UICR
	EraseSector Erase = "sector" // only the pages the image touches
)

// Image describes the firmware of an OpProgram request.
type Image struct {
	Size   int    `json:"size"`   // bytes of data in the image
	Pages  int    `json:"pages"`  // distinct 4 KiB flash pages the image touches
	SHA256 string `json:"sha256"` // lowercase hex SHA-256 of the file
}

// Request is the body of POST /v1/probes/{serial}/ops.
type Request struct {
	Op     Op     `json:"op"`
	Family string `json:"family,omitempty"` // requested family; "" = not checked
	Erase  Erase  `json:"erase,omitempty"`  // OpProgram only
	Verify bool   `json:"verify,omitempty"` // OpProgram only
	Reset  bool   `json:"reset,omitempty"`  // OpProgram only: system reset at the end
	Image  *Image `json:"image,omitempty"`  // OpProgram only
}

// Validate reports a malformed request.
func (r Request) Validate() error {
	switch r.Op {
	case OpRecover, OpEraseAll, OpReset, OpPinReset:
		return nil
	case OpProgram:
		return r.validateProgram()
	default:
		return fmt.Errorf("unknown op %q", r.Op)
	}
}

func (r Request) validateProgram() error {
	switch r.Erase {
	case EraseNone, EraseChip, EraseSector:
	default:
		return fmt.Errorf("unknown erase mode %q", r.Erase)
	}
	if r.Image == nil || r.Image.Size <= 0 || r.Image.Pages <= 0 {
		return fmt.Errorf("program needs an image with data")
	}
	if len(r.Image.SHA256) != 64 || strings.Trim(r.Image.SHA256, "0123456789abcdef") != "" {
		return fmt.Errorf("image sha256 must be 64 lowercase hex digits")
	}
	return nil
}

// Phase is one timed part of an operation.
type Phase string

// Phases, in the order an operation runs them.
const (
	PhaseRecover Phase = "recover"
	PhaseErase   Phase = "erase"
	PhaseProgram Phase = "program"
	PhaseVerify  Phase = "verify"
	PhaseReset   Phase = "reset"
)

// Outcome is how an operation ended.
type Outcome string

// Outcomes. Each maps to one nrfjprog exit code and one nrfutil error.
const (
	OK          Outcome = "ok"
	NoProbe     Outcome = "no-probe"     // nrfjprog 41; nrfutil "No devices ..."
	JLinkError  Outcome = "jlink-error"  // connect failed (transient): nrfjprog 33
	Lost        Outcome = "lost"         // probe vanished mid-operation: nrfjprog 33
	WrongFamily Outcome = "wrong-family" // nrfjprog 18; nrfutil 27
	Protected   Outcome = "protected"    // nrfjprog 16; nrfutil 24
	NotErased   Outcome = "not-erased"   // nrfjprog 58
	VerifyError Outcome = "verify-error" // nrfjprog 55; nrfutil 25
	Canceled    Outcome = "canceled"     // the client went away or the server closed
)

// Result ends every operation stream.
type Result struct {
	Outcome Outcome `json:"outcome"`
	Phase   Phase   `json:"phase,omitempty"`   // the phase that failed, if any
	Command string  `json:"command,omitempty"` // DLL command that failed (nrfjprog's log text)
	// Elapsed is the nominal (unscaled) time the failing command ran.
	Elapsed time.Duration `json:"elapsed,omitempty"`
}

// Event is one line of an operation stream. Progress events carry a phase;
// the last event carries the Result.
type Event struct {
	Phase   Phase `json:"phase,omitempty"`
	Step    int   `json:"step,omitempty"`  // 1-based index of Phase in this operation
	Steps   int   `json:"steps,omitempty"` // number of phases in this operation
	Percent int   `json:"percent"`
	// Elapsed is the nominal (unscaled) time since the phase began, what a
	// real tool would show; it does not depend on the sim's speed.
	Elapsed time.Duration `json:"elapsed"`
	Result  *Result       `json:"result,omitempty"`
}

// NormalizeSerial strips leading zeros: "001051200001" → "1051200001".
// It returns "" for anything that is not a non-zero run of digits.
func NormalizeSerial(s string) string {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return ""
	}
	return strings.TrimLeft(s, "0")
}
