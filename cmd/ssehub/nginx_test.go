package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/sse"
)

// nginxInstall installs the reverse proxy the nginx test runs.
const nginxInstall = "apt-get install -y nginx"

// nginxProxy is a real nginx, unprivileged, running docs/nginx.conf in front
// of a fleet: TLS and HTTP/2 on a free loopback port, everything in its own
// directory, in the foreground, logging to stderr.
type nginxProxy struct {
	url    string       // https://127.0.0.1:PORT
	client *http.Client // trusts the proxy's certificate and speaks HTTP/2
	stderr *output
}

// startNginx runs docs/nginx.conf with upstreams as its hubs and waits until
// it answers /readyz through them.
func startNginx(t *testing.T, upstreams []string) *nginxProxy {
	t.Helper()
	// /usr/sbin is not on the PATH of users other than root.
	bin := testenv.Require(t, nginxInstall, "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	certFile, keyFile, cert := selfSignedCert(t, dir)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	writeTestFile(t, filepath.Join(dir, "ssehub.conf"), renderDocsNginx(t, addr, upstreams, certFile, keyFile))
	// The main configuration of a private nginx; the site is the docs' file.
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/ssehub.conf;
}
`, dir)
	writeTestFile(t, filepath.Join(dir, "nginx.conf"), main)

	// -e stderr: nginx opens its compiled-in error log before it reads the
	// configuration, and that path is root's.
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr")
	n := &nginxProxy{url: "https://" + addr, stderr: newOutput()}
	cmd.Stdout, cmd.Stderr = n.stderr, n.stderr
	exited := startChild(t, cmd)

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
		// A stream's head comes at once; a proxy that buffers holds it back.
		ResponseHeaderTimeout: 5 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	n.client = &http.Client{Transport: tr}
	deadline := time.Now().Add(fleetTimeout)
	for {
		resp, err := n.client.Get(n.url + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.ProtoMajor == 2 {
				return n
			}
			err = fmt.Errorf("%s %s", resp.Proto, resp.Status)
		}
		select {
		case <-exited:
			t.Fatalf("nginx exited: %v; stderr:\n%s", cmd.ProcessState, n.stderr)
		case <-time.After(pollInterval):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx: GET /readyz not 200 over HTTP/2 within %v: %v; stderr:\n%s", fleetTimeout, err, n.stderr)
		}
	}
}

// renderDocsNginx returns docs/nginx.conf with the test's address, hubs and
// certificate in place of the examples. Each example must be there: a
// change to the docs that this misses fails the test rather than testing
// something else.
func renderDocsNginx(t *testing.T, listen string, upstreams []string, certFile, keyFile string) string {
	t.Helper()
	raw, err := os.ReadFile("../../docs/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "    server %s;\n", u)
	}
	conf := string(raw)
	for _, r := range [][2]string{
		{"    server 10.0.0.11:8080;\n    server 10.0.0.12:8080;\n", servers.String()},
		{"listen 443 ssl http2;", "listen " + listen + " ssl http2;"},
		{"/etc/ssl/ssehub/fullchain.pem", certFile},
		{"/etc/ssl/ssehub/privkey.pem", keyFile},
	} {
		if strings.Count(conf, r[0]) != 1 {
			t.Fatalf("docs/nginx.conf: %q not found once; update the test with the docs", r[0])
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	return conf
}

// selfSignedCert writes a certificate for 127.0.0.1 and localhost and its
// key to dir.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ssehub nginx test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeTestFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeTestFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})))
	return certFile, keyFile, cert
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// open starts GET /events?query through the proxy, with extra headers, and
// checks it is an HTTP/2 event stream.
func (n *nginxProxy) open(t *testing.T, query string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.url+"/events?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatalf("GET /events?%s through nginx: %v (held back by buffering?); nginx stderr:\n%s", query, err, n.stderr)
	}
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("GET /events?%s through nginx = %s %s %q, want HTTP/2 200 text/event-stream", query, resp.Proto, resp.Status, resp.Header.Get("Content-Type"))
	}
	return resp
}

// connect opens a connection of s through the proxy, resuming from the last
// id s received, as EventSource reconnecting through a load balancer does.
func (n *nginxProxy) connect(t *testing.T, s *subscriber) *sseConn {
	t.Helper()
	var header []string
	if id := s.lastID(); id != "" {
		header = append(header, "Last-Event-ID: "+id)
	}
	resp := n.open(t, s.query, header...)
	c := &sseConn{hub: "nginx", closer: resp.Body, r: sse.NewReader(resp.Body), done: make(chan struct{})}
	s.addConn(c)
	t.Cleanup(c.close)
	return c
}

// arrival is when a stream received the event with an id.
type arrival struct {
	id string
	at time.Time
}

// arrivals reads events from r in its own goroutine and sends each id with
// its arrival time, until the stream ends; the channel is then closed.
func arrivals(r io.Reader) <-chan arrival {
	ch := make(chan arrival, 64)
	go func() {
		defer close(ch)
		rd := sse.NewReader(r)
		for {
			e, err := rd.Next()
			if err != nil {
				return
			}
			ch <- arrival{e.ID, time.Now()}
		}
	}()
	return ch
}

func nextArrival(t *testing.T, ch <-chan arrival, what string) arrival {
	t.Helper()
	select {
	case a, ok := <-ch:
		if !ok {
			t.Fatalf("%s: stream ended", what)
		}
		return a
	case <-time.After(2 * time.Second):
		t.Fatalf("%s: no event within 2s: held back (buffered) on the way?", what)
		return arrival{}
	}
}

// TestNginx runs docs/nginx.conf in a real nginx, with TLS and HTTP/2, in
// front of two hubs on Redis. Events arrive through it unbuffered, as fast
// as directly within a few milliseconds, and a client reconnecting through
// it after each hub has been restarted resumes with every event exactly once.
func TestNginx(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	args := []string{"--redis-url", srv.URL(), "--drain-window", "200ms"}
	hubs := startFleet(t, client, 2, args...)
	proxy := startNginx(t, []string{hubs[0].addr, hubs[1].addr})

	t.Run("unbuffered", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		direct := openStream(t, hubs[0].addr, "topic=latency")
		direct.conn.SetReadDeadline(time.Time{})
		viaResp := proxy.open(t, "topic=latency")
		context.AfterFunc(ctx, func() { direct.conn.Close(); viaResp.Body.Close() })
		fromHub, fromProxy := arrivals(direct.body), arrivals(viaResp.Body)

		// Each event is small and published alone, and must arrive through
		// nginx before the next is published: a buffering proxy would hold
		// it back until more came.
		const events = 30
		var direct1, proxied, extra []time.Duration
		for i := range events {
			start := time.Now()
			p := mustPublish(t, client, hubs[1].addr, "latency", fmt.Sprintf("l%d", i))
			d, v := nextArrival(t, fromHub, "direct"), nextArrival(t, fromProxy, "through nginx")
			if d.id != p.id || v.id != p.id {
				t.Fatalf("event %d: direct got %s, through nginx %s; want %s", i, d.id, v.id, p.id)
			}
			direct1, proxied = append(direct1, d.at.Sub(start)), append(proxied, v.at.Sub(start))
			extra = append(extra, v.at.Sub(d.at))
		}
		slices.Sort(direct1)
		slices.Sort(proxied)
		slices.Sort(extra)
		median := func(ds []time.Duration) time.Duration { return ds[len(ds)/2].Round(10 * time.Microsecond) }
		t.Logf("latency from publish over %d events: direct median %v (max %v), through nginx median %v (max %v); nginx adds median %v, p90 %v",
			events, median(direct1), direct1[events-1].Round(10*time.Microsecond), median(proxied), proxied[events-1].Round(10*time.Microsecond),
			median(extra), extra[events*9/10].Round(10*time.Microsecond))
		if m := median(extra); m > 5*time.Millisecond {
			t.Errorf("nginx adds a median %v to each event's latency, want within 5ms of direct", m)
		}
	})

	t.Run("publish through nginx", func(t *testing.T) {
		resp, err := proxy.client.Post(proxy.url+"/publish", "application/json", strings.NewReader(`{"topic":"via","data":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ IDs []string }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || len(out.IDs) != 1 {
			t.Errorf("POST /publish through nginx = %s %s (%v, %v), want 200 with one id", resp.Proto, resp.Status, out, err)
		}
	})

	t.Run("resume after hub restarts", func(t *testing.T) {
		s := newSubscriber("via nginx", selExact.query, selExact.follows)
		proxy.connect(t, s)
		var evs []published
		publishVia := func(h *fleetHub, n int) {
			for range n {
				evs = append(evs, mustPublish(t, client, h.addr, "fleet/a", fmt.Sprintf("r%d", len(evs))))
			}
		}
		publishVia(hubs[0], 5)
		s.checkAll(t, evs)
		// Restart each hub in turn, so whichever one nginx sent the stream
		// to is restarted; events keep coming through the other.
		for i, h := range hubs {
			other := hubs[1-i]
			if err := h.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			publishVia(other, 3)
			if code := h.proc.wait(t, fleetTimeout); code != 0 {
				t.Fatalf("%s after SIGTERM exit code = %d, want 0; stderr:\n%s", h.name, code, h.proc.stderr)
			}
			publishVia(other, 3) // while it is down
			p, addr := startServing(t, nil, append(args, "--listen", h.addr)...)
			hubs[i] = &fleetHub{name: h.name + "'", addr: addr, proc: p}
			waitReady(t, client, "http://"+addr+"/readyz", fleetTimeout)
			// EventSource reconnects once the retry it was told has passed.
			if c := s.current(); c.ended() {
				retry, _, endedAt, _ := c.retry()
				<-time.After(time.Until(endedAt.Add(retry)))
				proxy.connect(t, s)
				t.Logf("%s restarted; the client reconnected through nginx after %v with Last-Event-ID", h.name, retry)
			}
			publishVia(hubs[i], 2)
		}
		s.checkAll(t, evs)
		if len(s.conns) < 2 {
			t.Errorf("client over %d connection(s) while both hubs restarted, want it to have reconnected", len(s.conns))
		}
	})
}
