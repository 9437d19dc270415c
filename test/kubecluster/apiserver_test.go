package kubecluster

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRestartAPIServer(t *testing.T) {
	t.Parallel()
	c := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "survives"},
		Data:       map[string]string{"k": "v"},
	}
	if _, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	c.StopAPIServer(t)
	if _, err := c.Client.CoreV1().ConfigMaps("default").Get(ctx, "survives", metav1.GetOptions{}); err == nil {
		t.Fatal("Get succeeded while the API server was stopped")
	}
	c.StartAPIServer(t)

	got, err := c.Client.CoreV1().ConfigMaps("default").Get(ctx, "survives", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Get after the restart: %v", err)
	}
	if got.Data["k"] != "v" {
		t.Errorf("ConfigMap data after the restart = %v, want k=v", got.Data)
	}

	c.RestartAPIServer(t)
	if _, err := c.Client.CoreV1().ConfigMaps("default").Get(ctx, "survives", metav1.GetOptions{}); err != nil {
		t.Fatalf("Get after RestartAPIServer: %v", err)
	}
}
