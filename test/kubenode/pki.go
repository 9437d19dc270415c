package kubenode

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// identity is a component's API credential: a bearer token of the API
// server's token file for a user in groups.
type identity struct {
	name   string
	user   string
	groups []string
}

// identities are the node's components as the API server knows them. Each
// gets the user name its bootstrap RBAC roles (or the Node authorizer) expect.
func (c Config) identities() []identity {
	return []identity{
		{name: "admin", user: "admin", groups: []string{"system:masters"}},
		{name: "kubelet", user: "system:node:" + c.NodeName, groups: []string{"system:nodes"}},
		{name: "kube-proxy", user: "system:kube-proxy"},
		{name: "kube-controller-manager", user: "system:kube-controller-manager"},
		{name: "kube-scheduler", user: "system:kube-scheduler"},
	}
}

// pki is the node's certificate authority and the files made from it.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

// writePKI makes a CA, the API server's serving certificate, its kubelet
// client certificate, kubelet's serving certificate, a service-account
// signing key, the token file and a kubeconfig per identity.
func writePKI(c Config) error {
	dir := c.path("pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	p := &pki{dir: dir}
	if err := p.newCA(); err != nil {
		return err
	}
	gw := net.IP(c.Gateway().AsSlice())
	apiIPs := []net.IP{gw, net.IP(c.firstServiceIP().AsSlice()), net.IPv4(127, 0, 0, 1)}
	apiNames := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + c.ClusterDomain, "localhost"}
	if err := p.issue("apiserver", "kube-apiserver", nil, apiNames, apiIPs, x509.ExtKeyUsageServerAuth); err != nil {
		return err
	}
	// kubelet authenticates the API server (logs, exec, the pod proxy) by this
	// client certificate; system:masters passes kubelet's webhook authorizer.
	if err := p.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil, x509.ExtKeyUsageClientAuth); err != nil {
		return err
	}
	if err := p.issue("kubelet", "system:node:"+c.NodeName, []string{"system:nodes"}, []string{c.NodeName}, []net.IP{gw}, x509.ExtKeyUsageServerAuth); err != nil {
		return err
	}
	if err := p.writeKey("service-account.key"); err != nil {
		return err
	}
	var tokens strings.Builder
	for _, id := range c.identities() {
		token, err := randomHex(32)
		if err != nil {
			return err
		}
		// The groups column is left out when empty: an empty one would be
		// read as one group named "".
		fmt.Fprintf(&tokens, "%s,%s,%s", token, id.user, id.user)
		if len(id.groups) > 0 {
			fmt.Fprintf(&tokens, ",%q", strings.Join(id.groups, ","))
		}
		tokens.WriteString("\n")
		if err := p.writeKubeconfig(c, id.name, token); err != nil {
			return err
		}
	}
	return writeSecret(filepath.Join(dir, "tokens.csv"), []byte(tokens.String()))
}

// newCA creates the self-signed CA and writes ca.crt.
func (p *pki) newCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "clusterdns-node-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("pki: CA certificate: %w", err)
	}
	p.caCert, err = x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("pki: CA certificate: %w", err)
	}
	p.caKey = key
	return writeSecret(filepath.Join(p.dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// issue writes NAME.crt and NAME.key, signed by the CA.
func (p *pki) issue(name, cn string, orgs, dnsNames []string, ips []net.IP, usage x509.ExtKeyUsage) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: %s key: %w", name, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return fmt.Errorf("pki: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		return fmt.Errorf("pki: %s certificate: %w", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: %s key: %w", name, err)
	}
	if err := writeSecret(filepath.Join(p.dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return err
	}
	return writeSecret(filepath.Join(p.dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// writeKey writes a fresh private key (the service-account signing key).
func (p *pki) writeKey(name string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: %s: %w", name, err)
	}
	// SEC 1 form: the API server reads the public half of the
	// service-account key from this file, and it knows no PKCS#8 there.
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: %s: %w", name, err)
	}
	return writeSecret(filepath.Join(p.dir, name), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

// writeKubeconfig writes NAME.kubeconfig: the API server on the bridge
// gateway, verified with the CA, and the identity's token.
func (p *pki) writeKubeconfig(c Config, name, token string) error {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.caCert.Raw})
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: clusterdns-node
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: %s@clusterdns-node
  context:
    cluster: clusterdns-node
    user: %s
current-context: %s@clusterdns-node
`, c.APIServerURL(), base64.StdEncoding.EncodeToString(ca), name, token, name, name, name)
	return writeSecret(filepath.Join(p.dir, name+".kubeconfig"), []byte(content))
}

// APIServerURL is the API server on the bridge gateway.
func (c Config) APIServerURL() string {
	return "https://" + net.JoinHostPort(c.Gateway().String(), fmt.Sprint(apiServerPort))
}

// randomHex returns n random bytes in hex.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeSecret writes data with owner-only permissions.
func writeSecret(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}
