package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// etcdPrefix is the API server's default --etcd-prefix.
const etcdPrefix = "/registry"

// EtcdWriter puts Kubernetes objects straight into the API server's etcd,
// encoded as the API server stores them (protobuf of the storage version,
// under /registry/RESOURCE/NAMESPACE/NAME). It exists for bulk loads: the
// API server's admission and validation of 100k Pods take a quarter of an
// hour on two cores, etcd takes seconds. The API server serves the objects
// through its watch of etcd as if they had been created through it; they
// must be complete and valid, since nothing defaults or checks them.
type EtcdWriter struct {
	url    string
	client *http.Client
	codec  *protobuf.Serializer
}

// NewEtcdWriter writes to the etcd whose client URL is url (http://HOST:PORT),
// through etcd's JSON gateway (/v3/kv/put), with up to conns connections.
func NewEtcdWriter(url string, conns int) *EtcdWriter {
	return &EtcdWriter{
		url:    strings.TrimSuffix(url, "/"),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns}},
		codec:  protobuf.NewSerializer(nil, nil),
	}
}

// Put stores obj (its TypeMeta set) under /registry/resource/namespace/name.
func (w *EtcdWriter) Put(ctx context.Context, resource, namespace, name string, obj runtime.Object) error {
	var value bytes.Buffer
	if err := w.codec.EncodeWithAllocator(obj, &value, &runtime.Allocator{}); err != nil {
		return fmt.Errorf("etcd put %s %s/%s: encode: %w", resource, namespace, name, err)
	}
	key := fmt.Sprintf("%s/%s/%s/%s", etcdPrefix, resource, namespace, name)
	body, err := json.Marshal(map[string]string{
		"key":   base64.StdEncoding.EncodeToString([]byte(key)),
		"value": base64.StdEncoding.EncodeToString(value.Bytes()),
	})
	if err != nil {
		return fmt.Errorf("etcd put %s: %w", key, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url+"/v3/kv/put", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("etcd put %s: %w", key, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("etcd put %s: %w", key, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd put %s: status %d: %s", key, resp.StatusCode, reply)
	}
	return nil
}

// Close releases the writer's connections.
func (w *EtcdWriter) Close() { w.client.CloseIdleConnections() }

// ChildEtcdURL finds the etcd of the kube-apiserver that this process
// started (a child whose command line has --etcd-servers) and returns its
// first client URL. Only children of this process are considered, so a
// cluster of another test is never touched.
func ChildEtcdURL() (string, error) {
	procs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return "", fmt.Errorf("etcd url: %w", err)
	}
	self := os.Getpid()
	for _, stat := range procs {
		data, err := os.ReadFile(stat)
		if err != nil {
			continue
		}
		if _, ppid, _, err := parseStat(data); err != nil || ppid != self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(filepath.Dir(stat), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "kube-apiserver" {
			continue
		}
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--etcd-servers="); ok {
				return strings.Split(v, ",")[0], nil
			}
		}
	}
	return "", errors.New("etcd url: no kube-apiserver child with --etcd-servers")
}
