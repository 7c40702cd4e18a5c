package engine

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPauseProgramFormat: the program of each architecture is an ELF
// executable for it whose entry point is in its one loaded segment.
func TestPauseProgramFormat(t *testing.T) {
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		prog, err := pauseProgram(arch)
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(bytes.NewReader(prog))
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if f.Machine != machine || f.Type != elf.ET_EXEC || len(f.Progs) != 1 {
			t.Fatalf("%s: machine %v, type %v, %d segments", arch, f.Machine, f.Type, len(f.Progs))
		}
		p := f.Progs[0]
		if p.Type != elf.PT_LOAD || p.Filesz != uint64(len(prog)) || f.Entry < p.Vaddr || f.Entry >= p.Vaddr+p.Filesz || f.Entry%4 != 0 {
			t.Errorf("%s: entry %#x outside the segment %+v", arch, f.Entry, p.ProgHeader)
		}
	}
	if _, err := pauseProgram("mips"); !errors.Is(err, errNoPause) {
		t.Errorf("pauseProgram(mips) = %v, want errNoPause", err)
	}
}

// TestPauseProgramWaits runs this machine's program: it waits (asleep in
// the kernel) until a signal ends it.
func TestPauseProgramWaits(t *testing.T) {
	prog, err := pauseProgram(runtime.GOARCH)
	if err != nil {
		t.Skip(err)
	}
	path := filepath.Join(t.TempDir(), pauseFile)
	if err := os.WriteFile(path, prog, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Asleep ("S") in /proc: it runs and waits rather than exiting or
	// spinning.
	stat := func() string {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat")
		if _, rest, ok := strings.Cut(string(b), ") "); ok {
			return rest[:1]
		}
		return ""
	}
	deadline := time.Now().Add(30 * time.Second)
	for stat() != "S" && time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("the pause program exited: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if s := stat(); s != "S" {
		t.Fatalf("the pause program's state is %q, want S (waiting)", s)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err = <-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("after SIGTERM: %v, want ended by the signal", err)
	}
}
