package station

import (
	"fmt"
	"strings"
	"time"
)

// Slot is one physical position of the fixture, as configured.
type Slot struct {
	Name  string `json:"name"`
	Probe string `json:"probe"` // J-Link serial, normalised without leading zeros
	Port  string `json:"port"`  // AT/console port; empty means the probe's VCOM0
	USB   string `json:"usb,omitempty"`
}

// NormalizeSerial strips the leading zeros that USB descriptors carry
// (001051202135) so that every comparison and tool argument uses the form
// the flash tools print (1051202135).
func NormalizeSerial(s string) string {
	t := strings.TrimLeft(strings.TrimSpace(s), "0")
	if t == "" && s != "" {
		return "0"
	}
	return t
}

// ValidIMEI reports whether s is an IMEI (CheckIMEI says why not).
func ValidIMEI(s string) bool { return CheckIMEI(s) == nil }

// Identity is what the modem tells about itself.
type Identity struct {
	IMEI         string `json:"imei"`
	ICCID        string `json:"iccid,omitempty"`
	IMSI         string `json:"imsi,omitempty"`
	ModemFW      string `json:"modem_fw"`
	Model        string `json:"model,omitempty"`
	HWVersion    string `json:"hw_version,omitempty"`
	UUID         string `json:"uuid,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
}

// Firmware is the application image every unit gets, checked before any
// unit is touched.
type Firmware struct {
	Path   string `json:"path"`
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`           // bytes of data in the image
	UICR   bool   `json:"uicr,omitempty"` // the image writes UICR (needs an erase that covers it)
}

// Outcome is the verdict of one run.
type Outcome string

const (
	Pass    Outcome = "PASS"
	Fail    Outcome = "FAIL"
	Errored Outcome = "ERROR" // the station or its infrastructure failed, not the unit
	Aborted Outcome = "ABORTED"
	Running Outcome = "RUNNING" // only ever seen in records of an unfinished run
)

// StepName names a step of the pipeline; records and events use it.
type StepName string

const (
	StepConnect   StepName = "connect"
	StepFlash     StepName = "flash"
	StepIdentify  StepName = "identify"
	StepInject    StepName = "inject"
	StepRegister  StepName = "register"
	StepProbe     StepName = "probe"
	StepBootstrap StepName = "bootstrap"
	StepVerify    StepName = "verify"

	// StepRecord is where a RECORD_FAILED lands when no step was going on:
	// the run's start or its verdict could not be committed. It is not a
	// pipeline step, so it is not in Steps.
	StepRecord StepName = "record"
)

// Steps lists every step in pipeline order.
var Steps = []StepName{StepConnect, StepFlash, StepIdentify, StepInject, StepRegister, StepProbe, StepBootstrap, StepVerify}

// StepResult is how one step ended.
type StepResult struct {
	Step         StepName           `json:"step"`
	Started      time.Time          `json:"started"`
	Ended        time.Time          `json:"ended"`
	Outcome      Outcome            `json:"outcome"`
	Code         Code               `json:"code,omitempty"`
	Detail       string             `json:"detail,omitempty"`
	Measurements map[string]float64 `json:"measurements,omitempty"`
}

// Duration is how long the step took.
func (r StepResult) Duration() time.Duration { return r.Ended.Sub(r.Started) }

// RunStart describes a run when it begins; records store it as a RUNNING row.
type RunStart struct {
	StationID      string    `json:"station_id"`
	StationVersion string    `json:"station_version"`
	Slot           Slot      `json:"slot"`
	Operator       string    `json:"operator,omitempty"`
	Firmware       Firmware  `json:"firmware"`
	FlashTool      string    `json:"flash_tool"`
	FlashVersion   string    `json:"flash_tool_version,omitempty"`
	Started        time.Time `json:"started"`
}

// Verdict is the end of one run. A Verdict reaches subscribers only after the
// recorder committed it (see Engine.finish).
type Verdict struct {
	Run         string    `json:"run"`
	Slot        string    `json:"slot"`
	IMEI        string    `json:"imei,omitempty"`
	Outcome     Outcome   `json:"outcome"`
	Code        Code      `json:"code,omitempty"`
	Step        StepName  `json:"step,omitempty"`
	Hint        string    `json:"hint,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	PSKIdentity string    `json:"psk_identity,omitempty"`
	PSKSHA256   string    `json:"psk_sha256,omitempty"` // the digest the modem reported, never the key
	Started     time.Time `json:"started"`
	Ended       time.Time `json:"ended"`
}

// Unrecorded is the verdict a unit gets when v could not be committed:
// ERROR RECORD_FAILED, whatever v was, saying what was lost and why. The
// engine shows it and the store records it once the file takes writes.
func (v Verdict) Unrecorded(err error) Verdict {
	failed := v
	failed.Outcome, failed.Code, failed.Step, failed.Hint = Errored, RecordFailed, StepRecord, RecordFailed.Hint()
	at := ""
	if v.Step != "" {
		at = " at " + string(v.Step)
	}
	failed.Detail = fmt.Sprintf("verdict %s %s%s not recorded: %v", v.Outcome, v.Code, at, err)
	return failed
}
