package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/internal/testenv"
)

const (
	clusterSize          = 3
	clusterSlots         = 16384
	clusterCreateTimeout = 30 * time.Second // redis-cli --cluster create
	clusterReadyTimeout  = 20 * time.Second // until every node sees all slots
	clusterPollInterval  = 50 * time.Millisecond
)

// Cluster is a Redis Cluster of three masters and no replicas.
type Cluster struct {
	nodes []*Server
}

// StartCluster starts three cluster-enabled redis-servers, joins them with
// redis-cli --cluster create, and waits until every node reports
// cluster_state:ok and sees all 16384 slots assigned. The nodes are killed
// when the test ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	cli := testenv.Require(t, InstallCommand, "redis-cli")
	c := &Cluster{}
	for range clusterSize {
		c.nodes = append(c.nodes, start(t, func(port int, dir string) []string {
			return []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(port)+".conf"),
				"--cluster-node-timeout", "2000",
			}
		}))
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterCreateTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s%s", strings.Join(args, " "), err, out, c.tails())
	}
	if err := c.waitReady(); err != nil {
		t.Fatalf("redistest: cluster %v: %v%s", c.Addrs(), err, c.tails())
	}
	return c
}

// Addrs returns the nodes' "127.0.0.1:port" addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the cluster's master nodes.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// Client returns a go-redis cluster client, closed when t ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { cc.Close() })
	return cc
}

// waitReady polls every node until each reports cluster_state:ok and a
// CLUSTER SLOTS that covers every slot.
func (c *Cluster) waitReady() error {
	clients := make([]*redis.Client, len(c.nodes))
	for i, n := range c.nodes {
		clients[i] = redis.NewClient(&redis.Options{
			Addr:         n.Addr(),
			DialTimeout:  probeTimeout,
			ReadTimeout:  probeTimeout,
			WriteTimeout: probeTimeout,
			MaxRetries:   -1, // the poll loop retries
		})
		defer clients[i].Close()
	}
	deadline := time.Now().Add(clusterReadyTimeout)
	for {
		err := clusterReady(clients)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", clusterReadyTimeout, err)
		}
		time.Sleep(clusterPollInterval)
	}
}

func clusterReady(clients []*redis.Client) error {
	ctx := context.Background()
	for _, rc := range clients {
		info, err := rc.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s CLUSTER INFO: %w", rc.Options().Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s CLUSTER INFO has no cluster_state:ok:\n%s", rc.Options().Addr, info)
		}
		// Every slot assigned and served, as this node sees the cluster.
		if !strings.Contains(info, "cluster_slots_ok:"+strconv.Itoa(clusterSlots)) {
			return fmt.Errorf("%s CLUSTER INFO does not have all %d slots ok:\n%s", rc.Options().Addr, clusterSlots, info)
		}
	}
	return nil
}

// tails formats every node's output tail for a failure message.
func (c *Cluster) tails() string {
	var b strings.Builder
	for _, n := range c.nodes {
		n.mu.Lock()
		p := n.proc
		n.mu.Unlock()
		if p != nil {
			fmt.Fprintf(&b, "\n--- node %s:%s", n.Addr(), p.out.tailf())
		}
	}
	return b.String()
}
