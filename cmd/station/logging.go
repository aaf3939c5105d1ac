package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// logger writes diagnostics (not the operator's view) to w: warnings and
// errors as short human lines by default; everything down to debug with
// --debug; slog's JSON with --log-format json.
func (g *globalFlags) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	if g.debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch {
	case g.logFormat == "json":
		return slog.New(slog.NewJSONHandler(w, opts))
	case g.debug:
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(&humanHandler{w: w, mu: &sync.Mutex{}})
}

// humanHandler prints a warning as one line an operator can read:
// "station: warning: portal request failed, retrying (part=portal, err=…)".
type humanHandler struct {
	w      io.Writer
	mu     *sync.Mutex
	attrs  []slog.Attr
	prefix string // group prefix for keys
}

func (h *humanHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *humanHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "station: %s: %s", strings.ToLower(r.Level.String()), r.Message)
	var kv []string
	add := func(a slog.Attr) bool {
		if a.Key != "" {
			kv = append(kv, fmt.Sprintf("%s%s=%v", h.prefix, a.Key, a.Value.Resolve()))
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	if len(kv) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(kv, ", "))
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *humanHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	return &c
}

func (h *humanHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}
