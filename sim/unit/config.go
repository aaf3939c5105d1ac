package unit

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults for identity fields the firmware always reports (modem-at.md §2).
const (
	DefaultModel     = "nRF9151-LACA"
	DefaultModemFW   = "mfw_nrf91x1_2.0.2"
	DefaultHWVersion = "nRF9151 LACA A0A"
)

// Config describes one virtual nRF9151 unit.
type Config struct {
	Index int // 1-based unit number, for diagnostics

	// Identity. IMEI must be 15 digits with a valid Luhn check digit. An
	// empty IMEI, ICCID, IMSI or UUID makes the matching read answer ERROR
	// (an IMEI never written in production answers ERROR, §2). Model,
	// ModemFW and HWVersion default to the nRF9151 values of §2.
	IMEI, ICCID, IMSI, UUID, ModemFW, Model, HWVersion string

	// Shell selects the firmware's console: false = AT host (at_client
	// style: no echo, "Ready" after boot); true = Zephyr shell with the AT
	// shell (`at 'AT…'`, echo, colours, prompt "uart:~$ ").
	Shell bool

	// NoApp leaves the LwM2M client out of the firmware: the console is the
	// plain AT host (or AT shell) sample, with no log lines, and CFUN stays
	// where the host puts it (0 after boot). The golden transcript of
	// modem-at.md §11 is this firmware.
	NoApp bool

	// StatePath is a JSON file holding the %CMNG store, the stored LwM2M
	// settings and whether the flash holds firmware. It is loaded at Start
	// and rewritten on every change. Empty: nothing persists.
	StatePath string

	// Link, if set, is a symlink created to the pty slave (e.g.
	// D/dev/unit1 -> /dev/pts/7), removed on Unplug/Close.
	Link string

	// Delay scales every simulated duration (the sim divides by --speed);
	// nil = real time. A zero result makes the event immediate.
	Delay func(time.Duration) time.Duration

	// BootstrapURI is the bootstrap server built into the firmware
	// ("coaps://127.0.0.1:port").
	BootstrapURI string
	// BootstrapFormat is the content format the firmware asks for with
	// pct in its Bootstrap-Request (LwM2M 1.1 builds: lwm2m.FormatTLV,
	// FormatSenMLJSON or FormatSenMLCBOR); 0 sends none (a 1.0 build).
	// Whatever the server writes, the unit reads TLV, SenML-JSON and
	// SenML-CBOR, as the NCS client does.
	BootstrapFormat uint16
	// BootstrapTag and ServerTag are the firmware's sec_tags (0 → 100, 101).
	BootstrapTag, ServerTag uint32

	Faults Faults

	// OnUnplug, if set, is called once after the unit was unplugged,
	// whatever pulled it (Unplug, an UnplugAt fault), with no lock held:
	// the line removes its probe and USB device with it.
	OnUnplug func()

	Logger *slog.Logger // diagnostics only; nil = discard
}

// Faults are the unit-level failures of the virtual line.
type Faults struct {
	Silent  bool // never answers, prints nothing
	Garbage bool // sends only random bytes (a wrong baud rate), continuously
	CME515  bool // every %CMNG write → +CME ERROR: 515 (ERROR with CMEE=0)
	// StaleServerCreds: the caller seeds the server tag (SeedServerAccount);
	// nothing else changes in the unit.
	StaleServerCreds bool
	LTENever         bool // never attaches: +CEREG stays at 2 (searching)
	// ResetDuringBootstrap: once per Unit, the unit reboots itself right
	// after "Bootstrap registration done!", before Bootstrap-Finish.
	ResetDuringBootstrap bool
	// UnplugAt: "identify" unplugs on the first identity read (AT+CGSN,
	// +CGMR, +CGMM, %HWVERSION, %XMODEMUUID), "inject" on the first %CMNG
	// command. Other steps are triggered by the caller through Unplug().
	UnplugAt string
}

// Unplug-at steps the unit triggers itself.
const (
	UnplugAtIdentify = "identify"
	UnplugAtInject   = "inject"
)

// withDefaults validates cfg and fills the defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.IMEI != "" && !validIMEI(cfg.IMEI) {
		return cfg, fmt.Errorf("unit %d: IMEI %q is not 15 digits with a valid Luhn check digit", cfg.Index, cfg.IMEI)
	}
	switch cfg.Faults.UnplugAt {
	case "", UnplugAtIdentify, UnplugAtInject:
	default:
		return cfg, fmt.Errorf("unit %d: unplug-at step %q is not triggered by the unit (use Unplug)", cfg.Index, cfg.Faults.UnplugAt)
	}
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if cfg.ModemFW == "" {
		cfg.ModemFW = DefaultModemFW
	}
	if cfg.HWVersion == "" {
		cfg.HWVersion = DefaultHWVersion
	}
	if cfg.BootstrapTag == 0 {
		cfg.BootstrapTag = 100
	}
	if cfg.ServerTag == 0 {
		cfg.ServerTag = 101
	}
	if cfg.Delay == nil {
		cfg.Delay = func(d time.Duration) time.Duration { return d }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// validIMEI checks 15 digits and the Luhn check digit.
func validIMEI(s string) bool {
	if len(s) != 15 {
		return false
	}
	sum := 0
	for i := 0; i < 15; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
