package faketool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseHex(t *testing.T) {
	uicr := []byte{0xAA, 0xBB, 0xCC, 0xDD}
	mixed := makeHex(map[uint32][]byte{0: pattern(100, 1), 0x1000: pattern(8, 2), 0x00FF8000: uicr})
	tests := []struct {
		name     string
		file     string
		wantErr  string
		size     int
		pages    int
		segments int
		fits     bool
	}{
		{"two pages and UICR", string(mixed), "", 112, 3, 3, true},
		{"contiguous records merge", string(makeHex(map[uint32][]byte{0x10: pattern(64, 0)})), "", 64, 1, 1, true},
		{"crossing a page", string(makeHex(map[uint32][]byte{0x0FF8: pattern(16, 0)})), "", 16, 2, 1, true},
		{"LF endings and blank lines", ":0400000001020304F2\n\n:00000001FF\n", "", 4, 1, 1, true},
		{"extended segment address", ":020000021000EC\n:0100000042BD\n:00000001FF\n", "", 1, 1, 1, true},
		{"start linear address ignored", ":0400000500000131C5\n:0100000042BD\n:00000001FF", "", 1, 1, 1, true},
		{"outside nRF91", string(makeHex(map[uint32][]byte{0x0010_0000: pattern(4, 0)})), "", 4, 1, 1, false},
		{"straddles flash end", string(makeHex(map[uint32][]byte{0x000F_FFFC: pattern(8, 0)})), "", 8, 2, 1, false},
		{"bad checksum", ":0100000042BE\n:00000001FF\n", "checksum", 0, 0, 0, false},
		{"no colon", "0100000042BD\n:00000001FF\n", "':'", 0, 0, 0, false},
		{"odd digits", ":0100000042B\n:00000001FF\n", "not hex", 0, 0, 0, false},
		{"count mismatch", ":0200000042BC\n:00000001FF\n", "byte count", 0, 0, 0, false},
		{"no EOF", ":0100000042BD\n", "end-of-file", 0, 0, 0, false},
		{"record after EOF", ":00000001FF\n:0100000042BD\n", "after end", 0, 0, 0, false},
		{"no data", ":00000001FF\n", "no data", 0, 0, 0, false},
		{"overlap", ":0100000042BD\n:0100000043BC\n:00000001FF\n", "twice", 0, 0, 0, false},
		{"unknown type", ":0100000642B7\n:00000001FF\n", "unknown record type", 0, 0, 0, false},
		{"bad ext linear length", ":0100000401FA\n:00000001FF\n", "must hold 2", 0, 0, 0, false},
		{"EOF with data", ":0100000142BC\n", "must hold 0", 0, 0, 0, false},
		{"beyond 32 bits", ":02000004FFFFFC\n:02FFFF000102FD\n:00000001FF\n", "32-bit", 0, 0, 0, false},
		{"empty file", "", "end-of-file", 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im, err := parseHex([]byte(tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if im.size != tt.size || im.pages != tt.pages || len(im.segments) != tt.segments || im.fitsNRF91() != tt.fits {
				t.Errorf("size %d pages %d segments %d fits %v; want %d %d %d %v",
					im.size, im.pages, len(im.segments), im.fitsNRF91(), tt.size, tt.pages, tt.segments, tt.fits)
			}
			sum := sha256.Sum256([]byte(tt.file))
			if im.sha256 != hex.EncodeToString(sum[:]) {
				t.Errorf("sha256 %s is not the file's", im.sha256)
			}
		})
	}
}

func TestParseHexKeepsData(t *testing.T) {
	data := pattern(300, 9)
	im, err := parseHex(makeHex(map[uint32][]byte{0x2000: data, 0x00FF8000: {1, 2, 3, 4}}))
	if err != nil {
		t.Fatal(err)
	}
	if im.segments[0].addr != 0x2000 || !bytes.Equal(im.segments[0].data, data) {
		t.Errorf("first segment at %#x, %d bytes", im.segments[0].addr, len(im.segments[0].data))
	}
	addr, want, got := im.mismatch()
	if addr != 0x2047 || want != data[0x47] || got != data[0x47]^2 {
		t.Errorf("mismatch %#x %#x %#x", addr, want, got)
	}
}

// FuzzParseHex: the parser never panics, and what it accepts is
// self-consistent: sorted, non-overlapping, non-empty segments whose sizes
// add up, and re-encoding them parses to the same image.
func FuzzParseHex(f *testing.F) {
	f.Add([]byte(":0100000042BD\n:00000001FF\n"))
	f.Add(makeHex(map[uint32][]byte{0: pattern(40, 1), 0x00FF8000: pattern(4, 2)}))
	f.Add([]byte(":020000021000EC\r\n:0100000042BD\r\n:00000001FF\r\n"))
	f.Add([]byte(":02000004FFFFFC\n:02FFFF000102FD\n:00000001FF\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		im, err := parseHex(file)
		if err != nil {
			return
		}
		total := 0
		segs := map[uint32][]byte{}
		for i, s := range im.segments {
			if len(s.data) == 0 {
				t.Fatalf("empty segment %d", i)
			}
			if i > 0 && uint64(s.addr) <= im.segments[i-1].end() {
				t.Fatalf("segment %d at %#x not after the previous one (ends %#x)", i, s.addr, im.segments[i-1].end())
			}
			total += len(s.data)
			segs[s.addr] = s.data
		}
		if total != im.size || im.pages < 1 || im.pages > im.size {
			t.Fatalf("size %d (sum %d) pages %d", im.size, total, im.pages)
		}
		again, err := parseHex(makeHex(segs))
		if err != nil {
			t.Fatalf("re-encoded image does not parse: %v", err)
		}
		if again.size != im.size || again.pages != im.pages || len(again.segments) != len(im.segments) {
			t.Fatalf("re-encoded image differs: %+v vs %+v", again, im)
		}
	})
}

// TestParseHexOutOfOrder: records in any order give the same bytes as the
// file in address order — segments that grow in the parser's array and
// segments merged after sorting must not overwrite each other.
func TestParseHexOutOfOrder(t *testing.T) {
	data := pattern(16*6, 5)
	rec := func(i int) string { return hexRecord(0, uint16(16*i), data[16*i:16*i+16]) }
	for _, order := range [][]int{{0, 1, 2, 3, 4, 5}, {3, 4, 5, 0, 1, 2}, {5, 4, 3, 2, 1, 0}, {1, 0, 3, 2, 5, 4}, {2, 0, 1, 5, 3, 4}} {
		var lines []string
		for _, i := range order {
			lines = append(lines, rec(i))
		}
		im, err := parseHex([]byte(strings.Join(append(lines, ":00000001FF"), "\n") + "\n"))
		if err != nil {
			t.Fatalf("order %v: %v", order, err)
		}
		if len(im.segments) != 1 || im.segments[0].addr != 0 || !bytes.Equal(im.segments[0].data, data) {
			t.Errorf("order %v: %d segments, first %d bytes at %#x, want one of %d bytes at 0 with the data",
				order, len(im.segments), len(im.segments[0].data), im.segments[0].addr, len(data))
		}
	}
}
