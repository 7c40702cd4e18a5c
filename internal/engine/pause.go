package engine

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

var errNoPause = errors.New("cove has no pause program for docker on this machine's architecture (amd64 and arm64 have one); use podman")

// pauseProgram is a static Linux executable for arch that waits for
// signals for ever: the process of docker's infra container, which holds the
// pod's network namespace. It is a few bytes of machine code in an ELF
// file, so cove (which may be linked dynamically) needs no image to pull
// and no build of its own for it.
func pauseProgram(arch string) ([]byte, error) {
	var machine elf.Machine
	var code []byte
	switch arch {
	case "amd64":
		machine = elf.EM_X86_64
		code = []byte{
			0xb8, 0x22, 0x00, 0x00, 0x00, // loop: mov eax, 34 (pause)
			0x0f, 0x05, // syscall
			0xeb, 0xf7, // jmp loop
		}
	case "arm64":
		machine = elf.EM_AARCH64
		for _, insn := range []uint32{
			0xd2800000, // loop: mov x0, #0 (no descriptors)
			0xd2800001, // mov x1, #0
			0xd2800002, // mov x2, #0 (no timeout)
			0xd2800003, // mov x3, #0 (no signal mask)
			0xd2800928, // mov x8, #73 (ppoll; arm64 has no pause)
			0xd4000001, // svc #0
			0x17fffffa, // b loop
		} {
			code = binary.LittleEndian.AppendUint32(code, insn)
		}
	default:
		return nil, fmt.Errorf("%w (this one is %s)", errNoPause, arch)
	}
	const base = 0x400000
	headers := uint64(binary.Size(elf.Header64{}) + binary.Size(elf.Prog64{}))
	size := headers + uint64(len(code))
	h := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Entry: base + headers, Phoff: uint64(binary.Size(elf.Header64{})),
		Ehsize: uint16(binary.Size(elf.Header64{})), Phentsize: uint16(binary.Size(elf.Prog64{})), Phnum: 1,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	p := elf.Prog64{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Vaddr: base, Paddr: base, Filesz: size, Memsz: size, Align: 0x1000,
	}
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.LittleEndian, h)
	_ = binary.Write(&buf, binary.LittleEndian, p)
	buf.Write(code)
	return buf.Bytes(), nil
}
