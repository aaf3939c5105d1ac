package records_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nrfline/records"
	"nrfline/station"
)

// Record a run whose transcript carries the PSK as the modem saw it (a
// producer that forgot to redact), then look for the key in every byte the
// station wrote: the database files, every transcript decompressed, and
// every report.
func TestNoKeyReachesTheFile(t *testing.T) {
	key := station.PSKFromBytes([]byte{0xde, 0xad, 0xbe, 0xef, 0x13, 0x37, 0x42, 0x00, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22})
	dir := t.TempDir()
	path := filepath.Join(dir, "station.db")
	s := mustOpen(t, path)
	f := fixture{id: runID(1), slot: "A1", imei: "352656100367872", started: t0}
	run := f.run()
	run.Verdict.PSKIdentity, run.Verdict.PSKSHA256 = "urn:imei:"+f.imei, key.Fingerprint()
	evs := f.events()
	evs[len(evs)-1].Verdict = &run.Verdict
	leaks := []station.Event{
		{Kind: station.DeviceLine, Dir: station.DirTx, Text: `AT%CMNG=0,100,3,"` + key.Hex() + `"`},
		{Kind: station.DeviceLine, Dir: station.DirTx, Text: `at AT%CMNG=0,100,3,` + strings.ToUpper(key.Hex())},
		{Kind: station.ToolOutput, Text: `%CMNG: 100,3,"` + key.Fingerprint() + `","` + key.Hex() + `"`},
		{Kind: station.Note, Text: "bootstrap credentials stored: psk " + key.String()},
	}
	for i := range leaks {
		leaks[i].Run, leaks[i].Slot, leaks[i].Time = f.id, f.slot, t0
	}
	// the leaks arrive during the inject step
	at := 0
	for i, ev := range evs {
		if ev.Kind == station.StepStarted && ev.Step == station.StepInject {
			at = i + 1
		}
	}
	evs = append(evs[:at:at], append(leaks, evs[at:]...)...)
	recordAll(t, s, evs)
	r := mustReader(t, path)

	blobs := map[string][]byte{}
	tr, err := r.Transcript(context.Background(), f.id)
	if err != nil {
		t.Fatal(err)
	}
	blobs["transcript"] = []byte(tr)
	if !strings.Contains(tr, `AT%CMNG=0,100,3,"<redacted>"`) || !strings.Contains(tr, key.Fingerprint()) {
		t.Errorf("transcript lacks the redacted write or the fingerprint:\n%s", tr)
	}
	for _, format := range []records.Format{records.CSV, records.JSON} {
		var buf bytes.Buffer
		if _, err := r.ExportRuns(context.Background(), &buf, records.Filter{}, format, records.ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		blobs["export "+string(format)] = buf.Bytes()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "station.db*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		blobs[filepath.Base(p)] = b
	}
	secrets := [][]byte{[]byte(key.Hex()), []byte(strings.ToUpper(key.Hex())), key.Bytes(), []byte(hex.EncodeToString(key.Bytes()[:8]))}
	for name, b := range blobs {
		for _, sec := range secrets {
			if bytes.Contains(b, sec) {
				t.Errorf("%s contains the key (%q)", name, sec)
			}
		}
	}
	if !bytes.Contains(blobs["export csv"], []byte(key.Fingerprint())) {
		t.Error("the export lacks the PSK fingerprint the run should keep")
	}
}
