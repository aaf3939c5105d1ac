package flash

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"nrfline/station"
)

// maxImageFile bounds the file CheckImage reads: 1 MiB of flash plus UICR
// is under 3 MiB as Intel HEX, so anything near this is not an nRF91 image.
const maxImageFile = 32 << 20

// nRF91 address ranges an application image may write. From the nRF9160 and
// nRF9151 Product Specifications, "Memory" chapter / memory map: 1 MiB of
// flash at 0x0000_0000 and the UICR block at 0x00FF_8000 (4 KiB). Anything
// else (RAM at 0x2000_0000, peripherals, FICR at 0x00FF_0000) is refused.
func nrf91Ranges() [2][2]uint64 {
	return [2][2]uint64{
		{0x0000_0000, 0x000F_FFFF}, // application flash (inclusive)
		{0x00FF_8000, 0x00FF_8FFF}, // UICR
	}
}

// ImageError is a problem with the firmware file, naming the file and,
// when it is about one record, the line (1-based).
type ImageError struct {
	File string
	Line int
	Msg  string
	Err  error
}

func (e *ImageError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap keeps the cause (an *fs.PathError, say) reachable.
func (e *ImageError) Unwrap() error { return e.Err }

// Image is the content of an Intel HEX file.
type Image struct {
	Segments []Segment // in address order, non-overlapping, adjacent runs merged
	Size     int       // data bytes
}

// WritesUICR reports whether any data lies in the UICR block.
func (img *Image) WritesUICR() bool {
	uicr := nrf91Ranges()[1]
	for _, s := range img.Segments {
		if uint64(s.Addr)+uint64(len(s.Data)) > uicr[0] && uint64(s.Addr) <= uicr[1] {
			return true
		}
	}
	return false
}

// Segment is a contiguous run of data.
type Segment struct {
	Addr uint32
	Data []byte
}

// CheckImage checks the firmware before any unit is touched: the file must
// be a valid Intel HEX whose every data byte lies in an nRF91 range, and,
// when pinnedSHA256 is set, its SHA-256 must match. Size is the number of
// data bytes; SHA256 is the lowercase hex digest of the file's bytes.
func CheckImage(path, pinnedSHA256 string) (station.Firmware, error) {
	pin := strings.ToLower(strings.TrimSpace(pinnedSHA256))
	if pin != "" {
		if _, err := hex.DecodeString(pin); err != nil || len(pin) != 64 {
			return station.Firmware{}, &ImageError{File: path, Msg: fmt.Sprintf("firmware.sha256 %q is not 64 hex digits", pinnedSHA256)}
		}
	}
	src, err := readImage(path)
	if err != nil {
		return station.Firmware{}, err
	}
	sum := sha256.Sum256(src)
	digest := hex.EncodeToString(sum[:])
	if pin != "" && digest != pin {
		return station.Firmware{}, &ImageError{File: path, Msg: fmt.Sprintf("sha256 is %s but firmware.sha256 pins %s: not the pinned firmware", digest, pin)}
	}
	img, err := ParseHex(path, src)
	if err != nil {
		return station.Firmware{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return station.Firmware{}, &ImageError{File: path, Msg: "resolve path", Err: err}
	}
	return station.Firmware{Path: abs, Name: filepath.Base(path), SHA256: digest, Size: img.Size, UICR: img.WritesUICR()}, nil
}

func readImage(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ImageError{File: path, Msg: "open firmware", Err: err}
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, &ImageError{File: path, Msg: "stat firmware", Err: err}
	}
	if !info.Mode().IsRegular() {
		return nil, &ImageError{File: path, Msg: "not a regular file"}
	}
	src, err := io.ReadAll(io.LimitReader(f, maxImageFile+1))
	if err != nil {
		return nil, &ImageError{File: path, Msg: "read firmware", Err: err}
	}
	if len(src) > maxImageFile {
		return nil, &ImageError{File: path, Msg: fmt.Sprintf("larger than %d MiB: not an nRF91 application image", maxImageFile>>20)}
	}
	return src, nil
}

// Intel HEX record types (Intel Hexadecimal Object File Format Spec. rev. A).
const (
	recData        = 0x00
	recEOF         = 0x01
	recExtSegment  = 0x02
	recStartSeg    = 0x03
	recExtLinear   = 0x04
	recStartLinear = 0x05
)

// record is one data record's place in the image.
type record struct {
	addr uint64
	data []byte
	line int
}

// hexParser holds the state of one parse.
type hexParser struct {
	name    string
	base    uint64 // from the last 02 or 04 record
	records []record
	eof     bool
}

// ParseHex parses an Intel HEX file (name is used in errors). Every line is
// a record ":" + hex pairs with a valid count and checksum; types 00–05 are
// accepted; the EOF record is required and nothing but empty lines may
// follow it; a record may not run past the end of its 64 KiB window; data
// may not overlap; every data byte must lie in an nRF91 range. The virtual
// line's fake tools parse HEX with their own code (sim/faketool/hex.go) on
// purpose: they stand in for the real tools, independently of this check.
func ParseHex(name string, src []byte) (*Image, error) {
	p := &hexParser{name: name}
	lines := bytes.Split(src, []byte("\n"))
	for i, raw := range lines {
		line := bytes.TrimSuffix(raw, []byte("\r"))
		n := i + 1
		if p.eof {
			if len(line) > 0 {
				return nil, p.errf(n, "content after the end-of-file record")
			}
			continue
		}
		if len(line) == 0 {
			if i == len(lines)-1 {
				break // the file's final newline
			}
			return nil, p.errf(n, "empty line before the end-of-file record")
		}
		if err := p.line(n, line); err != nil {
			return nil, err
		}
	}
	if !p.eof {
		return nil, p.errf(0, "no end-of-file record (:00000001FF): file truncated?")
	}
	return p.image()
}

func (p *hexParser) errf(line int, format string, args ...any) error {
	return &ImageError{File: p.name, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// line decodes and applies one record.
func (p *hexParser) line(n int, line []byte) error {
	if line[0] != ':' {
		return p.errf(n, "record does not start with ':'")
	}
	body := line[1:]
	if len(body)%2 != 0 || len(body) < 10 {
		return p.errf(n, "record has %d hex digits: too short or odd", len(body))
	}
	rec := make([]byte, len(body)/2)
	if _, err := hex.Decode(rec, body); err != nil {
		return p.errf(n, "record is not hexadecimal: %v", err)
	}
	count := int(rec[0])
	if len(rec) != count+5 {
		return p.errf(n, "byte count %d does not match the record's %d data bytes", count, len(rec)-5)
	}
	var sum byte
	for _, b := range rec {
		sum += b
	}
	if sum != 0 {
		want := -(sum - rec[len(rec)-1])
		return p.errf(n, "checksum 0x%02X, expected 0x%02X", rec[len(rec)-1], want)
	}
	offset := uint64(rec[1])<<8 | uint64(rec[2])
	return p.apply(n, rec[3], offset, rec[4:len(rec)-1])
}

// apply interprets one record of type typ.
func (p *hexParser) apply(n int, typ byte, offset uint64, data []byte) error {
	if w, ok := fixedLength(typ); ok && len(data) != w {
		return p.errf(n, "record type %02X must carry %d data bytes, has %d", typ, w, len(data))
	}
	switch typ {
	case recData:
		return p.data(n, offset, data)
	case recEOF:
		p.eof = true
	case recExtSegment:
		p.base = (uint64(data[0])<<8 | uint64(data[1])) << 4
	case recExtLinear:
		p.base = (uint64(data[0])<<8 | uint64(data[1])) << 16
	case recStartSeg, recStartLinear:
		// The start address is for a CPU loader; the nRF91 boots from its
		// vector table, so it is accepted and not used.
	default:
		return p.errf(n, "unknown record type %02X (only 00–05 exist)", typ)
	}
	return nil
}

// data records one data record after checking its place.
func (p *hexParser) data(n int, offset uint64, data []byte) error {
	if len(data) == 0 {
		return p.errf(n, "data record without data")
	}
	if offset+uint64(len(data)) > 0x1_0000 {
		return p.errf(n, "data record runs past the end of its 64 KiB window (offset 0x%04X, %d bytes)", offset, len(data))
	}
	addr := p.base + offset
	last := addr + uint64(len(data)) - 1
	if !inNRF91(addr, last) {
		return p.errf(n, "data at 0x%08X–0x%08X is outside the nRF91's flash (0x00000000–0x000FFFFF) and UICR (0x00FF8000–0x00FF8FFF)", addr, last)
	}
	p.records = append(p.records, record{addr: addr, data: data, line: n})
	return nil
}

// fixedLength is the data length a non-data record must have.
func fixedLength(typ byte) (int, bool) {
	switch typ {
	case recEOF:
		return 0, true
	case recExtSegment, recExtLinear:
		return 2, true
	case recStartSeg, recStartLinear:
		return 4, true
	}
	return 0, false
}

func inNRF91(first, last uint64) bool {
	for _, r := range nrf91Ranges() {
		if first >= r[0] && last <= r[1] {
			return true
		}
	}
	return false
}

// image sorts the records, refuses overlaps and merges adjacent runs.
func (p *hexParser) image() (*Image, error) {
	if len(p.records) == 0 {
		return nil, p.errf(0, "no data records: the image is empty")
	}
	recs := slices.Clone(p.records)
	slices.SortStableFunc(recs, func(a, b record) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	})
	img := &Image{}
	end := uint64(0)
	prevLine := 0
	for i, r := range recs {
		if i > 0 && r.addr < end {
			line, other := max(r.line, prevLine), min(r.line, prevLine)
			return nil, p.errf(line, "data at 0x%08X overlaps data written by line %d", r.addr, other)
		}
		img.Size += len(r.data)
		if k := len(img.Segments) - 1; i > 0 && r.addr == end {
			img.Segments[k].Data = append(img.Segments[k].Data, r.data...)
		} else {
			img.Segments = append(img.Segments, Segment{Addr: uint32(r.addr), Data: slices.Clone(r.data)})
		}
		end = r.addr + uint64(len(r.data))
		prevLine = r.line
	}
	return img, nil
}
