// Package probe reads a running dccd from outside, for the programs that watch one (the fault
// suite, the failover proof, the load tools): the lights of /status, samples of /metrics, and the
// processor time and memory of its process.
package probe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DependencyLight is the light of the named dependency on base's /status (its JSON form), or
// what went wrong: "unreachable", "unreadable (status)" or "absent".
func DependencyLight(base, name string, timeout time.Duration) string {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(base + "/status?format=json")
	if err != nil {
		return "unreachable"
	}
	defer resp.Body.Close()
	var page struct {
		Dependencies []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"dependencies"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return fmt.Sprintf("unreadable (%d)", resp.StatusCode)
	}
	for _, d := range page.Dependencies {
		if d.Name == name {
			return d.Status
		}
	}
	return "absent"
}

// Metric is the value of one unlabelled sample on base's /metrics (the line "name value"), or -1
// when it cannot be read.
func Metric(base, name string, timeout time.Duration) float64 {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
				return v
			}
		}
	}
	return -1
}

// ProcessCPU is the user and system time a process on this machine has used so far, from
// /proc/PID/stat (clock ticks of 10 ms, as Linux reports them to user space); 0 when it cannot be
// read.
func ProcessCPU(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may hold anything.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// ProcessMemory is a process's resident set and its peak (VmRSS, VmHWM in /proc/PID/status), in
// bytes.
func ProcessMemory(pid int) (rss, peak int64, err error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	defer f.Close()
	return parseStatus(f)
}

func parseStatus(r io.Reader) (rss, peak int64, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "VmRSS" && name != "VmHWM" {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("unexpected %s line %q", name, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if rss == 0 || peak == 0 {
		return 0, 0, errors.New("no VmRSS and VmHWM in process status")
	}
	return rss, peak, nil
}
