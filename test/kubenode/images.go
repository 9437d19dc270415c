package kubenode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/clusterdns/clusterdns/test/childproc"
	"github.com/clusterdns/clusterdns/test/kubecluster"
)

// importImages loads every OCI archive of the image directory into the
// node's containerd (namespace k8s.io, where kubelet's pods find them). With
// no ImageDir the archives are built first by test/images/cmd/buildimages.
func (n *Node) importImages(ctx context.Context) error {
	c := n.Config
	if c.SkipImages {
		return nil
	}
	dir := c.ImageDir
	if dir == "" {
		dir = c.path("images")
		if err := buildImages(ctx, dir, c.path("logs", "buildimages.log"), c.Images); err != nil {
			return err
		}
	}
	return ImportImages(ctx, c, dir)
}

// buildImages runs test/images/cmd/buildimages from the module root.
func buildImages(ctx context.Context, dir, logPath string, only []string) error {
	root, err := kubecluster.ModuleRoot()
	if err != nil {
		return err
	}
	args := []string{"run", "./test/images/cmd/buildimages", "-out", dir}
	if len(only) > 0 {
		args = append(args, "-only", strings.Join(only, ","))
	}
	log, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("build images: %w", err)
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, childproc.Tail(logPath, 30))
	}
	return nil
}

// ImportImages imports every DIR/*.tar into the containerd of the node
// configured by c.
func ImportImages(ctx context.Context, c Config, dir string) error {
	tars, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	if len(tars) == 0 {
		return fmt.Errorf("images: no *.tar in %s", dir)
	}
	for _, tar := range tars {
		if _, err := run(ctx, "ctr", "--address", c.containerdSocket(), "-n", "k8s.io",
			"images", "import", "--all-platforms", tar); err != nil {
			return fmt.Errorf("images: %w", err)
		}
	}
	return nil
}
