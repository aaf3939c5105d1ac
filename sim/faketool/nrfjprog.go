package faketool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"nrfline/sim/flashctl"
)

// nrfjprog exit codes (flash-tools.md §5).
const (
	exitOK                  = 0
	exitNrfjprogError       = 1
	exitInvalidArgument     = 11
	exitInsufficientArgs    = 12
	exitIncompatibleArgs    = 13
	exitDuplicatedArgs      = 14
	exitNoOperation         = 15
	exitProtected           = 16
	exitWrongFamily         = 18
	exitJLinkDLLError       = 33
	exitNoDebuggers         = 41
	exitFileNotFound        = 51
	exitInvalidHexFile      = 52
	exitVerifyError         = 55
	exitFlashNotErasedError = 58
	exitInternalError       = 63
)

// jprogArgs is a parsed nrfjprog command line.
type jprogArgs struct {
	op       string // program, recover, eraseall, reset, pinreset, ids, com, version, help
	family   string // as given; "" when -f is absent
	snr      string // without leading zeros
	file     string
	erase    flashctl.Erase
	verify   bool
	reset    bool // --program … --reset
	pinreset bool // --program … --pinreset
	quiet    bool
}

// argError is a command-line error: its exit code and ERROR: text.
type argError struct {
	code int
	msg  string
}

func (e *argError) Error() string { return e.msg }

func badArg(code int, format string, a ...any) *argError {
	return &argError{code: code, msg: fmt.Sprintf(format, a...)}
}

// jprogOpt is one accepted option: its canonical name and whether it
// takes a value.
type jprogOpt struct {
	name  string
	value bool
}

// jprogOptions maps every accepted spelling to its option.
func jprogOptions() map[string]jprogOpt {
	opts := map[string]jprogOpt{}
	add := func(name string, value bool, spellings ...string) {
		for _, s := range spellings {
			opts[s] = jprogOpt{name, value}
		}
	}
	add("family", true, "-f", "--family")
	add("snr", true, "-s", "--snr")
	add("program", true, "--program")
	for _, flag := range []string{"chiperase", "sectorerase", "sectoranduicrerase", "verify", "fast", "recover", "com", "log"} {
		add(flag, false, "--"+flag)
	}
	add("reset", false, "-r", "--reset")
	add("pinreset", false, "-p", "--pinreset")
	add("eraseall", false, "-e", "--eraseall")
	add("ids", false, "-i", "--ids")
	add("version", false, "-v", "--version")
	add("help", false, "-h", "--help")
	add("quiet", false, "-q", "--quiet")
	return opts
}

// scanJprogArgs collects canonical options and their values.
func scanJprogArgs(args []string) (map[string]string, *argError) {
	opts := jprogOptions()
	got := map[string]string{}
	for i := 0; i < len(args); i++ {
		o, ok := opts[args[i]]
		if !ok {
			return nil, badArg(exitInvalidArgument, "ERROR: Unrecognized argument %q.", args[i])
		}
		if _, dup := got[o.name]; dup {
			return nil, badArg(exitDuplicatedArgs, "ERROR: Argument %s is given more than once.", args[i])
		}
		val := ""
		if o.value {
			if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") {
				return nil, badArg(exitInsufficientArgs, "ERROR: Argument %s needs a value.", args[i])
			}
			i++
			val = args[i]
		}
		got[o.name] = val
	}
	return got, nil
}

func parseJprogArgs(args []string) (jprogArgs, *argError) {
	got, aerr := scanJprogArgs(args)
	if aerr != nil {
		return jprogArgs{}, aerr
	}
	a := jprogArgs{file: got["program"], family: got["family"]}
	_, a.verify = got["verify"]
	_, a.quiet = got["quiet"]
	if a.op, aerr = jprogOperation(got); aerr != nil {
		return a, aerr
	}
	if a.erase, aerr = jprogErase(got, a.op); aerr != nil {
		return a, aerr
	}
	if a.op == "program" {
		_, a.reset = got["reset"]
		_, a.pinreset = got["pinreset"]
		if a.reset && a.pinreset {
			return a, badArg(exitIncompatibleArgs, "ERROR: Arguments --reset and --pinreset cannot be combined.")
		}
	} else if a.verify {
		return a, badArg(exitIncompatibleArgs, "ERROR: Argument --verify can only be combined with --program.")
	}
	return a, jprogTarget(&a, got)
}

// jprogOperation finds the one operation of the command line.
func jprogOperation(got map[string]string) (string, *argError) {
	if _, ok := got["program"]; ok {
		for _, other := range []string{"recover", "eraseall", "ids", "com", "version", "help"} {
			if _, clash := got[other]; clash {
				return "", badArg(exitIncompatibleArgs, "ERROR: Arguments --program and --%s cannot be combined.", other)
			}
		}
		return "program", nil
	}
	var ops []string
	for _, op := range []string{"recover", "eraseall", "reset", "pinreset", "ids", "com", "version", "help"} {
		if _, ok := got[op]; ok {
			ops = append(ops, op)
		}
	}
	switch len(ops) {
	case 0:
		return "", badArg(exitNoOperation, "ERROR: No operation specified. Run nrfjprog --help for the list of operations.")
	case 1:
		return ops[0], nil
	default:
		return "", badArg(exitIncompatibleArgs, "ERROR: Arguments --%s and --%s cannot be combined.", ops[0], ops[1])
	}
}

func jprogErase(got map[string]string, op string) (flashctl.Erase, *argError) {
	var modes []string
	for _, m := range []string{"chiperase", "sectorerase", "sectoranduicrerase"} {
		if _, ok := got[m]; ok {
			modes = append(modes, m)
		}
	}
	switch {
	case len(modes) > 1:
		return "", badArg(exitIncompatibleArgs, "ERROR: Arguments --%s and --%s cannot be combined.", modes[0], modes[1])
	case len(modes) == 1 && op != "program":
		return "", badArg(exitIncompatibleArgs, "ERROR: Argument --%s can only be combined with --program.", modes[0])
	case len(modes) == 0:
		return flashctl.EraseNone, nil
	case modes[0] == "chiperase":
		return flashctl.EraseChip, nil
	default:
		return flashctl.EraseSector, nil
	}
}

// jprogTarget checks -f and --snr for operations that touch a device.
func jprogTarget(a *jprogArgs, got map[string]string) *argError {
	switch a.op {
	case "ids", "com", "version", "help":
		return nil
	}
	snr, hasSnr := got["snr"]
	if _, hasFamily := got["family"]; !hasFamily {
		return badArg(exitInsufficientArgs, "ERROR: Argument --family (-f) is required for --%s.", a.op)
	}
	if !knownFamily(a.family) {
		return badArg(exitInvalidArgument, "ERROR: Invalid family argument %q.", a.family)
	}
	if !hasSnr {
		return badArg(exitInsufficientArgs, "ERROR: Argument --snr is required: name the debugger to use.")
	}
	n := flashctl.NormalizeSerial(snr)
	if _, err := strconv.ParseUint(n, 10, 32); err != nil {
		return badArg(exitInvalidArgument, "ERROR: Invalid serial number %q given to --snr.", snr)
	}
	a.snr = n
	return nil
}

func knownFamily(f string) bool {
	switch strings.ToUpper(f) {
	case "NRF51", "NRF52", "NRF53", "NRF54L", "NRF54H", "NRF91", "UNKNOWN":
		return true
	}
	return false
}

// jprog is one nrfjprog invocation.
type jprog struct {
	c    *flashctl.Client
	out  io.Writer
	errw io.Writer
	args jprogArgs
	img  image
}

func (j *jprog) stdout() lineWriter { return lineWriter{j.out} }
func (j *jprog) stderr() lineWriter { return lineWriter{j.errw} }

func (j *jprog) run(ctx context.Context, argv []string) int {
	a, aerr := parseJprogArgs(argv)
	if aerr != nil {
		j.stderr().lines(aerr.msg)
		return aerr.code
	}
	j.args = a
	switch a.op {
	case "version":
		j.stdout().lines("nrfjprog version: 10.24.2 external", "JLinkARM.dll version: 7.94e")
		return exitOK
	case "help":
		j.stdout().lines(jprogUsage)
		return exitOK
	case "ids", "com":
		return j.list(ctx)
	case "program":
		return j.program(ctx)
	}
	return j.device(ctx, flashctl.Request{Op: jprogOps()[a.op], Family: j.requestFamily()})
}

func jprogOps() map[string]flashctl.Op {
	return map[string]flashctl.Op{
		"recover": flashctl.OpRecover, "eraseall": flashctl.OpEraseAll,
		"reset": flashctl.OpReset, "pinreset": flashctl.OpPinReset,
	}
}

const jprogUsage = `nrfjprog version: 10.24.2 external (nrfline virtual line)
Usage:
  nrfjprog --ids | --com | --version
  nrfjprog -f NRF91 --snr <serial> --program <hex> (--chiperase | --sectorerase) [--verify] [--reset | --pinreset]
  nrfjprog -f NRF91 --snr <serial> (--recover | --eraseall | --reset | --pinreset)`

// requestFamily is the family the server checks; UNKNOWN means autodetect.
func (j *jprog) requestFamily() string {
	if strings.EqualFold(j.args.family, "UNKNOWN") {
		return ""
	}
	return strings.ToUpper(j.args.family)
}

// list prints --ids or --com.
func (j *jprog) list(ctx context.Context) int {
	probes, err := j.c.Probes(ctx)
	if err != nil {
		return j.internal(err)
	}
	for _, p := range probes {
		snr := flashctl.NormalizeSerial(p.Serial)
		if j.args.op == "ids" {
			j.stdout().lines(snr)
			continue
		}
		for i, port := range []string{p.Port, p.Port2} {
			if port != "" {
				j.stdout().printf("%-18s %-15s VCOM%d", snr, port, i)
			}
		}
	}
	return exitOK
}

// program checks the file, then runs the operation.
func (j *jprog) program(ctx context.Context) int {
	file, err := os.ReadFile(j.args.file)
	if errors.Is(err, fs.ErrNotExist) {
		j.stderr().lines("ERROR: The file specified could not be found.")
		return exitFileNotFound
	}
	if err != nil {
		j.stderr().printf("ERROR: The file specified could not be read: %v.", err)
		return exitFileNotFound
	}
	img, err := parseHex(file)
	if err != nil || !img.fitsNRF91() {
		j.stderr().lines(
			"ERROR: The file specified is not a valid hex file, has data outside valid areas",
			"ERROR: or does not have data in valid areas.")
		return exitInvalidHexFile
	}
	j.img = img
	return j.device(ctx, flashctl.Request{
		Op: flashctl.OpProgram, Family: j.requestFamily(), Erase: j.args.erase,
		Verify: j.args.verify, Reset: j.args.reset || j.args.pinreset, Image: img.flashctl(),
	})
}

// device runs a probe operation, rendering progress as it arrives.
func (j *jprog) device(ctx context.Context, req flashctl.Request) int {
	if req.Op == flashctl.OpRecover {
		j.info("Recovering device. This operation might take 30s.")
	}
	res, err := j.c.Do(ctx, j.args.snr, req, j.progress)
	if ctx.Err() != nil {
		j.stderr().lines("ERROR: Operation interrupted.")
		return exitNrfjprogError
	}
	if err != nil {
		return j.internal(err)
	}
	return j.outcome(res)
}

func (j *jprog) internal(err error) int {
	j.stderr().lines("ERROR: An internal error has occurred, please try again.")
	j.stderr().printf("[error] [ Client] - %v", err)
	return exitInternalError
}

// info prints a plain progress text unless --quiet.
func (j *jprog) info(lines ...string) {
	if !j.args.quiet {
		j.stdout().lines(lines...)
	}
}

// progress renders one event in the 10.24 style, as printed through a pipe.
func (j *jprog) progress(ev flashctl.Event) {
	if j.args.op == "program" {
		j.programProgress(ev)
		return
	}
	switch {
	case ev.Phase == flashctl.PhaseRecover && ev.Percent == 0:
		j.info("Erasing user code and UICR flash areas.")
	case ev.Phase == flashctl.PhaseRecover && ev.Percent == 50:
		j.info("Writing image to disable ap protect.")
	case ev.Phase == flashctl.PhaseErase && ev.Percent == 0:
		j.info("Erasing user available code and UICR flash areas.")
	default:
		j.resetProgress(ev)
	}
}

func (j *jprog) resetProgress(ev flashctl.Event) {
	if ev.Phase != flashctl.PhaseReset {
		return
	}
	pin := j.args.op == "pinreset" || j.args.pinreset
	switch {
	case ev.Percent == 0 && pin:
		j.info("Applying pin reset.")
	case ev.Percent == 0:
		j.info("Applying system reset.")
	case ev.Percent == 100 && !pin && j.args.op != "eraseall":
		j.info("Run.")
	}
}

// progressTexts: the intermediate and final texts of each program phase.
func progressTexts(ph flashctl.Phase) (mid, done string) {
	switch ph {
	case flashctl.PhaseErase:
		return "Erasing non-volatile memory - Erase successful", "Erase file - Done erasing"
	case flashctl.PhaseProgram:
		return "Programming image - Write successful", "Program file - Done programming"
	case flashctl.PhaseVerify:
		return "Verifying image - Verify successful", "Verify file - Done verifying"
	}
	return "", ""
}

func (j *jprog) programProgress(ev flashctl.Event) {
	mid, done := progressTexts(ev.Phase)
	switch {
	case ev.Phase == flashctl.PhaseReset:
		j.resetProgress(ev)
	case ev.Phase == flashctl.PhaseErase && ev.Percent == 0:
		j.info("[ ######               ]   0.000s | Erase file - Check image")
	case ev.Percent == 0:
	case ev.Percent < 100:
		j.info(bar(ev, mid))
	default:
		j.info(bar(ev, done))
		if ev.Phase == flashctl.PhaseProgram && !j.args.verify {
			j.stderr().lines(
				"WARNING: A programming operation has been performed without --verify.",
				"WARNING: Programming can fail without error.")
		}
	}
}

// bar formats `[ ######               ]   0.352s | text`.
func bar(ev flashctl.Event, text string) string {
	return fmt.Sprintf("[ %-20s ] %7.3fs | %s", strings.Repeat("#", ev.Percent/5), ev.Elapsed.Seconds(), text)
}

// outcome prints the texts of §4 and returns the exit code of §5.
func (j *jprog) outcome(res flashctl.Result) int {
	e := j.stderr()
	switch res.Outcome {
	case flashctl.OK:
		return exitOK
	case flashctl.NoProbe:
		e.lines("ERROR: There is no debugger connected to the PC.")
		return exitNoDebuggers
	case flashctl.JLinkError:
		e.printf("[error] [ Client] - Encountered error -102: Command %s executed for %d milliseconds with result -102", res.Command, res.Elapsed.Milliseconds())
		e.lines("ERROR: Unable to connect to a debugger.", "[error] [ Worker] - An unknown error.")
		e.lines(dllErrorText)
		return exitJLinkDLLError
	case flashctl.Lost, flashctl.Canceled:
		e.printf("[error] [ Client] - Encountered error -102: Command %s executed for %d milliseconds with result -102", cmdOr(res.Command), res.Elapsed.Milliseconds())
		e.lines("[error] [ Worker] - An unknown error.")
		e.lines(dllErrorText)
		return exitJLinkDLLError
	case flashctl.WrongFamily:
		e.lines(wrongFamilyText)
		return exitWrongFamily
	case flashctl.Protected:
		e.lines(
			"ERROR: The operation attempted is unavailable due to readback protection in",
			"ERROR: your device. Please use --recover to unlock the device.")
		return exitProtected
	case flashctl.NotErased:
		e.lines(
			"ERROR: The area to program is not erased. Use --chiperase, --sectorerase or",
			"ERROR: --sectoranduicrerase, or erase the device first with --eraseall.")
		return exitFlashNotErasedError
	case flashctl.VerifyError:
		j.verifyFailed(res)
		return exitVerifyError
	}
	return j.internal(fmt.Errorf("unknown outcome %q", res.Outcome))
}

func cmdOr(c string) string {
	if c == "" {
		return "read_device_info"
	}
	return c
}

const dllErrorText = `ERROR: JLinkARM DLL reported an error. Try again. If error condition
ERROR: persists, run the same command again with argument --log, contact Nordic
ERROR: Semiconductor and provide the generated log.log file to them.`

const wrongFamilyText = `ERROR: nrfjprog could not identify the target device. This may be due to an
ERROR: invalid family argument, a problem with your device, or nrfjprog may
ERROR: not yet support your device.
ERROR: Please check the family argument passed, or upgrade nrfjprog to a more
ERROR: recent version.`

func (j *jprog) verifyFailed(res flashctl.Result) {
	first := j.img.segments[0]
	addr, want, got := j.img.mismatch()
	e := j.stderr()
	e.printf("[error] [ Client] - Encountered error -160: Command verify_file executed for %d milliseconds with result -160", res.Elapsed.Milliseconds())
	e.printf("[error] [ nRF91] - Failed while performing 'Verify' operation on target address 0x%08X.", first.addr)
	e.printf("-160: Data does not match in address range [0x%08X - 0x%08X] (Flash)", first.addr, first.end()-1)
	e.printf("Expected byte value 0x%02X but read 0x%02X at address 0x%08X.", want, got, addr)
	e.lines("ERROR: Write verify failed.")
}
