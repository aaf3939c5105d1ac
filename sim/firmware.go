package sim

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

// writeFirmware writes an Intel HEX application image of size data bytes
// at address 0 (nRF91 application flash), like an lwm2m_client build: 16
// data bytes per record, extended linear address records every 64 KiB.
func writeFirmware(path string, size int) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write firmware: %w", err)
	}
	w := bufio.NewWriter(f)
	fill := sha256.Sum256([]byte("lwm2m_client"))
	for addr := 0; addr < size; addr += 16 {
		if addr%0x10000 == 0 {
			hexRecord(w, 0, 0x04, []byte{byte(addr >> 24), byte(addr >> 16)})
		}
		n := min(16, size-addr)
		data := make([]byte, n)
		for i := range data {
			data[i] = fill[(addr+i)%len(fill)] ^ byte((addr+i)>>8)
		}
		hexRecord(w, uint16(addr), 0x00, data)
	}
	hexRecord(w, 0, 0x01, nil)
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write firmware: %w", err)
	}
	return f.Close()
}

func hexRecord(w io.Writer, addr uint16, typ byte, data []byte) {
	sum := byte(len(data)) + byte(addr>>8) + byte(addr) + typ
	fmt.Fprintf(w, ":%02X%04X%02X", len(data), addr, typ)
	for _, b := range data {
		fmt.Fprintf(w, "%02X", b)
		sum += b
	}
	fmt.Fprintf(w, "%02X\n", byte(-int8(sum)))
}
