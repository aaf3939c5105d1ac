package flash

import (
	"context"
	"log/slog"
	"strings"

	"nrfline/station"
)

// Nrfjprog drives nrfjprog (archived, last release 10.24.2; flash-tools.md
// §1–§5). Success is exit code 0; any other code is classified by the
// exit-code table (§5, §6).
type Nrfjprog struct {
	run    *Runner
	erase  string
	verify bool
	images imageChecks
}

var _ station.Flasher = (*Nrfjprog)(nil)

// NewNrfjprog returns an nrfjprog runner for the binary at path.
func NewNrfjprog(path string, cfg station.FlashConfig, logger *slog.Logger) *Nrfjprog {
	return &Nrfjprog{run: newRunner("nrfjprog", path, cfg, logger), erase: cfg.Erase, verify: cfg.Verify}
}

// Program writes the image, erasing as flash.erase says, verifying when
// flash.verify is set, and always ends with a system reset:
//
//	nrfjprog -f NRF91 --snr SNR --program IMAGE --chiperase|--sectorerase [--verify] --reset
func (n *Nrfjprog) Program(ctx context.Context, probe string, fw station.Firmware, report func(station.ToolLine)) error {
	snr, err := probeSerial(probe)
	if err != nil {
		return err
	}
	image, err := n.images.firmwareArg(fw)
	if err != nil {
		return err
	}
	args := append(jprogTarget(snr), "--program", image, n.eraseFlag(fw))
	if n.verify {
		args = append(args, "--verify")
	}
	args = append(args, "--reset")
	return n.device(ctx, "program", snr, args, report)
}

// eraseFlag: --sectorerase leaves UICR alone (flash-tools.md §2), so an
// image that writes UICR would fail on a unit whose UICR holds data from a
// previous programming; --sectoranduicrerase erases both.
func (n *Nrfjprog) eraseFlag(fw station.Firmware) string {
	switch {
	case n.erase != "sector":
		return "--chiperase"
	case fw.UICR:
		return "--sectoranduicrerase"
	}
	return "--sectorerase"
}

// Recover unlocks a protected chip (erases it all):
//
//	nrfjprog -f NRF91 --snr SNR --recover
func (n *Nrfjprog) Recover(ctx context.Context, probe string, report func(station.ToolLine)) error {
	snr, err := probeSerial(probe)
	if err != nil {
		return err
	}
	return n.device(ctx, "recover", snr, append(jprogTarget(snr), "--recover"), report)
}

// Reset applies a system reset; the core runs afterwards:
//
//	nrfjprog -f NRF91 --snr SNR --reset
func (n *Nrfjprog) Reset(ctx context.Context, probe string, report func(station.ToolLine)) error {
	snr, err := probeSerial(probe)
	if err != nil {
		return err
	}
	return n.device(ctx, "reset", snr, append(jprogTarget(snr), "--reset"), report)
}

// Version is the tool's version (`nrfjprog --version`): "10.24.2" from
// "nrfjprog version: 10.24.2 external".
func (n *Nrfjprog) Version(ctx context.Context) (string, error) {
	var first firstLine
	res, err := n.run.Run(ctx, []string{"--version"}, first.add)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", res.Fail(station.FlashTool, "nrfjprog --version: exit %d %s", res.ExitCode, jprogExitName(res.ExitCode))
	}
	return toolVersion(first.text), nil
}

// List returns the serials of the probes present (`nrfjprog --ids`),
// without leading zeros. No debugger connected (exit 41) is an empty list.
func (n *Nrfjprog) List(ctx context.Context) ([]string, error) {
	var serials []string
	seen := map[string]bool{}
	res, err := n.run.Run(ctx, []string{"--ids"}, func(l Line) {
		s := strings.TrimSpace(l.Text)
		if l.Stream != Stdout || strings.Trim(s, "0123456789") != "" {
			return
		}
		if s = station.NormalizeSerial(s); !seen[s] {
			seen[s] = true
			serials = append(serials, s)
		}
	})
	switch {
	case err != nil:
		return nil, err
	case res.ExitCode == 41:
		return nil, nil
	case res.ExitCode != 0:
		return nil, res.Fail(jprogCode(res.ExitCode), "nrfjprog --ids: exit %d %s", res.ExitCode, jprogExitName(res.ExitCode))
	}
	return serials, nil
}

// jprogTarget is the family and probe selection every device command
// starts with (§2; without --snr a headless nrfjprog could hang on
// J-Link's probe dialog).
func jprogTarget(snr string) []string { return []string{"-f", "NRF91", "--snr", snr} }

// device runs one operation on one probe and classifies its exit code.
func (n *Nrfjprog) device(ctx context.Context, op, snr string, args []string, report func(station.ToolLine)) error {
	report = reporter(report)
	res, err := n.run.Run(ctx, args, func(l Line) { report(parseJprogLine(l.Text)) })
	if err != nil {
		return err
	}
	if res.ExitCode == 0 {
		return nil
	}
	code := forOp(op, jprogCode(res.ExitCode))
	return res.Fail(code, "nrfjprog %s on probe %s: exit %d %s", op, snr, res.ExitCode, jprogExitName(res.ExitCode))
}

// jprogCode classifies an nrfjprog exit code (§6). Anything not listed is a
// tool or configuration problem.
func jprogCode(exit int) station.Code {
	switch exit {
	case 16:
		return station.FlashProtected
	case 55:
		return station.FlashVerify
	case 40, 41:
		return station.FlashNoProbe
	case 33, 35, 42, 64:
		return station.FlashJLink
	case 2, 18:
		return station.FlashWrongTarget
	case 62:
		return station.FlashRecoverFailed
	}
	return station.FlashTool
}

// jprogExitName names an exit code after the 10.19 header (§5), for the
// record's detail.
func jprogExitName(exit int) string {
	names := map[int]string{
		-1: "(ended by a signal)", 1: "NrfjprogError", 2: "NrfjprogOutdatedError", 3: "MemoryAllocationError",
		11: "InvalidArgumentError", 12: "InsufficientArgumentsError", 13: "IncompatibleArgumentsError",
		14: "DuplicatedArgumentsError", 15: "NoOperationError", 16: "UnavailableOperationBecauseProtectionError",
		17: "UnavailableOperationInFamilyError", 18: "WrongFamilyForDeviceError",
		19: "UnavailableOperationBecauseMpuConfiguration", 20: "NrfjprogDllNotFoundError",
		21: "NrfjprogDllLoadFailedError", 22: "NrfjprogDllFunctionLoadFailedError", 23: "NrfjprogDllNotImplementedError",
		24: "NrfjprogIniSyntaxError", 25: "NrfjprogIniNotFoundError", 26: "NrfjprogIniCannotBeOpenedError",
		27: "NrfjprogIniFamilyMissingError", 28: "NrfjprogIniClockspeedMissingError",
		29: "NrfjprogWorkerExeNotFoundError", 30: "JLinkARMDllNotFoundError", 31: "JLinkARMDllInvalidError",
		32: "JLinkARMDllFailedToOpenError", 33: "JLinkARMDllError", 34: "JLinkARMDllTooOldError",
		35: "JLinkARMDllTimeOutError", 36: "UnavailableOperationBecauseCoprocessorDisabled",
		37: "UnavailableOperationBecauseTrustZone", 38: "UnavailableOperationBecauseBPROT",
		39: "NrfjprogIniPropertyMissingError", 40: "InvalidSerialNumberError", 41: "NoDebuggersError",
		42: "NotPossibleToConnectError", 43: "LowVoltageError", 51: "FileNotFoundError", 52: "InvalidHexFileError",
		53: "FicrReadError", 54: "WrongArgumentError", 55: "VerifyError", 56: "NoWritePermissionError",
		57: "NVMCOperationError", 58: "FlashNotErasedError", 59: "RamIsOffError", 60: "NoReadPermissionError",
		61: "NoExternalMemoryConfiguredError", 62: "RecoverFailed", 63: "InternalError", 64: "TimeOutError",
		65: "ReadError",
	}
	if s, ok := names[exit]; ok {
		return s
	}
	return "(unknown code)"
}

// parseJprogLine reads the progress a line implies. Since 10.18 nrfjprog
// draws bars: "[ ######               ]   0.000s | Erase file - Check image",
// a 20-character bar whose '#' count is the percentage of the phase (the
// text between "|" and " - "). Older versions print plain sentences, which
// carry no percentage.
func parseJprogLine(text string) station.ToolLine {
	tl := station.ToolLine{Text: text, Percent: -1}
	s := strings.TrimSpace(text)
	if !strings.HasPrefix(s, "[") {
		return tl
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return tl
	}
	bar := strings.TrimPrefix(strings.TrimSuffix(s[1:end], " "), " ")
	if bar == "" || strings.Trim(bar, "# ") != "" {
		return tl
	}
	_, rest, ok := strings.Cut(s[end+1:], "|")
	if !ok {
		return tl
	}
	phase, _, _ := strings.Cut(strings.TrimSpace(rest), " - ")
	tl.Phase = strings.TrimSpace(phase)
	tl.Percent = strings.Count(bar, "#") * 100 / len(bar)
	return tl
}
