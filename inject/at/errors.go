package at

import (
	"errors"
	"strconv"
)

// ErrError is the bare final result "ERROR" (modem-at.md §1; with CMEE=0
// every failure looks like this).
var ErrError = errors.New("ERROR")

// ErrNoResult: the Zephyr shell came back to its prompt without a final
// result — it refused the line itself ("command not found", "not
// terminated", too many arguments); the lines before it say why.
var ErrNoResult = errors.New("the shell returned to its prompt without a final result")

// CMEError is the final result "+CME ERROR: <n>" (modem-at.md §5).
type CMEError struct{ Code int }

func (e *CMEError) Error() string {
	msg := "+CME ERROR: " + strconv.Itoa(e.Code)
	if m := e.Meaning(); m != "" {
		msg += " (" + m + ")"
	}
	return msg
}

// Meaning is the nRF91 meaning of the code, or "" when unknown.
func (e *CMEError) Meaning() string { return cmeMeaning(e.Code) }

// CME error codes the station acts on (modem-at.md §5).
const (
	CMENotFound    = 513 // %CMNG read/write/delete: not found
	CMENoAccess    = 514
	CMEMemoryFull  = 515 // %CMNG write: memory full
	CMENotAllowed  = 518 // write/delete while the modem is active
	CMEExists      = 519
	CMEBadContent  = 527
	CMEPowerOffWrn = 528
)

func cmeMeaning(code int) string {
	switch code {
	case 0:
		return "phone failure / not supported by this firmware"
	case 14:
		return "SIM busy"
	case 23:
		return "memory failure"
	case 50:
		return "incorrect parameters"
	case 60:
		return "system error"
	case CMENotFound:
		return "not found"
	case CMENoAccess:
		return "no access"
	case CMEMemoryFull:
		return "memory full"
	case CMENotAllowed:
		return "not allowed in active state"
	case CMEExists:
		return "already exists"
	case 520:
		return "authentication failed"
	case 523:
		return "key generation failed"
	case CMEBadContent:
		return "invalid content"
	case CMEPowerOffWrn:
		return "not allowed while the power-off warning is active"
	}
	return ""
}

// CMSError is the final result "+CMS ERROR: <n>" (SMS commands).
type CMSError struct{ Code int }

func (e *CMSError) Error() string { return "+CMS ERROR: " + strconv.Itoa(e.Code) }

// ShellError is the AT shell's own failure line, "Sending AT command failed
// with error code <n>" (the modem library failed, modem-at.md §8).
type ShellError struct{ Code int }

func (e *ShellError) Error() string {
	return "AT shell: sending the command failed with error code " + strconv.Itoa(e.Code)
}

// IsCME reports whether err holds a +CME ERROR with one of codes.
func IsCME(err error, codes ...int) bool {
	var cme *CMEError
	if !errors.As(err, &cme) {
		return false
	}
	for _, c := range codes {
		if cme.Code == c {
			return true
		}
	}
	return false
}

// ResultError reports whether err is a final result the modem (or the AT
// shell) gave: ERROR, +CME ERROR, +CMS ERROR, the shell's failure line, or
// the shell refusing the line (ErrNoResult).
// Such an error is the modem's answer, not a transport failure.
func ResultError(err error) bool {
	var (
		cme   *CMEError
		cms   *CMSError
		shell *ShellError
	)
	return errors.Is(err, ErrError) || errors.Is(err, ErrNoResult) || errors.As(err, &cme) || errors.As(err, &cms) || errors.As(err, &shell)
}

// UnplugError is a port that went away under the session: a zero-length
// read, EIO, or the port closed by the system. Err is what the serial
// library reported (*serial.PortError or a syscall.Errno).
type UnplugError struct {
	Port string
	Err  error
}

func (e *UnplugError) Error() string { return "port " + e.Port + " went away: " + e.Err.Error() }

func (e *UnplugError) Unwrap() error { return e.Err }
