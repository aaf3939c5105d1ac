package faketool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"nrfline/sim/flashctl"
)

// segment is a contiguous run of image data.
type segment struct {
	addr uint32
	data []byte
}

func (s segment) end() uint64 { return uint64(s.addr) + uint64(len(s.data)) }

// image is a parsed Intel HEX file: sorted, merged, non-overlapping segments.
//
// This parser is apart from flash's (flash/hex.go) on purpose: the fake
// tool plays nrfjprog / nRF Util and must judge a file the way they do,
// independently of the station's own check, or a bug in one parser would
// pass the station's image through its own twin unnoticed.
type image struct {
	segments []segment
	size     int    // data bytes
	pages    int    // distinct 4 KiB pages touched
	sha256   string // of the file bytes, lowercase hex
}

func (im image) flashctl() *flashctl.Image {
	return &flashctl.Image{Size: im.size, Pages: im.pages, SHA256: im.sha256}
}

// Intel HEX record types.
const (
	recData        = 0x00
	recEOF         = 0x01
	recExtSegment  = 0x02
	recStartSeg    = 0x03
	recExtLinear   = 0x04
	recStartLinear = 0x05
)

// parseHex parses an Intel HEX file strictly: every non-blank line is a
// record with a valid checksum, an EOF record ends the file, at least one
// data byte is present and no address is written twice.
//
// Every record is decoded in a small buffer and its data appended to one
// array sized for the whole file (a data byte takes two characters of it,
// so the array never grows); a record that continues the previous one
// extends its segment in place. A megabyte of HEX in address order thus
// costs two allocations and no copies beyond the decoding: the fake tool
// runs once per flash, and on the virtual line its CPU counts in the
// station's per unit.
func parseHex(file []byte) (image, error) {
	p := hexParser{data: make([]byte, 0, len(file)/2)}
	var raw [5 + 255]byte // the longest record: count, address, type, 255 data bytes, checksum
	for i, rest := 0, file; len(rest) > 0; i++ {
		line := rest
		if n := bytes.IndexByte(rest, '\n'); n >= 0 {
			line, rest = rest[:n], rest[n+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if p.eof {
			return image{}, fmt.Errorf("line %d: record after end of file", i+1)
		}
		rec, err := decodeRecord(line, raw[:])
		if err != nil {
			return image{}, fmt.Errorf("line %d: %w", i+1, err)
		}
		if err := p.apply(rec); err != nil {
			return image{}, fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	if !p.eof {
		return image{}, errors.New("no end-of-file record")
	}
	return buildImage(file, p.segs)
}

type record struct {
	typ    byte
	offset uint16
	data   []byte
}

// decodeRecord decodes one record into buf (its data stays there,
// referenced by the record).
func decodeRecord(line, buf []byte) (record, error) {
	if line[0] != ':' {
		return record{}, errors.New("record does not start with ':'")
	}
	n := hex.DecodedLen(len(line) - 1)
	if n > len(buf) {
		return record{}, errors.New("record length does not match its byte count")
	}
	raw := buf[:n]
	if _, err := hex.Decode(raw, line[1:]); err != nil {
		return record{}, fmt.Errorf("record is not hex: %w", err)
	}
	if len(raw) < 5 || len(raw) != int(raw[0])+5 {
		return record{}, errors.New("record length does not match its byte count")
	}
	var sum byte
	for _, b := range raw {
		sum += b
	}
	if sum != 0 {
		return record{}, errors.New("record checksum mismatch")
	}
	return record{typ: raw[3], offset: uint16(raw[1])<<8 | uint16(raw[2]), data: raw[4 : len(raw)-1]}, nil
}

// hexParser folds records into segments.
type hexParser struct {
	segs []segment
	data []byte // every data byte in file order; segments are slices of it
	base uint32 // from the last extended address record
	eof  bool
}

// apply folds one record into the segments and the address base.
func (p *hexParser) apply(r record) error {
	switch r.typ {
	case recData:
		addr := uint64(p.base) + uint64(r.offset)
		if addr+uint64(len(r.data)) > 1<<32 {
			return errors.New("data beyond the 32-bit address space")
		}
		if len(r.data) > 0 {
			p.addData(uint32(addr), r.data)
		}
		return nil
	case recEOF:
		p.eof = true
		return wantLen(r, 0)
	case recExtSegment:
		p.base = uint32(be16(r.data)) << 4
		return wantLen(r, 2)
	case recExtLinear:
		p.base = uint32(be16(r.data)) << 16
		return wantLen(r, 2)
	case recStartSeg, recStartLinear:
		return wantLen(r, 4)
	default:
		return fmt.Errorf("unknown record type %02X", r.typ)
	}
}

// addData appends b at addr: the last segment grows when b continues it
// in address and in the array (its bytes were the last ones appended).
func (p *hexParser) addData(addr uint32, b []byte) {
	start := len(p.data)
	p.data = append(p.data, b...)
	if n := len(p.segs); n > 0 {
		last := &p.segs[n-1]
		if last.end() == uint64(addr) && &last.data[len(last.data)-1] == &p.data[start-1] {
			last.data = p.data[start-len(last.data):]
			return
		}
	}
	p.segs = append(p.segs, segment{addr: addr, data: p.data[start:]})
}

func wantLen(r record, n int) error {
	if len(r.data) != n {
		return fmt.Errorf("record type %02X must hold %d bytes, holds %d", r.typ, n, len(r.data))
	}
	return nil
}

func be16(b []byte) uint16 {
	if len(b) < 2 {
		return 0
	}
	return uint16(b[0])<<8 | uint16(b[1])
}

// buildImage sorts and merges the segments, rejects overlaps and counts size
// and pages.
func buildImage(file []byte, segs []segment) (image, error) {
	if len(segs) == 0 {
		return image{}, errors.New("no data records")
	}
	byAddr := func(a, b segment) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	}
	if !slices.IsSortedFunc(segs, byAddr) { // tools write in address order
		slices.SortStableFunc(segs, byAddr)
	}
	// Clipped, so that merging two segments copies them instead of
	// writing over the bytes that follow in the parser's array.
	merged := []segment{{addr: segs[0].addr, data: slices.Clip(segs[0].data)}}
	for _, s := range segs[1:] {
		last := &merged[len(merged)-1]
		switch {
		case uint64(s.addr) < last.end():
			return image{}, fmt.Errorf("data at 0x%08X written twice", s.addr)
		case uint64(s.addr) == last.end():
			last.data = append(last.data, s.data...)
		default:
			merged = append(merged, segment{addr: s.addr, data: slices.Clip(s.data)})
		}
	}
	sum := sha256.Sum256(file)
	im := image{segments: merged, sha256: hex.EncodeToString(sum[:])}
	lastPage := int64(-1)
	for _, s := range merged {
		im.size += len(s.data)
		first, last := int64(s.addr)/flashctl.PageSize, (int64(s.end())-1)/flashctl.PageSize
		if first <= lastPage {
			first = lastPage + 1
		}
		if last >= first {
			im.pages += int(last - first + 1)
		}
		lastPage = max(lastPage, last)
	}
	return im, nil
}

// fitsNRF91 reports whether every byte lies in nRF91 flash (1 MiB) or in
// the UICR page.
func (im image) fitsNRF91() bool {
	regions := [...]struct{ start, end uint64 }{
		{0x0000_0000, 0x0010_0000},
		{0x00FF_8000, 0x00FF_9000},
	}
	for _, s := range im.segments {
		ok := false
		for _, r := range regions {
			if uint64(s.addr) >= r.start && s.end() <= r.end {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// mismatch picks the byte a failed verify reports: in the first segment,
// at offset 0x47 when it is that long (the reference's example).
func (im image) mismatch() (addr uint32, want, got byte) {
	s := im.segments[0]
	off := min(0x47, len(s.data)-1)
	want = s.data[off]
	return s.addr + uint32(off), want, want ^ 0x02
}
