package tests

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeps_packages_link_only_what_their_job_needs: the message contract, the in-process
// broker and the HTTP API link neither go-redis nor Prometheus, and domain/ links no
// Watermill, Redis or AMQP.
func TestDeps_packages_link_only_what_their_job_needs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		Packages  []string
		Forbidden []string
	}{
		{[]string{"./app/envelope"}, []string{"github.com/ThreeDotsLabs/", "github.com/redis/", "github.com/prometheus/", "github.com/rabbitmq/", "github.com/google/"}},
		{[]string{"./app/adapters/inproc", "./app/httpapi"}, []string{"github.com/redis/", "github.com/prometheus/"}},
		{[]string{"./domain/..."}, []string{"github.com/ThreeDotsLabs/", "github.com/redis/", "github.com/rabbitmq/"}},
	} {
		cmd := exec.Command("go", append([]string{"list", "-deps"}, tt.Packages...)...)
		cmd.Dir = ".."
		out, err := cmd.Output()
		require.NoError(t, err)
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range tt.Forbidden {
				assert.False(t, strings.HasPrefix(dep, bad), "%v links %s", tt.Packages, dep)
			}
		}
	}
}
