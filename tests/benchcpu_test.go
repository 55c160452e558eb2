package tests

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// clockTicks is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux).
const clockTicks = 100

// cpuMeter measures the CPU time (user + system) that the test process, RabbitMQ and
// Redis spend between its start and Report, so that a benchmark can say what each order
// cost the machine: on two cores at saturation, the sum is what limits throughput.
// Servers that services.sh did not start (no PID in the environment) are left out.
type cpuMeter struct {
	procs map[string]string // name → /proc/<pid>/stat
	start map[string]float64
}

func newCPUMeter() *cpuMeter {
	m := &cpuMeter{procs: map[string]string{"test": "/proc/self/stat"}, start: map[string]float64{}}
	for name, env := range map[string]string{"rabbitmq": "ORDERFLOW_TEST_RABBITMQ_PID", "redis": "ORDERFLOW_TEST_REDIS_PID"} {
		if pid := os.Getenv(env); pid != "" {
			m.procs[name] = "/proc/" + pid + "/stat"
		}
	}
	for name, path := range m.procs {
		m.start[name] = cpuSeconds(path)
	}
	return m
}

// Report adds, per process, the CPU ms spent per unit of work since the meter started
// ("cpu-ms/order-rabbitmq"), and their sum.
func (m *cpuMeter) Report(b *testing.B, units float64, unit string) {
	b.Helper()
	var total float64
	for name, path := range m.procs {
		spent := cpuSeconds(path) - m.start[name]
		if spent < 0 || units == 0 {
			continue
		}
		ms := spent * 1000 / units
		total += ms
		b.ReportMetric(ms, fmt.Sprintf("cpu-ms/%s-%s", unit, name))
	}
	b.ReportMetric(total, fmt.Sprintf("cpu-ms/%s", unit))
}

// cpuSeconds reads utime + stime from a /proc/<pid>/stat file (0 when it cannot).
func cpuSeconds(path string) float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// The command name in parentheses may hold spaces; the fields after it are fixed.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks
}
