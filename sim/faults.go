package sim

import (
	"fmt"
	"strconv"
	"strings"
)

// Faults is what can go wrong with one unit of the virtual line.
type Faults struct {
	Protected            bool   // chip needs recover
	VerifyError          bool   // every flash verify fails
	JLinkTransient       bool   // the first J-Link call fails with exit 33
	Silent               bool   // the modem never answers
	Garbage              bool   // random bytes on the serial line instead of text
	UnplugAt             string // the unit disappears when this station step starts
	CME515               bool   // credential write: memory full
	StaleServerCreds     bool   // the server sec_tag already holds credentials
	LTENever             bool   // never attaches to LTE
	ResetDuringBootstrap bool   // reboots itself once in the middle of the bootstrap
	BootstrapReject      bool   // the bootstrap server answers 4.00
	Portal500            bool   // the portal answers 500 for this unit
	PortalSlow           bool   // the portal takes 5 s per request
	PortalTimeout        bool   // the portal never answers
}

// UnplugSteps are the station steps a unit can disappear at.
var UnplugSteps = []string{"flash", "identify", "inject", "register", "bootstrap"}

// FaultHelp documents the SPEC syntax for `station sim --help`.
const FaultHelp = `SPEC is a comma-separated list of NAME[:UNITS]; UNITS is a 1-based unit
number or range (2, 2-4), all units when left out. Names:
  protected               chip is read-back protected: flashing fails (exit 16 / code 24) until --recover
  verify-error            every flash verify reports a mismatch (exit 55 / code 25)
  jlink-transient         the first J-Link call fails with exit 33 (JLINKARM_DLL_ERROR), later ones work
  silent                  the modem never answers and prints nothing
  garbage                 everything the unit sends is random bytes (like a wrong baud rate)
  unplug@STEP             the unit disappears when the station's STEP starts:
                          flash, identify, inject, register, bootstrap
  cme-515                 credential write fails: +CME ERROR: 515 (memory full)
  stale-server-creds      the server sec_tag already holds credentials the LwM2M server accepts
  lte-never               the unit never attaches to LTE
  reset-during-bootstrap  the unit reboots itself once in the middle of its bootstrap
  bootstrap-reject        the bootstrap server answers 4.00 Bad Request to the unit
  portal-500              the portal answers 500 Internal Server Error for the unit
  portal-slow             the portal takes 5 s (simulated) per request for the unit
  portal-timeout          the portal never answers requests for the unit
Example: --faults protected:1,portal-500:3,unplug@inject:4`

// ParseFaults reads a SPEC for a line of n units.
func ParseFaults(spec string, n int) ([]Faults, error) {
	out := make([]Faults, n)
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, units, _ := strings.Cut(item, ":")
		lo, hi, err := unitRange(units, n)
		if err != nil {
			return nil, fmt.Errorf("fault %q: %w", item, err)
		}
		for i := lo; i <= hi; i++ {
			if err := out[i-1].set(name); err != nil {
				return nil, fmt.Errorf("fault %q: %w", item, err)
			}
		}
	}
	return out, nil
}

func unitRange(s string, n int) (lo, hi int, err error) {
	if s == "" {
		return 1, n, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = strconv.Atoi(a); err != nil {
		return 0, 0, fmt.Errorf("unit %q is not a number", a)
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, fmt.Errorf("unit %q is not a number", b)
		}
	}
	if lo < 1 || hi > n || lo > hi {
		return 0, 0, fmt.Errorf("units %s outside 1-%d", s, n)
	}
	return lo, hi, nil
}

func (f *Faults) set(name string) error {
	if step, ok := strings.CutPrefix(name, "unplug@"); ok {
		for _, s := range UnplugSteps {
			if s == step {
				f.UnplugAt = step
				return nil
			}
		}
		return fmt.Errorf("unknown step %q (want one of %s)", step, strings.Join(UnplugSteps, ", "))
	}
	flags := map[string]*bool{
		"protected": &f.Protected, "verify-error": &f.VerifyError, "jlink-transient": &f.JLinkTransient,
		"silent": &f.Silent, "garbage": &f.Garbage, "cme-515": &f.CME515,
		"stale-server-creds": &f.StaleServerCreds, "lte-never": &f.LTENever,
		"reset-during-bootstrap": &f.ResetDuringBootstrap, "bootstrap-reject": &f.BootstrapReject,
		"portal-500": &f.Portal500, "portal-slow": &f.PortalSlow, "portal-timeout": &f.PortalTimeout,
	}
	p, ok := flags[name]
	if !ok {
		return fmt.Errorf("unknown fault name %q (see station sim --help)", name)
	}
	*p = true
	return nil
}
