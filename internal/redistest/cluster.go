package redistest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/internal/testenv"
)

const (
	clusterSize          = 3 // masters
	clusterSlots         = 16384
	clusterCreateTimeout = 30 * time.Second // redis-cli --cluster create
	clusterReadyTimeout  = 20 * time.Second // until the nodes agree on a healthy cluster
	failoverTimeout      = 20 * time.Second // CLUSTER FAILOVER until the nodes agree on the new roles
	clusterPollInterval  = 50 * time.Millisecond
	adminTimeout         = 2 * time.Second // one command to one node; the poll loops retry
)

// Cluster is a Redis Cluster of three masters, each with the same number
// of replicas (none by default). Failover swaps a master and a replica, so
// which node is which is read from the nodes each time it is asked.
type Cluster struct {
	nodes    []*Server
	replicas int // per master
}

// ClusterOptions configures StartClusterWith. The zero value is the
// cluster of StartCluster.
type ClusterOptions struct {
	// Replicas is the number of replicas of each master. Zero means none.
	Replicas int
}

// StartCluster starts a cluster of three masters and no replicas, as
// StartClusterWith(t, ClusterOptions{}) does.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return StartClusterWith(t, ClusterOptions{})
}

// StartClusterWith starts three cluster-enabled redis-servers and
// opts.Replicas more per master, joins them with redis-cli --cluster
// create, and waits until every node reports cluster_state:ok with all
// 16384 slots ok, every replica has finished its initial sync
// (master_link_status:up), and the nodes agree on CLUSTER SLOTS. The nodes
// are killed when the test ends.
func StartClusterWith(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	if opts.Replicas < 0 {
		t.Fatalf("redistest: StartClusterWith: Replicas = %d, want >= 0", opts.Replicas)
	}
	cli := testenv.Require(t, InstallCommand, "redis-cli")
	c := &Cluster{replicas: opts.Replicas}
	for range clusterSize * (1 + opts.Replicas) {
		c.nodes = append(c.nodes, start(t, func(port int, dir string) []string {
			return []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(port)+".conf"),
				"--cluster-node-timeout", "2000",
				// A replica's initial sync starts at once, not after the
				// default 5 s wait for more replicas to share it.
				"--repl-diskless-sync-delay", "0",
				// CLUSTER SLOTS lists a replica only once its replication
				// offset is not 0; with no writes, only the master's
				// pings to its replicas move it, by default every 10 s.
				"--repl-ping-replica-period", "1",
			}
		}))
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterCreateTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(opts.Replicas), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s%s", strings.Join(args, " "), err, out, c.tails())
	}
	conns, closeConns := c.dial()
	defer closeConns()
	if err := c.poll(conns, clusterReadyTimeout, c.ready); err != nil {
		t.Fatalf("redistest: cluster %v: %v%s", c.Addrs(), err, c.tails())
	}
	return c
}

// Addrs returns every node's "127.0.0.1:port", in start order.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns every node, masters and replicas, in start order. With no
// replicas these are the masters.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// Masters returns the running nodes that report themselves masters now
// (INFO replication), in start order.
func (c *Cluster) Masters(t testing.TB) []*Server {
	t.Helper()
	return c.withRole(t, true)
}

// Replicas returns the running nodes that report themselves replicas now
// (INFO replication), in start order.
func (c *Cluster) Replicas(t testing.TB) []*Server {
	t.Helper()
	return c.withRole(t, false)
}

// MasterOf returns the node serving slot now, as CLUSTER SLOTS on every
// running node says; it fails t if they do not agree. Slot computes a
// key's slot.
func (c *Cluster) MasterOf(t testing.TB, slot int) *Server {
	t.Helper()
	if slot < 0 || slot >= clusterSlots {
		t.Fatalf("redistest: MasterOf(%d): slot out of range [0, %d)", slot, clusterSlots)
	}
	conns, closeConns := c.dial()
	defer closeConns()
	var owner string
	for _, nc := range conns {
		ranges, err := readSlots(context.Background(), nc.rc)
		if err != nil {
			t.Fatalf("redistest: MasterOf(%d): %v%s", slot, err, c.tails())
		}
		i := slices.IndexFunc(ranges, func(r slotRange) bool { return r.start <= slot && slot <= r.end })
		switch {
		case i < 0:
			t.Fatalf("redistest: MasterOf(%d): %s: slot unassigned in CLUSTER SLOTS %v", slot, nc.node.Addr(), ranges)
		case owner == "":
			owner = ranges[i].master
		case owner != ranges[i].master:
			t.Fatalf("redistest: MasterOf(%d): %s says %s serves it, %s says %s",
				slot, conns[0].node.Addr(), owner, nc.node.Addr(), ranges[i].master)
		}
	}
	n := c.node(owner)
	if n == nil {
		t.Fatalf("redistest: MasterOf(%d) = %s, not a node of cluster %v", slot, owner, c.Addrs())
	}
	return n
}

// Failover promotes a replica of master with CLUSTER FAILOVER, the
// graceful manual failover: master stops accepting writes until the
// replica has caught up, so no acknowledged write is lost. It waits until
// the replica serves master's slots, master reports itself the replica's
// replica with its link up, and every node reports cluster_state:ok and
// the same CLUSTER SLOTS. It fails t if master has no replica or any of
// that does not happen in time.
func (c *Cluster) Failover(t testing.TB, master *Server) {
	t.Helper()
	if !slices.Contains(c.nodes, master) {
		t.Fatalf("redistest: Failover(%s): not a node of cluster %v", master.Addr(), c.Addrs())
	}
	conns, closeConns := c.dial()
	defer closeConns()

	// Start from a cluster whose nodes agree, so that "master" and its
	// slots are what every node thinks they are.
	var before []view
	err := c.poll(conns, clusterReadyTimeout, func(views []view) error {
		before = views
		return agreed(views)
	})
	if err != nil {
		t.Fatalf("redistest: Failover(%s): cluster not settled before: %v%s", master.Addr(), err, c.tails())
	}
	var replica *nodeConn
	for i, v := range before {
		if !v.master && v.masterAddr == master.Addr() {
			replica = &conns[i]
			break
		}
	}
	if replica == nil {
		t.Fatalf("redistest: Failover(%s): no replica of it in cluster %v (is it a master? start with ClusterOptions.Replicas)",
			master.Addr(), c.Addrs())
	}
	var slots []slotRange
	for _, r := range before[0].slots {
		if r.master == master.Addr() {
			slots = append(slots, r)
		}
	}

	to := replica.node.Addr()
	if err := replica.rc.ClusterFailover(context.Background()).Err(); err != nil {
		t.Fatalf("redistest: Failover(%s): %s CLUSTER FAILOVER: %v%s", master.Addr(), to, err, c.tails())
	}
	err = c.poll(conns, failoverTimeout, func(views []view) error {
		for _, v := range views {
			switch {
			case v.node == replica.node && !v.master:
				return fmt.Errorf("%s still reports itself a replica", to)
			case v.node == master && v.master:
				return fmt.Errorf("%s still reports itself a master", master.Addr())
			case v.node == master && v.masterAddr != to:
				return fmt.Errorf("%s reports itself a replica of %s, want %s", master.Addr(), v.masterAddr, to)
			}
		}
		for _, r := range views[0].slots {
			if slices.ContainsFunc(slots, r.overlaps) && r.master != to {
				return fmt.Errorf("slots %d-%d served by %s, want %s", r.start, r.end, r.master, to)
			}
		}
		return agreed(views)
	})
	if err != nil {
		t.Fatalf("redistest: Failover(%s) to %s: %v%s", master.Addr(), to, err, c.tails())
	}
}

// WaitReady waits until the nodes agree on a healthy cluster again, as
// StartClusterWith does before it returns: every node reports
// cluster_state:ok with all slots ok, and they agree on CLUSTER SLOTS. A
// node restarted with Restart keeps its nodes.conf and rejoins with its
// slots, but a master refuses writes (CLUSTERDOWN) for its first 2 s
// back (Redis's CLUSTER_WRITABLE_DELAY); this waits that out.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	conns, closeConns := c.dial()
	defer closeConns()
	if err := c.poll(conns, clusterReadyTimeout, c.ready); err != nil {
		t.Fatalf("redistest: cluster %v: %v%s", c.Addrs(), err, c.tails())
	}
}

// Client returns a go-redis cluster client, closed when t ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { cc.Close() })
	return cc
}

// node returns the node at addr, or nil.
func (c *Cluster) node(addr string) *Server {
	for _, n := range c.nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// withRole returns the running nodes whose INFO replication says they are
// masters (master true) or replicas.
func (c *Cluster) withRole(t testing.TB, master bool) []*Server {
	t.Helper()
	conns, closeConns := c.dial()
	defer closeConns()
	var nodes []*Server
	for _, nc := range conns {
		v, err := replication(context.Background(), nc)
		if err != nil {
			t.Fatalf("redistest: %v%s", err, c.tails())
		}
		if v.master == master {
			nodes = append(nodes, nc.node)
		}
	}
	return nodes
}

// nodeConn is a running node and a client for asking it about the cluster.
type nodeConn struct {
	node *Server
	rc   *redis.Client
}

// dial returns a client for each running node; closeConns closes them.
func (c *Cluster) dial() (conns []nodeConn, closeConns func()) {
	for _, n := range c.nodes {
		if n.PID() == 0 {
			continue // killed
		}
		conns = append(conns, nodeConn{node: n, rc: redis.NewClient(&redis.Options{
			Addr:         n.Addr(),
			DialTimeout:  adminTimeout,
			ReadTimeout:  adminTimeout,
			WriteTimeout: adminTimeout,
			MaxRetries:   -1, // the callers poll or fail
		})})
	}
	return conns, func() {
		for _, nc := range conns {
			nc.rc.Close()
		}
	}
}

// view is what one node reports about itself and the cluster.
type view struct {
	node       *Server
	master     bool        // INFO replication has role:master
	masterAddr string      // a replica's master, "127.0.0.1:port"
	linkUp     bool        // a replica's master_link_status:up: its sync is done
	slots      []slotRange // CLUSTER SLOTS, by first slot
}

// slotRange is one entry of CLUSTER SLOTS.
type slotRange struct {
	start, end int
	master     string   // "127.0.0.1:port"
	replicas   []string // sorted
}

func (r slotRange) equal(o slotRange) bool {
	return r.start == o.start && r.end == o.end && r.master == o.master && slices.Equal(r.replicas, o.replicas)
}

func (r slotRange) overlaps(o slotRange) bool { return r.start <= o.end && o.start <= r.end }

// poll reads every node's view until cond accepts them, or fails with
// the last complaint after timeout.
func (c *Cluster) poll(conns []nodeConn, timeout time.Duration, cond func([]view) error) error {
	deadline := time.Now().Add(timeout)
	for {
		views, err := c.readViews(context.Background(), conns)
		if err == nil {
			err = cond(views)
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %v: %w", timeout, err)
		}
		time.Sleep(clusterPollInterval)
	}
}

// readViews asks every node in conns for its view, failing unless each
// reports cluster_state:ok, all slots ok and every node of c known.
func (c *Cluster) readViews(ctx context.Context, conns []nodeConn) ([]view, error) {
	if len(conns) == 0 {
		return nil, errors.New("no node running")
	}
	views := make([]view, len(conns))
	for i, nc := range conns {
		addr := nc.node.Addr()
		info, err := nc.rc.ClusterInfo(ctx).Result()
		if err != nil {
			return nil, fmt.Errorf("%s CLUSTER INFO: %w", addr, err)
		}
		fields := infoFields(info)
		want := map[string]string{
			"cluster_state":       "ok",
			"cluster_slots_ok":    strconv.Itoa(clusterSlots),
			"cluster_known_nodes": strconv.Itoa(len(c.nodes)),
		}
		for key, value := range want {
			if fields[key] != value {
				return nil, fmt.Errorf("%s CLUSTER INFO has %s:%s, want %s:\n%s", addr, key, fields[key], value, info)
			}
		}
		if views[i], err = replication(ctx, nc); err != nil {
			return nil, err
		}
		if views[i].slots, err = readSlots(ctx, nc.rc); err != nil {
			return nil, err
		}
	}
	return views, nil
}

// replication reads a node's role from INFO replication.
func replication(ctx context.Context, nc nodeConn) (view, error) {
	addr := nc.node.Addr()
	info, err := nc.rc.Info(ctx, "replication").Result()
	if err != nil {
		return view{}, fmt.Errorf("%s INFO replication: %w", addr, err)
	}
	fields := infoFields(info)
	v := view{node: nc.node}
	switch fields["role"] {
	case "master":
		v.master = true
	case "slave":
		v.masterAddr = fields["master_host"] + ":" + fields["master_port"]
		v.linkUp = fields["master_link_status"] == "up"
	default:
		return view{}, fmt.Errorf("%s INFO replication has role:%s, want master or slave:\n%s", addr, fields["role"], info)
	}
	return v, nil
}

// readSlots reads a node's CLUSTER SLOTS. Redis 7 deprecates it for
// CLUSTER SHARDS, but go-redis's ClusterClient still routes by it, so it is
// the view that matters to a test's client.
func readSlots(ctx context.Context, rc *redis.Client) ([]slotRange, error) {
	//lint:ignore SA1019 see above: the view the cluster client routes by
	slots, err := rc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("%s CLUSTER SLOTS: %w", rc.Options().Addr, err)
	}
	ranges := make([]slotRange, 0, len(slots))
	for _, s := range slots {
		if len(s.Nodes) == 0 {
			return nil, fmt.Errorf("%s CLUSTER SLOTS: slots %d-%d have no node", rc.Options().Addr, s.Start, s.End)
		}
		r := slotRange{start: s.Start, end: s.End, master: s.Nodes[0].Addr}
		for _, n := range s.Nodes[1:] {
			r.replicas = append(r.replicas, n.Addr)
		}
		slices.Sort(r.replicas)
		ranges = append(ranges, r)
	}
	slices.SortFunc(ranges, func(a, b slotRange) int { return a.start - b.start })
	return ranges, nil
}

// agreed checks that the nodes agree: each reports the same CLUSTER SLOTS;
// the nodes that call themselves masters are the ones serving slots; each
// replica's link to its master is up, and CLUSTER SLOTS lists it with
// that master.
func agreed(views []view) error {
	first := views[0]
	replicasOf := map[string][]string{} // master's addr: its replicas', by the replicas' own word
	for _, v := range views {
		addr := v.node.Addr()
		if !slices.EqualFunc(v.slots, first.slots, slotRange.equal) {
			return fmt.Errorf("CLUSTER SLOTS differs: %s has %v, %s has %v", first.node.Addr(), first.slots, addr, v.slots)
		}
		serves := slices.ContainsFunc(first.slots, func(r slotRange) bool { return r.master == addr })
		switch {
		case v.master && !serves:
			return fmt.Errorf("%s reports itself a master, but serves no slot in CLUSTER SLOTS %v", addr, first.slots)
		case !v.master && serves:
			return fmt.Errorf("%s reports itself a replica, but serves slots in CLUSTER SLOTS %v", addr, first.slots)
		case !v.master && !v.linkUp:
			return fmt.Errorf("%s: replica's link to master %s not up (initial sync not done)", addr, v.masterAddr)
		case !v.master:
			replicasOf[v.masterAddr] = append(replicasOf[v.masterAddr], addr)
		}
	}
	for _, r := range first.slots {
		want := replicasOf[r.master]
		slices.Sort(want)
		if !slices.Equal(r.replicas, want) {
			return fmt.Errorf("CLUSTER SLOTS lists replicas %v for %s (slots %d-%d), its replicas report %v",
				r.replicas, r.master, r.start, r.end, want)
		}
	}
	return nil
}

// ready checks that the nodes agree on a cluster of clusterSize masters
// with c.replicas replicas each.
func (c *Cluster) ready(views []view) error {
	if err := agreed(views); err != nil {
		return err
	}
	masters := map[string]bool{}
	for _, r := range views[0].slots {
		masters[r.master] = true
		if len(r.replicas) != c.replicas {
			return fmt.Errorf("%s has replicas %v, want %d", r.master, r.replicas, c.replicas)
		}
	}
	if len(masters) != clusterSize {
		return fmt.Errorf("masters %v, want %d", masters, clusterSize)
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
