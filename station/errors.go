package station

import (
	"context"
	"errors"
	"fmt"
)

// Code is a stable failure code. Records, reports, the TUI and exit codes
// all speak in codes; never rename one (add a new one instead).
type Code string

// Failure codes. Each has an outcome and an operator hint in codeInfo.
const (
	CodeNone Code = ""

	FlashProtected     Code = "FLASH_PROTECTED"
	FlashRecoverFailed Code = "FLASH_RECOVER_FAILED"
	FlashVerify        Code = "FLASH_VERIFY"
	FlashNoProbe       Code = "FLASH_NO_PROBE"
	FlashJLink         Code = "FLASH_JLINK"
	FlashWrongTarget   Code = "FLASH_WRONG_TARGET"
	FlashTimeout       Code = "FLASH_TIMEOUT"
	FlashTool          Code = "FLASH_TOOL"

	PortUnavailable Code = "PORT_UNAVAILABLE"
	UnitUnplugged   Code = "UNIT_UNPLUGGED"
	ModemNotReady   Code = "MODEM_NOT_READY"
	ModemGarbled    Code = "MODEM_GARBLED"
	ModemTimeout    Code = "MODEM_TIMEOUT"
	ModemError      Code = "MODEM_ERROR"
	IMEIInvalid     Code = "IMEI_INVALID"
	ModemFWTooOld   Code = "MODEM_FW_TOO_OLD"
	SIMNotReady     Code = "SIM_NOT_READY"

	CredNotAllowed Code = "CRED_NOT_ALLOWED"
	CredMemoryFull Code = "CRED_MEMORY_FULL"
	CredWrite      Code = "CRED_WRITE_FAILED"
	CredVerify     Code = "CRED_VERIFY"

	PortalUnreachable Code = "PORTAL_UNREACHABLE"
	PortalServerError Code = "PORTAL_SERVER_ERROR"
	PortalRejected    Code = "PORTAL_REJECTED"
	PortalConflict    Code = "PORTAL_CONFLICT"

	ProbeFailed      Code = "PROBE_FAILED"
	ProbeWrongTarget Code = "PROBE_WRONG_TARGET"

	BootstrapRejected          Code = "BOOTSTRAP_REJECTED"
	BootstrapNoCredentials     Code = "BOOTSTRAP_NO_CREDENTIALS"
	BootstrapNetwork           Code = "BOOTSTRAP_NETWORK"
	BootstrapTimeout           Code = "BOOTSTRAP_TIMEOUT"
	LTENoAttach                Code = "LTE_NO_ATTACH"
	RegistrationFailed         Code = "REGISTRATION_FAILED"
	RegisteredWithoutBootstrap Code = "REGISTERED_WITHOUT_BOOTSTRAP"
	EndpointMismatch           Code = "ENDPOINT_MISMATCH"
	UnexpectedReboot           Code = "UNEXPECTED_REBOOT"
	ServerTagEmpty             Code = "SERVER_TAG_EMPTY"
	RebootBootstrapped         Code = "REBOOT_BOOTSTRAPPED"

	SlotLocked         Code = "SLOT_LOCKED"
	RetestLimit        Code = "RETEST_LIMIT"
	AlreadyProvisioned Code = "ALREADY_PROVISIONED"
	DuplicateIMEI      Code = "DUPLICATE_IMEI"

	RecordFailed Code = "RECORD_FAILED"
	Interrupted  Code = "ABORTED"
	Internal     Code = "INTERNAL"
)

type codeInfo struct {
	outcome Outcome
	hint    string
}

// codes mirrors the debugging checklist of the line: what the operator checks
// first for each failure.
var codes = map[Code]codeInfo{
	FlashProtected:     {Fail, "Chip is read-back protected. Enable flash.recover, or recover it with nrfjprog --recover, then re-test."},
	FlashRecoverFailed: {Fail, "Recover failed: check the SWD cable and power; if it persists, set the unit aside."},
	FlashVerify:        {Fail, "Flash verify failed: re-test once with chip erase; a repeat means bad flash — set the unit aside."},
	FlashNoProbe:       {Fail, "No J-Link probe with this serial: check the USB cable and the slot's probe serial in the config."},
	FlashJLink:         {Fail, "J-Link communication error persisted after a retry: re-seat the unit and the debug cable."},
	FlashWrongTarget:   {Fail, "Target is not an nRF91: wrong unit in this slot, or the DK's PROG/DEBUG switch points elsewhere."},
	FlashTimeout:       {Fail, "Flash tool did not finish within flash.timeout: re-seat the unit; check the probe."},
	FlashTool:          {Errored, "The flash tool failed to run: check flash.tool / flash.path and the tool installation."},

	PortUnavailable: {Errored, "Serial port cannot be opened: busy (another program?) or no permission (add the user to the dialout group)."},
	UnitUnplugged:   {Fail, "The unit disappeared from USB during the run: check the cable and re-test."},
	ModemNotReady:   {Fail, "Unit never answered AT within modem.ready_timeout: is the firmware running, is this the right port/VCOM and modem.mode?"},
	ModemGarbled:    {Fail, "Bytes arrived but no valid AT lines: wrong baud rate, wrong port, or a noisy cable."},
	ModemTimeout:    {Fail, "Modem stopped answering in the middle of a command: re-seat and re-test."},
	ModemError:      {Fail, "Modem refused a command: see the transcript for the command and its error."},
	IMEIInvalid:     {Fail, "IMEI missing or fails its Luhn check: the modem was never given an IMEI; set the unit aside."},
	ModemFWTooOld:   {Fail, "Modem firmware older than firmware.min_modem_fw: update the modem firmware, then re-test."},
	SIMNotReady:     {Fail, "SIM not readable: check the SIM card is inserted and active, or set modem.read_sim = false."},

	CredNotAllowed: {Fail, "Modem refused the credential write while active (518): the unit did not go offline (CFUN=4)."},
	CredMemoryFull: {Fail, "Modem credential storage is full (515): clear unused sec_tags on this unit, then re-test."},
	CredWrite:      {Fail, "Credential write failed: see the transcript for the modem's answer."},
	CredVerify:     {Fail, "Credentials under the bootstrap sec_tag do not match what was written (identity/PSK missing or wrong SHA-256)."},

	PortalUnreachable: {Fail, "Portal unreachable: check portal.url, network and proxy; the unit itself is fine."},
	PortalServerError: {Fail, "Portal answered with a server error (5xx) after retries: check the portal's health, then re-test."},
	PortalRejected:    {Fail, "Portal rejected the registration (4xx): check the token (portal.token_env) and the request fields."},
	PortalConflict:    {Fail, "The PSK identity is already owned by another endpoint at the portal: remove the stale entry first."},

	ProbeFailed:      {Fail, "The station's own bootstrap attempt failed: wrong bootstrap.server_uri or credentials not accepted by the server."},
	ProbeWrongTarget: {Fail, "The bootstrap server hands out a different LwM2M server than portal.target_uri: fix the bootstrap config."},

	BootstrapRejected:          {Fail, "Bootstrap server refused the unit (4.00, 4.03…): endpoint unknown there, no bootstrap config, or identity/endpoint mismatch."},
	BootstrapNoCredentials:     {Fail, "Unit has no bootstrap credentials under its bootstrap sec_tag: check credentials.bootstrap_tag matches the firmware."},
	BootstrapNetwork:           {Fail, "Unit could not reach the bootstrap server (DTLS/network error): wrong URI or transport, or wrong PSK."},
	BootstrapTimeout:           {Fail, "Unit did not finish bootstrap and registration within bootstrap.timeout: see its log in the transcript."},
	LTENoAttach:                {Fail, "Unit never attached to the LTE network: check SIM, antenna and network coverage at the bench."},
	RegistrationFailed:         {Fail, "LwM2M server refused the registration: target credentials not registered at the server (portal.dm_url)?"},
	RegisteredWithoutBootstrap: {Fail, "Unit registered without bootstrapping: stale server credentials under the server sec_tag (enable credentials.clear_server_tag)."},
	EndpointMismatch:           {Fail, "The endpoint the unit uses differs from the one registered at the portal: check credentials.identity and the firmware's endpoint prefix."},
	UnexpectedReboot:           {Fail, "Unit rebooted on its own during bootstrap: check power supply and firmware stability."},
	ServerTagEmpty:             {Fail, "After registration the server sec_tag lacks a PSK or identity: check credentials.server_tag matches the firmware."},
	RebootBootstrapped:         {Fail, "After a second reset the unit bootstrapped again instead of registering: it did not keep its server credentials."},

	SlotLocked:         {Errored, "This slot failed several units in a row for fixture reasons (J-Link, port, timeouts): check its pogo pins, cable and probe, then enable it again."},
	RetestLimit:        {Fail, "This unit reached rules.max_attempts: set it aside for repair; it was not touched this time."},
	AlreadyProvisioned: {Fail, "This unit already passed: it does not need provisioning again (rules.reprovision = \"refuse\"); set it aside as good."},
	DuplicateIMEI:      {Errored, "A unit with the same IMEI is already in another slot: remove one of them; a cloned IMEI means the unit must be checked."},

	RecordFailed: {Errored, "The result could not be written to the database: check disk space and permissions; the unit must be re-tested."},
	Interrupted:  {Aborted, "The run was interrupted before it finished: re-test the unit."},
	Internal:     {Errored, "Internal station error: report it with the transcript."},
}

// Outcome is the run outcome this code leads to.
func (c Code) Outcome() Outcome {
	if c == CodeNone {
		return Pass
	}
	if info, ok := codes[c]; ok {
		return info.outcome
	}
	return Errored
}

// Hint is the operator text for the code.
func (c Code) Hint() string { return codes[c].hint }

// Codes lists every known failure code.
func Codes() []Code {
	out := make([]Code, 0, len(codes))
	for c := range codes {
		out = append(out, c)
	}
	return out
}

// Error is the one error type that carries a classification. It is created
// once, where the failure is understood (a runner, a modem operation, a line
// rule), and travels unchanged to the verdict.
type Error struct {
	Code   Code
	Step   StepName // filled in by the engine if empty
	Detail string   // internal detail, for the transcript and records
	Err    error
}

func (e *Error) Error() string {
	msg := string(e.Code)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf classifies err under code with a formatted detail.
func Errorf(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...), Err: err}
}

// Classify returns the classified error in err's chain, or classifies an
// unknown error: a cancelled context is ABORTED, anything else INTERNAL.
func Classify(err error) *Error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Code: Interrupted, Err: err}
	}
	return &Error{Code: Internal, Err: err}
}

// CodeOf returns the code of err (CodeNone for nil).
func CodeOf(err error) Code {
	if se := Classify(err); se != nil {
		return se.Code
	}
	return CodeNone
}
