package flash

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"nrfline/station"
)

// Limits of the runner's output handling.
const (
	tailLines       = 20      // lines of output kept for a ToolError
	tailLineMax     = 1000    // characters of one tail line
	maxLine         = 1 << 20 // a longer line is cut into pieces of this size
	defaultWait     = 5 * time.Second
	defaultDeadline = 120 * time.Second // flash.timeout's default (CONTRACT.md)
)

// errTimeout is the cause of a run's context when flash.timeout expired.
var errTimeout = errors.New("flash.timeout expired")

// Runner runs one external tool: an argv (never a shell string), output
// streamed line by line, bounded by Timeout. Cancellation interrupts the
// tool first (SIGINT to its process group) and kills it WaitDelay later.
// A Runner is safe for concurrent use; set its fields before the first Run.
type Runner struct {
	Tool      string        // name for errors and logs ("nrfjprog")
	Path      string        // the binary
	Timeout   time.Duration // bound on every run (flash.timeout)
	WaitDelay time.Duration // after the interrupt, until the tool is killed and its pipes closed
	Logger    *slog.Logger
}

// Stream says where a line came from.
type Stream string

// The two output streams.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Line is one line a tool printed. A line ends at "\n", "\r\n" or a lone
// "\r" (progress redrawn on a terminal); empty lines are dropped.
type Line struct {
	Stream Stream
	Text   string
}

// Result is how a finished run ended.
type Result struct {
	Tool     string
	Args     []string
	ExitCode int      // -1 when the process ended by a signal
	Tail     []string // the last lines of output, both streams in arrival order
	exit     *exec.ExitError
}

// ToolError is a tool run that failed: it travels wrapped inside the
// *station.Error that classifies it. Err is the *exec.ExitError when the
// process exited with a non-zero status.
type ToolError struct {
	Tool     string
	Args     []string
	ExitCode int
	Tail     []string
	Err      error
}

func (e *ToolError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: exit code %d", shortArgv(e.Tool, e.Args), e.ExitCode)
	if msg := lastError(e.Tail); msg != "" {
		fmt.Fprintf(&b, ": %s", msg)
	}
	return b.String()
}

// Unwrap keeps the *exec.ExitError reachable.
func (e *ToolError) Unwrap() error { return e.Err }

// shortArgv is the command line with file paths cut to their base name:
// an operator's note needs the operation, not the firmware's folder.
func shortArgv(tool string, args []string) string {
	out := []string{tool}
	for _, a := range args {
		if strings.Contains(a, "/") {
			a = filepath.Base(a)
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

// lastError is the tool's last error message, whole: nrfjprog wraps one
// sentence over several "ERROR: " lines, so the last run of such lines is
// joined into one. Without an error line it is the last line.
func lastError(tail []string) string {
	isErr := func(l string) bool { return strings.HasPrefix(strings.ToUpper(l), "ERROR") }
	end := len(tail) - 1
	for end >= 0 && !isErr(tail[end]) {
		end--
	}
	if end < 0 {
		if len(tail) == 0 {
			return ""
		}
		return tail[len(tail)-1]
	}
	start := end
	for start > 0 && isErr(tail[start-1]) {
		start--
	}
	parts := []string{strings.TrimSpace(tail[start])}
	for _, l := range tail[start+1 : end+1] {
		parts = append(parts, strings.TrimSpace(strings.TrimLeft(l[len("ERROR"):], ":")))
	}
	return strings.Join(parts, " ")
}

// ToolError describes the run as a failure.
func (res Result) ToolError() *ToolError {
	te := &ToolError{Tool: res.Tool, Args: res.Args, ExitCode: res.ExitCode, Tail: res.Tail}
	if res.exit != nil {
		te.Err = res.exit
	}
	return te
}

// Fail classifies the run under code.
func (res Result) Fail(code station.Code, format string, args ...any) *station.Error {
	return station.Errorf(code, res.ToolError(), format, args...)
}

// Run starts the tool with args, passes every output line to onLine (never
// concurrently, in arrival order per stream) and waits for it to end.
//
// It returns a nil error whenever the process ran to its end, whatever its
// exit code: deciding what the code means is the caller's job. The error is
// a *station.Error FLASH_TOOL when the tool cannot be started, FLASH_TIMEOUT
// when Timeout expired (the tool interrupted, then killed), and wraps
// ctx.Err() unclassified when ctx ended first.
func (r *Runner) Run(ctx context.Context, args []string, onLine func(Line)) (Result, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = defaultDeadline
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	out := newOutput(onLine)
	cmd := exec.CommandContext(runCtx, r.Path, args...)
	cmd.Stdout, cmd.Stderr = out.streams[0], out.streams[1]
	cmd.WaitDelay = r.WaitDelay
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = defaultWait
	}
	interruptFirst(cmd)
	log := r.logger().With("tool", r.Tool)
	log.Debug("tool start", "args", args)
	started := time.Now()
	defer lockThread()() // from Start to Wait: the tool's parent-death signal follows this thread
	if err := cmd.Start(); err != nil {
		return Result{Tool: r.Tool, Args: args, ExitCode: -1}, station.Errorf(station.FlashTool, err, "start %s (%s)", r.Tool, r.Path)
	}
	waitErr := cmd.Wait()
	if runCtx.Err() != nil {
		killGroup(cmd) // helpers the tool left behind
	}
	out.flush()
	res := Result{Tool: r.Tool, Args: append([]string(nil), args...), ExitCode: cmd.ProcessState.ExitCode(), Tail: out.lastLines()}
	errors.As(waitErr, &res.exit)
	log.Debug("tool end", "exit", res.ExitCode, "took", time.Since(started).Round(time.Millisecond), "wait", waitErr)
	return res, r.outcome(ctx, runCtx, timeout, res, waitErr)
}

// outcome tells a finished process from an interrupted one.
func (r *Runner) outcome(ctx, runCtx context.Context, timeout time.Duration, res Result, waitErr error) error {
	switch {
	case waitErr == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s interrupted: %w (%w)", r.Tool, ctx.Err(), res.ToolError())
	case runCtx.Err() != nil && errors.Is(context.Cause(runCtx), errTimeout):
		return res.Fail(station.FlashTimeout, "%s did not finish within flash.timeout (%s)", r.Tool, timeout)
	case errors.Is(waitErr, exec.ErrWaitDelay):
		// The tool exited but something it started kept its output open.
		r.logger().Warn("tool left its output open after exiting", "tool", r.Tool, "exit", res.ExitCode)
		return nil
	case res.exit != nil:
		return nil // a plain non-zero exit: the caller classifies it
	}
	return res.Fail(station.FlashTool, "wait for %s: %v", r.Tool, waitErr)
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// output splits both streams into lines, keeps the tail and serialises the
// callback.
type output struct {
	mu      sync.Mutex
	onLine  func(Line)
	tail    []string
	streams [2]*streamWriter // stdout, stderr
}

func newOutput(onLine func(Line)) *output {
	o := &output{onLine: onLine}
	o.streams = [2]*streamWriter{{o: o, stream: Stdout}, {o: o, stream: Stderr}}
	return o
}

func (o *output) emit(stream Stream, raw []byte) {
	text := strings.TrimRight(strings.ToValidUTF8(string(raw), "\uFFFD"), " \t")
	if strings.TrimSpace(text) == "" {
		return
	}
	keep := text
	if len(keep) > tailLineMax {
		keep = keep[:tailLineMax] + "…"
	}
	o.tail = append(o.tail, keep)
	if len(o.tail) > tailLines {
		o.tail = o.tail[len(o.tail)-tailLines:]
	}
	if o.onLine != nil {
		o.onLine(Line{Stream: stream, Text: text})
	}
}

// flush emits what is left after the last line break (a final line without
// one). Call it after the process's output is complete.
func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.streams {
		if len(w.buf) > 0 {
			o.emit(w.stream, w.buf)
			w.buf = nil
		}
	}
}

func (o *output) lastLines() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.tail...)
}

// streamWriter cuts one stream into lines.
type streamWriter struct {
	o      *output
	stream Stream
	buf    []byte
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	// "\r\n" ends a line at "\r"; the "\n" then ends an empty line, which
	// emit drops.
	for _, b := range p {
		switch {
		case b == '\n' || b == '\r':
			w.o.emit(w.stream, w.buf)
			w.buf = w.buf[:0]
		default:
			w.buf = append(w.buf, b)
			if len(w.buf) >= maxLine {
				w.o.emit(w.stream, w.buf)
				w.buf = w.buf[:0]
			}
		}
	}
	return len(p), nil
}
