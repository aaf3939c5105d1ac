package flash

import (
	"slices"
	"strings"
	"testing"
)

// TestStreamWriter: lines end at \n, \r\n (also split across writes) or a
// lone \r; empty lines are dropped; a final line without a break is
// flushed; over-long lines are cut; invalid UTF-8 is replaced.
func TestStreamWriter(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{"newlines", []string{"a\nb\n"}, []string{"a", "b"}},
		{"crlf", []string{"a\r\nb\r\n"}, []string{"a", "b"}},
		{"crlf split across writes", []string{"a\r", "\nb\r", "\n"}, []string{"a", "b"}},
		{"tty redraw", []string{"[ #  ] 1\r[ ## ] 2\r[ ###] 3\n"}, []string{"[ #  ] 1", "[ ## ] 2", "[ ###] 3"}},
		{"empty lines dropped", []string{"\n\n  \r\na\n\n"}, []string{"a"}},
		{"byte by byte", strings.Split("ab\r\ncd\ref\n", ""), []string{"ab", "cd", "ef"}},
		{"final line without break", []string{"a\nlast"}, []string{"a", "last"}},
		{"trailing blanks trimmed", []string{"a  \t\n"}, []string{"a"}},
		{"over-long line cut", []string{long + "\n"}, []string{long[:maxLine], "xxxxxxxxxx"}},
		{"invalid UTF-8", []string{"a\xffb\n"}, []string{"a\uFFFDb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			o := newOutput(func(l Line) {
				if l.Stream != Stdout {
					t.Errorf("stream %s", l.Stream)
				}
				got = append(got, l.Text)
			})
			w := o.streams[0]
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			o.flush()
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", trim(got), trim(tt.want))
			}
		})
	}
}

func trim(s []string) []string {
	out := make([]string, len(s))
	for i, l := range s {
		if len(l) > 40 {
			l = l[:40] + "…"
		}
		out[i] = l
	}
	return out
}

// TestTailBounded: the tail keeps the last lines, each cut to a bounded
// length.
func TestTailBounded(t *testing.T) {
	o := newOutput(nil)
	w := o.streams[1]
	for i := 0; i < 3*tailLines; i++ {
		w.Write([]byte(strings.Repeat("y", 2*tailLineMax) + "\n"))
	}
	tail := o.lastLines()
	if len(tail) != tailLines || len(tail[0]) > tailLineMax+len("…") {
		t.Errorf("tail of %d lines, first %d bytes", len(tail), len(tail[0]))
	}
}
