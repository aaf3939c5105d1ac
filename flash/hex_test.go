package flash

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// encodeHex writes segments as Intel HEX the way objcopy does: 16-byte data
// records, an 04 record whenever the upper address half changes, records
// cut at 64 KiB windows, then the EOF record.
func encodeHex(segs []Segment) []byte {
	var b bytes.Buffer
	upper := -1
	for _, s := range segs {
		for i := 0; i < len(s.Data); {
			addr := s.Addr + uint32(i)
			if int(addr>>16) != upper {
				upper = int(addr >> 16)
				writeRecord(&b, 0, recExtLinear, []byte{byte(upper >> 8), byte(upper)})
			}
			n := min(16, len(s.Data)-i, 0x10000-int(addr&0xFFFF))
			writeRecord(&b, uint16(addr), recData, s.Data[i:i+n])
			i += n
		}
	}
	writeRecord(&b, 0, recEOF, nil)
	return b.Bytes()
}

func writeRecord(b *bytes.Buffer, offset uint16, typ byte, data []byte) {
	rec := append([]byte{byte(len(data)), byte(offset >> 8), byte(offset), typ}, data...)
	var sum byte
	for _, x := range rec {
		sum += x
	}
	rec = append(rec, -sum)
	fmt.Fprintf(b, ":%s\n", strings.ToUpper(hex.EncodeToString(rec)))
}

// rec builds one record line (checksum computed) for hand-written files.
func rec(offset uint16, typ byte, data ...byte) string {
	var b bytes.Buffer
	writeRecord(&b, offset, typ, data)
	return strings.TrimSuffix(b.String(), "\n")
}

func writeFile(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

const eof = ":00000001FF"

func TestCheckImageValid(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		wantSize int
	}{
		{"objcopy style with UICR", string(encodeHex([]Segment{
			{Addr: 0, Data: bytes.Repeat([]byte{0xAA}, 100)},
			{Addr: 0x0001_FFF8, Data: bytes.Repeat([]byte{0x55}, 20)}, // crosses a 64 KiB window: two records
			{Addr: 0x000F_FFF0, Data: bytes.Repeat([]byte{1}, 16)},    // last bytes of flash
			{Addr: 0x00FF_8000, Data: bytes.Repeat([]byte{2}, 8)},     // UICR
			{Addr: 0x00FF_8FFC, Data: []byte{3, 3, 3, 3}},             // last bytes of UICR
		})), 100 + 20 + 16 + 8 + 4},
		{"extended segment addresses, CRLF, lowercase, start records", strings.Join([]string{
			strings.ToLower(rec(0, recExtSegment, 0x10, 0x00)), // base 0x10000
			rec(0x0010, recData, 1, 2, 3),
			rec(0, recStartSeg, 0, 0, 0, 0),
			rec(0, recStartLinear, 0, 0, 0x12, 0x34),
			eof,
		}, "\r\n") + "\r\n", 3},
		{"no final newline", rec(0, recData, 9) + "\n" + eof, 1},
		{"empty lines after EOF", lines(rec(0, recData, 9), eof, "", ""), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "app.hex", tt.content)
			sum := sha256.Sum256([]byte(tt.content))
			want := hex.EncodeToString(sum[:])
			for _, pin := range []string{"", want, strings.ToUpper(want), " " + want + " "} {
				fw, err := CheckImage(path, pin)
				if err != nil {
					t.Fatalf("pin %q: %v", pin, err)
				}
				if fw.Size != tt.wantSize || fw.SHA256 != want || fw.Name != "app.hex" || !filepath.IsAbs(fw.Path) {
					t.Errorf("pin %q: got %+v, want size %d sha256 %s", pin, fw, tt.wantSize, want)
				}
			}
		})
	}
}

func TestCheckImageInvalid(t *testing.T) {
	data := rec(0, recData, 1, 2, 3, 4)
	badSum := data[:len(data)-2] + "00"
	tests := []struct {
		name     string
		content  string
		wantLine int    // 0: the error names no line
		wantMsg  string // part of the message
	}{
		{"bad checksum", lines(data, badSum, eof), 2, "checksum"},
		{"no colon", lines("00000001FF"), 1, "does not start with ':'"},
		{"not hex", lines(":0G000001FF"), 1, "not hexadecimal"},
		{"odd digits", lines(":00000001F"), 1, "odd"},
		{"too short", lines(":0000"), 1, "too short"},
		{"count mismatch", lines(":0500000001020304F5", eof), 1, "byte count 5"},
		{"unknown type", lines(rec(0, 0x06), eof), 1, "unknown record type 06"},
		{"EOF with data", lines(rec(0, recData, 1), rec(0, recEOF, 1)), 2, "must carry 0"},
		{"04 wrong length", lines(rec(0, recExtLinear, 1), eof), 1, "must carry 2"},
		{"05 wrong length", lines(rec(0, recStartLinear, 1, 2), eof), 1, "must carry 4"},
		{"empty data record", lines(rec(0, recData), eof), 1, "without data"},
		{"missing EOF", lines(data), 0, "no end-of-file record"},
		{"truncated", lines(data, data[:7]), 2, "too short"},
		{"data after EOF", lines(data, eof, data), 3, "after the end-of-file"},
		{"empty line before EOF", lines(data, "", eof), 2, "empty line"},
		{"empty image", lines(eof), 0, "no data records"},
		{"overlap", lines(rec(0x100, recData, 1, 2, 3, 4), rec(0x50, recData, 7), rec(0x102, recData, 9), eof), 3, "overlaps data written by line 1"},
		{"crosses 64 KiB window", lines(rec(0xFFFE, recData, 1, 2, 3), eof), 1, "64 KiB window"},
		{"past flash end", lines(rec(0, recExtLinear, 0x00, 0x10), rec(0, recData, 1), eof), 2, "outside the nRF91"},
		{"record over a window at flash end", lines(rec(0, recExtLinear, 0x00, 0x0F), rec(0xFFFF, recData, 1, 2), eof), 2, "runs past"},
		{"FICR", lines(rec(0, recExtLinear, 0x00, 0xFF), rec(0x0000, recData, 1), eof), 2, "outside the nRF91"},
		{"past UICR", lines(rec(0, recExtLinear, 0x00, 0xFF), rec(0x9000, recData, 1), eof), 2, "outside the nRF91"},
		{"RAM", lines(rec(0, recExtLinear, 0x20, 0x00), rec(0, recData, 1), eof), 2, "0x20000000"},
		{"segment address past flash", lines(rec(0, recExtSegment, 0xFF, 0xFF), rec(0x0010, recData, 1), eof), 2, "0x00100000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "fw.hex", tt.content)
			_, err := CheckImage(path, "")
			var ie *ImageError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want an *ImageError", err)
			}
			if ie.File != path || ie.Line != tt.wantLine || !strings.Contains(ie.Msg, tt.wantMsg) {
				t.Errorf("got %q (line %d), want line %d and %q", err, ie.Line, tt.wantLine, tt.wantMsg)
			}
			prefix := path + ":"
			if tt.wantLine > 0 {
				prefix = fmt.Sprintf("%s:%d:", path, tt.wantLine)
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
		})
	}
}

func TestCheckImageStraddlesFlashEnd(t *testing.T) {
	// Two bytes at 0x000FFFFF..0x00100000: the second is outside flash.
	path := writeFile(t, "fw.hex", lines(rec(0, recExtLinear, 0x00, 0x0F), rec(0xFFFE, recData, 1, 2), eof))
	if _, err := CheckImage(path, ""); err != nil {
		t.Fatalf("0x000FFFFE..0x000FFFFF is flash: %v", err)
	}
	path = writeFile(t, "fw.hex", lines(rec(0, recExtSegment, 0xFF, 0xFF), rec(0x0000, recData, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17), eof))
	_, err := CheckImage(path, "")
	if err == nil || !strings.Contains(err.Error(), "0x000FFFF0–0x00100000") {
		t.Fatalf("got %v, want data straddling the end of flash refused", err)
	}
}

func TestCheckImagePinAndFile(t *testing.T) {
	content := lines(rec(0, recData, 1), eof)
	path := writeFile(t, "app.hex", content)
	other := strings.Repeat("ab", 32)
	tests := []struct {
		name, path, pin, want string
		wantErr               error
	}{
		{"pinned mismatch", path, other, "firmware.sha256 pins " + other, nil},
		{"pin not hex", path, "xyz", "not 64 hex digits", nil},
		{"pin too short", path, "abcd", "not 64 hex digits", nil},
		{"missing file", filepath.Join(t.TempDir(), "none.hex"), "", "open firmware", fs.ErrNotExist},
		{"directory", t.TempDir(), "", "not a regular file", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckImage(tt.path, tt.pin)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), tt.path) {
				t.Fatalf("got %v, want an error naming %s and %q", err, tt.path, tt.want)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("%v does not wrap %v", err, tt.wantErr)
			}
		})
	}
}

func TestCheckImageTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.hex")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxImageFile + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := CheckImage(path, ""); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v, want a size error", err)
	}
}

func TestParseHexSegments(t *testing.T) {
	src := lines(
		rec(0x0010, recData, 5, 6),
		rec(0x0000, recData, 1, 2, 3, 4),
		rec(0x0004, recData, 7), // adjacent to the record above: merged
		rec(0, recExtLinear, 0x00, 0xFF),
		rec(0x8000, recData, 8),
		eof,
	)
	img, err := ParseHex("x.hex", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Segment{{0, []byte{1, 2, 3, 4, 7}}, {0x10, []byte{5, 6}}, {0x00FF8000, []byte{8}}}
	if img.Size != 8 || fmt.Sprint(img.Segments) != fmt.Sprint(want) {
		t.Errorf("got %v size %d, want %v size 8", img.Segments, img.Size, want)
	}
}

// FuzzParseHex: the parser never panics, and whatever it accepts is inside
// the nRF91 ranges, non-overlapping, sized right, and survives a round trip
// through the encoder unchanged.
func FuzzParseHex(f *testing.F) {
	f.Add(encodeHex([]Segment{{Addr: 0, Data: []byte("hello")}, {Addr: 0x00FF8000, Data: []byte{1}}}))
	f.Add([]byte(lines(rec(0, recExtSegment, 0x10, 0x00), rec(0xFFF0, recData, 1, 2), eof)))
	f.Add([]byte(lines(rec(0, recData, 1, 2, 3, 4), rec(2, recData, 9), eof)))
	f.Add([]byte(lines(rec(0, recStartLinear, 0, 0, 0, 0), eof, "")))
	f.Add([]byte(":00000001FF"))
	f.Add([]byte(":0400000501020304ED\r\n:00000001FF\r\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		img, err := ParseHex("fuzz.hex", src)
		if err != nil {
			var ie *ImageError
			if !errors.As(err, &ie) || ie.File != "fuzz.hex" {
				t.Fatalf("error %v is not an *ImageError naming the file", err)
			}
			return
		}
		size := 0
		for i, s := range img.Segments {
			end := uint64(s.Addr) + uint64(len(s.Data))
			if len(s.Data) == 0 || !inNRF91(uint64(s.Addr), end-1) {
				t.Fatalf("segment %d at 0x%08X (%d bytes) outside nRF91 ranges", i, s.Addr, len(s.Data))
			}
			if i > 0 {
				prev := img.Segments[i-1]
				if uint64(prev.Addr)+uint64(len(prev.Data)) >= uint64(s.Addr) {
					t.Fatalf("segments %d and %d overlap or touch unmerged", i-1, i)
				}
			}
			size += len(s.Data)
		}
		if size != img.Size {
			t.Fatalf("Size %d, segments hold %d", img.Size, size)
		}
		again, err := ParseHex("again.hex", encodeHex(img.Segments))
		if err != nil {
			t.Fatalf("re-encoded image rejected: %v", err)
		}
		if fmt.Sprint(again.Segments) != fmt.Sprint(img.Segments) || again.Size != img.Size {
			t.Fatalf("round trip changed the image")
		}
	})
}
