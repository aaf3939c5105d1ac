// Command atping sends one AT command to the port of every slot of a
// station config and prints the answer: a quick look at a fixture (or a
// virtual line) without the station. It opens the ports the way the
// station does, with go.bug.st/serial.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.bug.st/serial"

	"nrfline/station"
)

func main() {
	cfgPath := flag.String("config", "station.toml", "station config whose slots to ping")
	timeout := flag.Duration("timeout", 5*time.Second, "per port")
	flag.Parse()
	cmd := "AT+CGSN=1"
	if flag.NArg() > 0 {
		cmd = flag.Arg(0)
	}
	cfg, err := station.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "atping:", err)
		os.Exit(2)
	}
	failed := false
	for _, s := range cfg.SlotList() {
		answer, err := ping(s.Port, cmd, *timeout)
		if err != nil {
			failed = true
			fmt.Printf("%s %s: %v\n", s.Name, s.Port, err)
			continue
		}
		fmt.Printf("%s %s: %s\n", s.Name, s.Port, strings.Join(answer, " | "))
	}
	if failed {
		os.Exit(1)
	}
}

// ping writes cmd and collects the lines up to OK/ERROR, skipping log and
// unsolicited lines (those starting with '[' or '+CEREG' / '%' when not asked).
func ping(path, cmd string, timeout time.Duration) ([]string, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if err := p.SetReadTimeout(50 * time.Millisecond); err != nil {
		return nil, err
	}
	if _, err := p.Write([]byte(cmd + "\r\n")); err != nil {
		return nil, err
	}
	prefix, _, _ := strings.Cut(strings.TrimPrefix(cmd, "AT"), "=")
	var buf []byte
	var out []string
	deadline := time.Now().Add(timeout)
	chunk := make([]byte, 256)
	for time.Now().Before(deadline) {
		n, err := p.Read(chunk)
		if err != nil {
			return out, err
		}
		buf = append(buf, chunk[:n]...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			line := strings.TrimRight(string(buf[:i]), "\r")
			buf = buf[i+1:]
			switch {
			case line == "OK" || line == "ERROR" || strings.HasPrefix(line, "+CME ERROR"):
				return append(out, line), nil
			case prefix != "" && strings.HasPrefix(line, prefix):
				out = append(out, line)
			}
		}
	}
	return out, fmt.Errorf("no final result within %s", timeout)
}
