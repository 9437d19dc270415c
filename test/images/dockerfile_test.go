package images

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestMatchesDockerfile holds the clusterdns images built here in step with
// deploy/Dockerfile, which people with Docker use: same entrypoint, user and
// ports, and a scratch base (the binary alone).
func TestMatchesDockerfile(t *testing.T) {
	f, err := os.Open("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type stage struct {
		from       string
		user       string
		ports      []string
		entrypoint []string
	}
	stages := map[string]*stage{}
	var cur *stage
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "FROM":
			cur = &stage{from: fields[1]}
			if len(fields) == 4 && strings.EqualFold(fields[2], "AS") {
				stages[fields[3]] = cur
			}
		case "USER":
			cur.user = fields[1]
		case "EXPOSE":
			cur.ports = append(cur.ports, fields[1:]...)
		case "ENTRYPOINT":
			arg := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "ENTRYPOINT"))
			if err := json.Unmarshal([]byte(arg), &cur.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT %s: %v", arg, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"frontend", "recordsvc"} {
		t.Run(cmd, func(t *testing.T) {
			st, ok := stages[cmd]
			if !ok {
				t.Fatalf("deploy/Dockerfile has no %s stage", cmd)
			}
			cfg := ClusterDNSConfig(cmd)
			// EXPOSE without a protocol means TCP.
			var want []string
			for _, p := range st.ports {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				want = append(want, p)
			}
			got := append([]string(nil), cfg.ExposedPorts...)
			sort.Strings(got)
			sort.Strings(want)
			if st.from != "scratch" || st.user != cfg.User || !reflect.DeepEqual(st.entrypoint, cfg.Entrypoint) || !reflect.DeepEqual(got, want) {
				t.Errorf("Dockerfile stage %+v, image config %+v", *st, cfg)
			}
		})
	}
}
