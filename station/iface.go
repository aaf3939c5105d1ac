package station

import (
	"context"
	"time"
)

// The interfaces the engine consumes. flash, inject and records implement
// them; the virtual line (sim) stands behind the same implementations.

// Flasher programs, recovers and resets units through their debug probe,
// always naming the probe by its serial. Failures are *Error with a
// FLASH_* code; output lines and progress go to report as they happen.
type Flasher interface {
	Program(ctx context.Context, probe string, fw Firmware, report func(ToolLine)) error
	Recover(ctx context.Context, probe string, report func(ToolLine)) error
	Reset(ctx context.Context, probe string, report func(ToolLine)) error
}

// ToolLine is one line a tool printed, with the progress it implies
// (Percent < 0 when the line carries none).
type ToolLine struct {
	Text    string
	Phase   string
	Percent int
}

// ModemOpener opens the AT/console port of a unit. observe receives every
// line of AT traffic and device log, secrets already redacted.
type ModemOpener func(ctx context.Context, port string, observe func(dir, line string)) (Modem, error)

// Modem is an open AT session with one unit. Every method is bounded by the
// modem.* timeouts of the config it was opened with and by ctx.
type Modem interface {
	// Ready waits until the unit answers AT with OK (after a boot or reset).
	Ready(ctx context.Context) error
	// Identify reads IMEI, modem firmware, model, hardware version, UUID
	// and, when asked, ICCID and IMSI.
	Identify(ctx context.Context, readSIM bool) (Identity, error)
	// Provision takes the modem offline and stores the bootstrap identity
	// and key, verified by the digests the modem lists.
	Provision(ctx context.Context, plan CredentialPlan) (CredentialReport, error)
	// ListTag lists what a sec_tag holds (type → modem-reported SHA-256).
	ListTag(ctx context.Context, tag uint32) (map[int]string, error)
	// Watch starts following the unit's log (lines received before the
	// call are discarded), then calls trigger (the reset), then reads until
	// the unit registered, failed, or ctx ended, and reports what it saw.
	// It returns the report so far together with ctx's error on timeout.
	Watch(ctx context.Context, m Markers, trigger func(context.Context) error) (BootReport, error)
	// Gone reports whether the unit's port went away (unplugged).
	Gone() bool
	Close() error
}

// CredentialPlan is what to write to the modem.
type CredentialPlan struct {
	BootstrapTag   uint32
	Identity       string
	Key            PSK
	ServerTag      uint32
	ClearServerTag bool
	// StrictDigest fails the write when a listed digest differs from ours.
	// Off, a mismatch is a warning: that the modem hashes PSK and identity
	// as SHA-256 of the stored text is inferred, not confirmed on hardware
	// (modem-at.md §6.2), and old modem firmware lists placeholders (§6.5).
	StrictDigest bool
}

// CredentialReport is what the modem reported after the write.
type CredentialReport struct {
	IdentitySHA256 string   // as listed by the modem
	KeySHA256      string   // as listed by the modem
	Warnings       []string // e.g. a digest computed by another convention
	ClearedServer  bool
}

// BootReport is what a unit's log showed after a reset, in order of first
// appearance. The line rules (rules.go) turn it into a verdict.
type BootReport struct {
	Booted       bool          // a boot banner was seen
	Reboots      int           // boot banners after the first one
	Attached     bool          // LTE attach reported
	Bootstrapped bool          // a bootstrap marker was seen
	Registered   bool          // a registration marker was seen
	BootstrapAt  time.Duration // since Watch began; 0 if not seen
	RegisteredAt time.Duration
	Endpoint     string // endpoint the unit printed, if any
	Failure      Code   // the failure marker seen, if any
	FailureLine  string
}

// Portal registers a unit with the bootstrap server's management API.
// Registering an endpoint again replaces its entry.
type Portal interface {
	Register(ctx context.Context, r Registration) error
}

// Registration is what the portal learns about one unit.
type Registration struct {
	Endpoint  string
	Identity  Identity
	Bootstrap Credential // what the unit uses towards the bootstrap server
	Target    Credential // what the bootstrap server hands out for the LwM2M server
	TargetURI string
}

// Credential is a PSK identity and key.
type Credential struct {
	Identity string
	Key      PSK
}

// Prober runs a bootstrap exchange as the unit would and reports the URIs
// of the LwM2M servers the bootstrap server handed out (each Server
// instance's account, in instance order).
type Prober interface {
	Probe(ctx context.Context, req ProbeRequest) (targetURIs []string, err error)
}

// ProbeRequest is one bootstrap probe.
type ProbeRequest struct {
	ServerURI  string
	Endpoint   string
	Credential Credential
	// AnswerTimeout bounds the wait for the bootstrap server's answer to
	// the Bootstrap-Request (bootstrap.probe_timeout); 0: only ctx.
	AnswerTimeout time.Duration
}

// Recorder is the line's memory. The engine calls Record for every event of
// a run, in order, before publishing it. For a VerdictReached event Record
// returns only after the verdict is durably committed; an error there turns
// the verdict into ERROR RECORD_FAILED.
type Recorder interface {
	Record(ctx context.Context, ev Event) error
}

// Device is one unit's debug probe as discovery sees it: the identity the
// slots match on (USB location, probe serial, port), never /dev/ttyACMn.
type Device struct {
	Probe   string   `json:"probe,omitempty"`   // J-Link serial, normalised (NormalizeSerial)
	USB     string   `json:"usb,omitempty"`     // physical USB location, "1-4.3.2"
	Board   string   `json:"board,omitempty"`   // from the serial prefix, e.g. "nRF9151 DK"
	Ports   []string `json:"ports,omitempty"`   // its serial ports in interface (VCOM) order
	Console string   `json:"console,omitempty"` // the port that carries AT and the log
}

// DeviceEvent is a device that appeared (Attached) or went away.
type DeviceEvent struct {
	Attached bool   `json:"attached"`
	Device   Device `json:"device"`
}

// Discovery follows the devices plugged into the station. Watch first
// reports every device present as Attached — already queued in the channel
// when Watch returns, so that `batch --once` knows which units were present
// at start — then each change until ctx ends, when it closes the channel.
// A probe that re-enumerates during its own reset or flash is debounced by
// the implementation: a detach is reported only once the device stayed away.
type Discovery interface {
	Watch(ctx context.Context) (<-chan DeviceEvent, error)
}

// History answers the line rules' questions about a unit's earlier runs
// (rules.max_attempts, rules.reprovision), across restarts.
type History interface {
	UnitHistory(ctx context.Context, imei string) (UnitHistory, error)
}

// UnitHistory is what the records know of one IMEI.
type UnitHistory struct {
	Attempts int  // finished runs that reached the unit (identified it)
	Passed   bool // any of them PASSed
	// Source says where the answer came from when it matters to the
	// operator ("central", or "local: central unreachable …").
	Source string
}

// Clock gives the engine its time. Tests may replace it.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// After waits for d.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
