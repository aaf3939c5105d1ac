package faketool

import (
	"fmt"
	"strings"

	"nrfline/sim/flashctl"
)

// utilArgs is a parsed `nrfutil device …` command line.
type utilArgs struct {
	json      bool
	version   bool
	help      bool
	sub       string // "" (bare nrfutil / nrfutil device), list, program, recover, reset
	device    bool   // the "device" command was given
	serials   []string
	traits    []string
	firmware  string
	erase     flashctl.Erase
	verify    bool
	reset     bool // program: reset at the end
	resetKind string
	family    string // --x-family, normalised ("NRF91"); "" = not given
	hotplug   bool
}

// clapError is a usage error, printed clap-style and exiting 2.
type clapError struct{ msg string }

func (e *clapError) Error() string { return e.msg }

func usageErr(format string, a ...any) *clapError {
	return &clapError{msg: fmt.Sprintf(format, a...)}
}

// utilOptions: every accepted option and whether it takes a value.
func utilOptions() map[string]bool {
	return map[string]bool{
		"--json": false, "--json-pretty": false, "--version": false, "-V": false,
		"--help": false, "-h": false, "--hotplug": false,
		"--log-level": true, "--log-output": true,
		"--serial-number": true, "--traits": true, "--firmware": true, "--options": true,
		"--core": true, "--x-family": true, "--x-partno": true, "--reset-kind": true,
	}
}

// utilAllowed lists the options each subcommand takes besides the global ones.
func utilAllowed(sub string) []string {
	sel := []string{"--serial-number", "--traits"}
	target := []string{"--core", "--x-family", "--x-partno"}
	switch sub {
	case "list":
		return append(sel, "--hotplug")
	case "program":
		return append(append(sel, target...), "--firmware", "--options")
	case "recover":
		return append(sel, target...)
	case "reset":
		return append(append(sel, target...), "--reset-kind")
	}
	return nil
}

func isGlobalOption(name string) bool {
	switch name {
	case "--json", "--json-pretty", "--log-level", "--log-output", "--version", "-V", "--help", "-h":
		return true
	}
	return false
}

// scanUtilArgs splits argv into options (any position, clap-style, with
// `--opt value` or `--opt=value`) and positionals.
func scanUtilArgs(argv []string) (map[string]string, []string, *clapError) {
	known := utilOptions()
	opts := map[string]string{}
	var pos []string
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			pos = append(pos, arg)
			continue
		}
		name, val, hasVal := strings.Cut(arg, "=")
		takesValue, ok := known[name]
		switch {
		case !ok || (hasVal && !takesValue):
			return nil, nil, usageErr("error: unexpected argument '%s' found", arg)
		case hasKey(opts, name):
			return nil, nil, usageErr("error: the argument '%s' cannot be used multiple times", name)
		case takesValue && !hasVal:
			if i+1 >= len(argv) || strings.HasPrefix(argv[i+1], "-") {
				return nil, nil, usageErr("error: a value is required for '%s <VALUE>' but none was supplied", name)
			}
			i++
			val = argv[i]
		}
		opts[name] = val
	}
	return opts, pos, nil
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

func parseUtilArgs(argv []string) (utilArgs, *clapError) {
	opts, pos, cerr := scanUtilArgs(argv)
	if cerr != nil {
		return utilArgs{}, cerr
	}
	a := utilArgs{json: hasKey(opts, "--json") || hasKey(opts, "--json-pretty")}
	a.version = hasKey(opts, "--version") || hasKey(opts, "-V")
	a.help = hasKey(opts, "--help") || hasKey(opts, "-h")
	if cerr := a.subcommand(pos); cerr != nil {
		return a, cerr
	}
	if a.sub == "" {
		return a, onlyGlobal(opts)
	}
	if cerr := checkAllowed(a.sub, opts); cerr != nil {
		return a, cerr
	}
	if a.help || a.version {
		return a, nil
	}
	return a, a.fill(opts)
}

// subcommand reads `device <sub>` from the positionals.
func (a *utilArgs) subcommand(pos []string) *clapError {
	if len(pos) == 0 {
		if a.version || a.help {
			return nil
		}
		return usageErr("error: 'nrfutil' requires a subcommand but one was not provided")
	}
	if pos[0] != "device" {
		return usageErr("error: unrecognized subcommand '%s'", pos[0])
	}
	a.device = true
	if len(pos) == 1 {
		if a.version || a.help {
			return nil
		}
		return usageErr("error: 'nrfutil-device' requires a subcommand but one was not provided")
	}
	switch pos[1] {
	case "list", "program", "recover", "reset":
		a.sub = pos[1]
	default:
		return usageErr("error: unrecognized subcommand '%s'", pos[1])
	}
	if len(pos) > 2 {
		return usageErr("error: unexpected argument '%s' found", pos[2])
	}
	return nil
}

func onlyGlobal(opts map[string]string) *clapError {
	for name := range opts {
		if !isGlobalOption(name) {
			return usageErr("error: unexpected argument '%s' found", name)
		}
	}
	return nil
}

func checkAllowed(sub string, opts map[string]string) *clapError {
	allowed := utilAllowed(sub)
	for name := range opts {
		if !isGlobalOption(name) && !contains(allowed, name) {
			return usageErr("error: unexpected argument '%s' found", name)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// fill validates the subcommand's options.
func (a *utilArgs) fill(opts map[string]string) *clapError {
	a.hotplug = hasKey(opts, "--hotplug")
	if a.hotplug {
		return usageErr("error: '--hotplug' is not supported by the nrfline virtual line")
	}
	if cerr := a.selectors(opts); cerr != nil {
		return cerr
	}
	if cerr := a.target(opts); cerr != nil {
		return cerr
	}
	switch a.sub {
	case "program":
		return a.programArgs(opts)
	case "reset":
		return a.resetArgs(opts)
	}
	return nil
}

func (a *utilArgs) selectors(opts map[string]string) *clapError {
	if s, ok := opts["--serial-number"]; ok {
		for _, one := range strings.Split(s, ",") {
			n := flashctl.NormalizeSerial(strings.TrimSpace(one))
			if n == "" {
				return usageErr("error: invalid value '%s' for '--serial-number <SERIAL_NUMBERS>'", s)
			}
			a.serials = append(a.serials, n)
		}
	}
	if t, ok := opts["--traits"]; ok {
		for _, one := range strings.Split(t, ",") {
			a.traits = append(a.traits, strings.TrimSpace(one))
		}
	}
	if a.sub != "list" && a.serials == nil && a.traits == nil {
		return usageErr("error: the following required arguments were not provided:\n  <--serial-number <SERIAL_NUMBERS>|--traits <TRAITS>>")
	}
	return nil
}

// target checks --core and --x-family.
func (a *utilArgs) target(opts map[string]string) *clapError {
	if c, ok := opts["--core"]; ok && !strings.EqualFold(c, "Application") {
		return usageErr("error: invalid value '%s' for '--core <CORE>': nRF91 has only the Application core", c)
	}
	if f, ok := opts["--x-family"]; ok {
		a.family = strings.TrimSuffix(strings.ToUpper(f), "_FAMILY")
		if a.family == "" {
			return usageErr("error: invalid value '%s' for '--x-family <FAMILY>'", f)
		}
	}
	return nil
}

func (a *utilArgs) programArgs(opts map[string]string) *clapError {
	var ok bool
	if a.firmware, ok = opts["--firmware"]; !ok {
		return usageErr("error: the following required arguments were not provided:\n  --firmware <FIRMWARE>")
	}
	// The documented defaults are the destructive/weak ones.
	a.erase, a.verify, a.reset = flashctl.EraseChip, false, false
	o, ok := opts["--options"]
	if !ok {
		return nil
	}
	for _, kv := range strings.Split(o, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if err := a.programOption(k, v); err != "" {
			return usageErr("error: invalid value '%s' for '--options <OPTIONS>': %s", o, err)
		}
	}
	return nil
}

// programOption applies one key=value of --options; it returns a reason on error.
func (a *utilArgs) programOption(k, v string) string {
	switch k {
	case "chip_erase_mode":
		return a.eraseMode(v)
	case "verify":
		switch v {
		case "VERIFY_NONE":
			a.verify = false
		case "VERIFY_READ", "VERIFY_HASH":
			a.verify = true
		default:
			return "unknown verify mode " + v
		}
	case "reset":
		if v == "RESET_NONE" {
			a.reset = false
			return ""
		}
		if !validResetKind(v) {
			return "unknown reset kind " + v
		}
		a.reset, a.resetKind = true, v
	case "ext_mem_erase_mode":
		if v != "ERASE_NONE" && v != "ERASE_ALL" && v != "ERASE_RANGES_TOUCHED_BY_FIRMWARE" {
			return "unknown external memory erase mode " + v
		}
	default:
		return "unknown option " + k
	}
	return ""
}

func (a *utilArgs) eraseMode(v string) string {
	switch v {
	case "ERASE_ALL", "ERASE_CTRL_AP":
		a.erase = flashctl.EraseChip
	case "ERASE_RANGES_TOUCHED_BY_FIRMWARE", "ERASE_PAGES", "ERASE_PAGES_INCLUDING_UICR":
		a.erase = flashctl.EraseSector
	case "ERASE_NONE", "ERASE_UICR":
		a.erase = flashctl.EraseNone
	default:
		return "unknown chip erase mode " + v
	}
	return ""
}

func (a *utilArgs) resetArgs(opts map[string]string) *clapError {
	a.resetKind = "RESET_DEFAULT"
	if k, ok := opts["--reset-kind"]; ok {
		if !validResetKind(k) {
			return usageErr("error: invalid value '%s' for '--reset-kind <RESET_KIND>'", k)
		}
		a.resetKind = k
	}
	return nil
}

func validResetKind(k string) bool {
	switch k {
	case "RESET_SYSTEM", "RESET_HARD", "RESET_SOFT", "RESET_DEBUG", "RESET_PIN", "RESET_VIA_SECDOM", "RESET_DEFAULT":
		return true
	}
	return false
}
