package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ctxTimeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStartSetGet(t *testing.T) {
	t.Parallel()
	s := Start(t)
	ctx := ctxTimeout(t)

	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want 127.0.0.1:port", s.Addr())
	}
	if got, want := s.URL(), "redis://"+s.Addr()+"/0"; got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	if s.PID() <= 0 {
		t.Errorf("PID() = %d, want > 0", s.PID())
	}

	c := s.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET k v: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("GET k = %q, %v, want v", got, err)
	}
}

func TestStartArgs(t *testing.T) {
	t.Parallel()
	s := Start(t, "--maxmemory", "1mb")
	got, err := s.Client(t).ConfigGet(ctxTimeout(t), "maxmemory").Result()
	if err != nil || got["maxmemory"] != "1048576" {
		t.Errorf("CONFIG GET maxmemory = %v, %v, want 1048576", got, err)
	}
}

func TestRestartLosesData(t *testing.T) {
	t.Parallel()
	s := Start(t)
	ctx := ctxTimeout(t)
	c := s.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET k v: %v", err)
	}
	addr, pid := s.Addr(), s.PID()

	s.Restart()

	if s.Addr() != addr {
		t.Errorf("Addr() after Restart = %q, want %q", s.Addr(), addr)
	}
	if s.PID() == pid || s.PID() <= 0 {
		t.Errorf("PID() after Restart = %d, want a new process (was %d)", s.PID(), pid)
	}
	// The client's pooled connection died with the old process; go-redis
	// redials the same address.
	if got, err := c.Get(ctx, "k").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET k after Restart = %q, %v, want redis.Nil", got, err)
	}
	if err := c.Set(ctx, "k", "v2", 0).Err(); err != nil {
		t.Errorf("SET k v2 after Restart: %v", err)
	}
}

func TestKill(t *testing.T) {
	t.Parallel()
	s := Start(t)
	c := s.Client(t)
	ctx := ctxTimeout(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING before Kill: %v", err)
	}

	addr := s.Addr()

	s.Kill()

	// A client that neither retries nor redials, so the failure is quick.
	c = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Errorf("PING %s after Kill = nil error, want an error", addr)
	}
	if s.PID() != 0 {
		t.Errorf("PID() after Kill = %d, want 0", s.PID())
	}
	s.Kill() // a second Kill, like the cleanup's, is a no-op
}

func TestCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t)
	ctx := ctxTimeout(t)
	if len(c.Nodes()) != 3 || len(c.Addrs()) != 3 {
		t.Fatalf("StartCluster: %d nodes, %d addrs, want 3", len(c.Nodes()), len(c.Addrs()))
	}
	nodes := make([]*redis.Client, 3)
	for i, n := range c.Nodes() {
		nodes[i] = n.Client(t)
	}

	t.Run("keys spread over masters", func(t *testing.T) {
		cc := c.Client(t)
		owners := map[string]bool{}
		for _, key := range []string{"a", "b", "c", "d", "e", "f"} {
			if err := cc.Set(ctx, key, "v-"+key, 0).Err(); err != nil {
				t.Fatalf("cluster SET %s: %v", key, err)
			}
			slot, err := cc.ClusterKeySlot(ctx, key).Result()
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
			}
			var holders []string
			for i, n := range nodes {
				count, err := n.ClusterCountKeysInSlot(ctx, int(slot)).Result()
				if err != nil {
					t.Fatalf("%s CLUSTER COUNTKEYSINSLOT %d: %v", c.Addrs()[i], slot, err)
				}
				if count == 0 {
					continue
				}
				holders = append(holders, c.Addrs()[i])
				// The owner serves the key itself, with no redirect.
				if got, err := n.Get(ctx, key).Result(); err != nil || got != "v-"+key {
					t.Errorf("%s GET %s = %q, %v, want %q", c.Addrs()[i], key, got, err, "v-"+key)
				}
			}
			if len(holders) != 1 {
				t.Fatalf("key %q (slot %d) held by %v, want exactly one node", key, slot, holders)
			}
			owners[holders[0]] = true
		}
		if len(owners) != 3 {
			t.Errorf("keys landed on %d nodes (%v), want all 3 masters", len(owners), owners)
		}
	})

	t.Run("Slot matches CLUSTER KEYSLOT", func(t *testing.T) {
		keys := []string{"", "foo", "123456789", "{user1000}.following", "foo{bar}{zap}", "foo{}{bar}",
			"foo{{bar}}zap", "{bar", "{}", "{", "}", "{ssehub}:last", "{ssehub~2~5323}:t:news"}
		for _, key := range keys {
			want, err := nodes[0].ClusterKeySlot(ctx, key).Result()
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %q: %v", key, err)
			}
			if got := Slot(key); got != int(want) {
				t.Errorf("Slot(%q) = %d, want %d (CLUSTER KEYSLOT)", key, got, want)
			}
		}
	})

	t.Run("MasterOf", func(t *testing.T) {
		for _, slot := range []int{0, Slot("a"), clusterSlots - 1} {
			m := c.MasterOf(t, slot)
			// The owner serves a key of the slot itself, with no MOVED.
			// One key in 16384 falls in the slot: a quick search.
			var key string
			for i := 0; key == "" || Slot(key) != slot; i++ {
				key = fmt.Sprintf("masterof-%d", i)
			}
			if err := m.Client(t).Set(ctx, key, "v", 0).Err(); err != nil {
				t.Errorf("MasterOf(%d) = %s; SET %s there: %v", slot, m.Addr(), key, err)
			}
		}
	})

	t.Run("publish reaches another node", func(t *testing.T) {
		sub := nodes[0].Subscribe(ctx, "news")
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
			t.Fatalf("SUBSCRIBE news on %s: %v", c.Addrs()[0], err)
		}
		if err := nodes[2].Publish(ctx, "news", "hello").Err(); err != nil {
			t.Fatalf("PUBLISH news on %s: %v", c.Addrs()[2], err)
		}
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil || msg.Channel != "news" || msg.Payload != "hello" {
			t.Errorf("ReceiveMessage on %s = %v, %v, want news/hello", c.Addrs()[0], msg, err)
		}
	})
}

// TestClusterReplicas: a cluster with a replica per master starts synced,
// and Failover swaps a master and its replica without losing a write.
func TestClusterReplicas(t *testing.T) {
	t.Parallel()
	c := StartClusterWith(t, ClusterOptions{Replicas: 1})
	ctx := ctxTimeout(t)

	masters, replicas := c.Masters(t), c.Replicas(t)
	if len(c.Nodes()) != 6 || len(masters) != 3 || len(replicas) != 3 {
		t.Fatalf("StartClusterWith(Replicas: 1): %d nodes, %d masters, %d replicas, want 6, 3, 3",
			len(c.Nodes()), len(masters), len(replicas))
	}
	for _, r := range replicas {
		info, err := r.Client(t).Info(ctx, "replication").Result()
		if err != nil {
			t.Fatalf("%s INFO replication: %v", r.Addr(), err)
		}
		f := infoFields(info)
		master := c.node(f["master_host"] + ":" + f["master_port"])
		if f["master_link_status"] != "up" || !slices.Contains(masters, master) {
			t.Errorf("replica %s: master %s:%s, link %s; want one of Masters() %v, link up",
				r.Addr(), f["master_host"], f["master_port"], f["master_link_status"], addrs(masters))
		}
	}

	t.Run("Failover", func(t *testing.T) {
		cc := c.Client(t)
		const key = "{failover}k"
		old := c.MasterOf(t, Slot(key))
		// Written on the master itself, so that only replication can
		// carry it to the replica.
		if err := old.Client(t).Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatalf("%s SET %s: %v", old.Addr(), key, err)
		}

		c.Failover(t, old)

		promoted := c.MasterOf(t, Slot(key))
		if promoted == old || !slices.Contains(replicas, promoted) {
			t.Errorf("MasterOf(%d) after Failover(%s) = %s, want one of the replicas %v",
				Slot(key), old.Addr(), promoted.Addr(), addrs(replicas))
		}
		if got, err := cc.Get(ctx, key).Result(); err != nil || got != "v" {
			t.Errorf("cluster GET %s after Failover = %q, %v, want v", key, got, err)
		}
		if ms, rs := c.Masters(t), c.Replicas(t); !slices.Contains(ms, promoted) || !slices.Contains(rs, old) {
			t.Errorf("after Failover(%s): Masters() = %v, Replicas() = %v; want %s a master and %s a replica",
				old.Addr(), addrs(ms), addrs(rs), promoted.Addr(), old.Addr())
		}

		// And back: the demoted master has synced again.
		c.Failover(t, promoted)
		if got := c.MasterOf(t, Slot(key)); got != old {
			t.Errorf("MasterOf(%d) after failing back = %s, want %s", Slot(key), got.Addr(), old.Addr())
		}
		if got, err := cc.Get(ctx, key).Result(); err != nil || got != "v" {
			t.Errorf("cluster GET %s after failing back = %q, %v, want v", key, got, err)
		}
	})
}

func addrs(nodes []*Server) []string {
	a := make([]string, len(nodes))
	for i, n := range nodes {
		a[i] = n.Addr()
	}
	return a
}

func TestLaunchPortTaken(t *testing.T) {
	t.Parallel()
	other := Start(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	for name, port := range map[string]int{
		"another redis-server": other.port,
		"a plain listener":     l.Addr().(*net.TCPAddr).Port,
	} {
		s := &Server{
			t:     t,
			bin:   testenv.Require(t, InstallCommand, "redis-server"),
			dir:   t.TempDir(),
			extra: func(int, string) []string { return nil },
		}
		t.Cleanup(s.Kill)
		if err := s.launch(port); !errors.Is(err, ErrPortTaken) {
			t.Errorf("launch(%d) with the port held by %s = %v, want ErrPortTaken", port, name, err)
		}
		if s.PID() != 0 {
			t.Errorf("PID() after a failed launch = %d, want 0", s.PID())
		}
	}
	if err := other.Client(t).Ping(ctxTimeout(t)).Err(); err != nil {
		t.Errorf("PING the server that held the port: %v", err)
	}
}

// TestClusterRestartNode: a master restarted with Restart comes back
// empty, with its node id and slots from its nodes.conf, and the cluster
// is healthy again once WaitReady returns.
func TestClusterRestartNode(t *testing.T) {
	t.Parallel()
	c := StartCluster(t)
	ctx := ctxTimeout(t)
	const key = "{restart}k"
	victim := c.MasterOf(t, Slot(key))
	rc := victim.Client(t)
	if err := rc.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatalf("%s SET %s: %v", victim.Addr(), key, err)
	}
	id, err := rc.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatalf("%s CLUSTER MYID: %v", victim.Addr(), err)
	}

	victim.Restart()
	c.WaitReady(t)

	if got, err := rc.ClusterMyID(ctx).Result(); err != nil || got != id {
		t.Errorf("%s CLUSTER MYID after Restart = %q, %v, want %q (from its nodes.conf)", victim.Addr(), got, err, id)
	}
	if got := c.MasterOf(t, Slot(key)); got != victim {
		t.Errorf("MasterOf(%d) after Restart = %s, want %s", Slot(key), got.Addr(), victim.Addr())
	}
	cc := c.Client(t)
	if got, err := cc.Get(ctx, key).Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("cluster GET %s after Restart = %q, %v, want redis.Nil: the data is lost", key, got, err)
	}
	if err := cc.Set(ctx, key, "v2", 0).Err(); err != nil {
		t.Errorf("cluster SET %s after WaitReady: %v", key, err)
	}
}
