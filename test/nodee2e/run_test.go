package nodee2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// kubenodeRun runs a host command and returns its output.
func kubenodeRun(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
