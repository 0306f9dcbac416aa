package auth

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"golang.org/x/time/rate"
)

// Defaults of [RemoteJWKSConfig].
const (
	// DefaultRefreshInterval is RemoteJWKSConfig.RefreshInterval's default.
	DefaultRefreshInterval = time.Hour
	// DefaultUnknownKIDInterval is RemoteJWKSConfig.UnknownKIDInterval's
	// default.
	DefaultUnknownKIDInterval = time.Minute
	// DefaultFetchTimeout is RemoteJWKSConfig.Timeout's default.
	DefaultFetchTimeout = 10 * time.Second
)

// maxDocSize bounds a JWKS or discovery document. Real ones are a few KiB;
// the bound keeps a broken or hostile endpoint from filling memory.
const maxDocSize = 1 << 20

// retryMin and retryMax bound the wait before fetching again after a
// failed fetch (doubling from retryMin), so a hub started while its
// identity provider is down gets keys soon after it is back, without
// waiting a whole RefreshInterval.
const (
	retryMin = time.Second
	retryMax = time.Minute
)

// RemoteJWKSConfig configures a [RemoteJWKS]. Exactly one of URL and Issuer
// is set.
type RemoteJWKSConfig struct {
	// URL is the JWKS URL, such as https://idp.example/.well-known/jwks.json.
	// It must be https, or http on a loopback host (localhost, 127.0.0.1,
	// ::1): keys fetched in the clear could be swapped by anyone on the
	// path, who could then sign any token.
	URL string
	// Issuer is an OpenID Connect issuer: the JWKS URL is the jwks_uri of
	// its discovery document, Issuer + "/.well-known/openid-configuration"
	// (OpenID Connect Discovery 1.0 section 4), whose issuer must equal
	// Issuer. Issuer and jwks_uri follow URL's scheme rule. The document is
	// read again at each scheduled refresh, so a moved jwks_uri is followed.
	Issuer string
	// RefreshInterval is how often the key set is fetched again. Zero means
	// DefaultRefreshInterval (1h). After a failed fetch the next one comes
	// sooner: after 1s, doubling up to 1m, but never later than
	// RefreshInterval.
	RefreshInterval time.Duration
	// UnknownKIDInterval is the least time between two fetches caused by
	// tokens naming a kid that no key has (a key the provider has just
	// rotated in). Zero means DefaultUnknownKIDInterval (1m). It bounds what
	// a flood of tokens with made-up kids costs the provider: one fetch per
	// interval.
	UnknownKIDInterval time.Duration
	// Timeout bounds each HTTP request (discovery document, key set),
	// connecting included. Zero means DefaultFetchTimeout (10s).
	Timeout time.Duration
	// OnFetch, when set, is called after every fetch with its outcome, for
	// logs and metrics. It runs on the refresh goroutine, so it must not
	// block; fetches wait for it.
	OnFetch func(FetchResult)
}

// Fetch triggers, the reason a [FetchResult] was fetched.
const (
	// TriggerStart is the first fetch, made by [NewRemoteJWKS]'s goroutine.
	TriggerStart = "start"
	// TriggerSchedule is a fetch after RefreshInterval.
	TriggerSchedule = "schedule"
	// TriggerRetry is a fetch after a failed one.
	TriggerRetry = "retry"
	// TriggerUnknownKID is a fetch asked for by a token naming a kid no key
	// has.
	TriggerUnknownKID = "unknown_kid"
)

// FetchResult is the outcome of one fetch of a [RemoteJWKS], passed to
// RemoteJWKSConfig.OnFetch.
type FetchResult struct {
	// URL is the JWKS URL fetched, or the discovery URL when discovery
	// failed.
	URL string
	// Trigger says why it was fetched: TriggerStart, TriggerSchedule,
	// TriggerRetry or TriggerUnknownKID.
	Trigger string
	// Err is nil when the fetched set replaced the one in use. Otherwise
	// the set in use (possibly none yet) is kept.
	Err error
	// Keys is how many keys are in use after the fetch.
	Keys int
	// Skipped lists the keys of the fetched set that ssehub cannot use
	// (encryption keys, other algorithms, weak keys), each error naming the
	// key and why. They are left out; the others are used.
	Skipped []error
	// Duration is how long the fetch took, discovery included.
	Duration time.Duration
}

// RemoteStats are a [RemoteJWKS]'s counters, for metrics.
type RemoteStats struct {
	// Fetches and Failures count fetches that replaced the key set and
	// fetches that failed.
	Fetches, Failures uint64
	// Keys is how many keys are in use; zero before the first good fetch.
	Keys int
	// LastSuccess is when the key set in use was fetched; zero before the
	// first good fetch.
	LastSuccess time.Time
}

// RemoteJWKS is a key set fetched from a JWKS URL, kept fresh: it is
// fetched again every RefreshInterval, and when a token names a kid that no
// key has (at most once per UnknownKIDInterval). A failed fetch keeps the
// last good set in use. Give it to a [Verifier] through Config.Remote.
//
// Fetching and parsing the set is github.com/MicahParks/jwkset's; what it
// returns is then held to ssehub's key rules ([LoadJWKS]'s). The usual
// companion of golang-jwt v5, github.com/MicahParks/keyfunc/v3, is not
// used: its key function takes a key without alg for any algorithm the
// key's type allows (RS512 and PS256 for an RSA key, ES384 for a P-384
// key), has no RSA size floor, and would bypass the per-key algorithm
// pinning of [Verifier]. jwkset's own refresh goroutine is not used either:
// it cannot be waited for at Close, and its refresh on an unknown kid
// blocks the request on the rate limiter and times the HTTP request out by
// that wait. Here one goroutine, owned by the RemoteJWKS and stopped by
// Close, schedules every fetch, and a request never waits for the rate
// limiter, only (up to Timeout) for a fetch it caused or joined.
//
// It is safe for concurrent use.
type RemoteJWKS struct {
	cfg     RemoteJWKSConfig
	client  *http.Client // private transport, so Close can drop its connections
	limiter *rate.Limiter

	set atomic.Pointer[keySet] // nil until the first good fetch; replaced whole by the refresh goroutine

	mu      sync.Mutex
	next    chan struct{} // guarded by mu: closed when the fetch asked for, not yet begun, ends; nil when none is asked for
	running chan struct{} // guarded by mu: closed when the running fetch ends; nil between fetches
	lastErr error         // guarded by mu: the last fetch's error, nil after a good one

	kick   chan struct{} // capacity 1: asks the refresh goroutine to fetch now
	loaded chan struct{} // closed by the refresh goroutine when the first set is in use
	cancel context.CancelFunc
	done   chan struct{} // closed when the refresh goroutine has returned

	fetches, failures atomic.Uint64

	jwksURL string // owned by the refresh goroutine: URL, or the last discovered jwks_uri
}

// keySet is an immutable set of loaded keys.
type keySet struct {
	keys    []verificationKey
	byID    map[string]verificationKey
	fetched time.Time
}

// Check reports what NewRemoteJWKS would refuse in cfg, without starting
// anything: for a configuration check.
func (cfg RemoteJWKSConfig) Check() error {
	_, err := cfg.withDefaults()
	return err
}

// withDefaults checks cfg and fills in its zero durations.
func (cfg RemoteJWKSConfig) withDefaults() (RemoteJWKSConfig, error) {
	if (cfg.URL == "") == (cfg.Issuer == "") {
		return cfg, errors.New("auth: jwks: exactly one of URL and Issuer must be set")
	}
	for _, d := range []struct {
		name string
		val  *time.Duration
		def  time.Duration
	}{
		{"refresh interval", &cfg.RefreshInterval, DefaultRefreshInterval},
		{"unknown kid interval", &cfg.UnknownKIDInterval, DefaultUnknownKIDInterval},
		{"timeout", &cfg.Timeout, DefaultFetchTimeout},
	} {
		if *d.val < 0 {
			return cfg, fmt.Errorf("auth: jwks: %s=%s is negative", d.name, *d.val)
		}
		if *d.val == 0 {
			*d.val = d.def
		}
	}
	first := cfg.URL
	if cfg.Issuer != "" {
		first = discoveryURL(cfg.Issuer)
	}
	if err := checkFetchURL(first); err != nil {
		return cfg, fmt.Errorf("auth: jwks: %w", err)
	}
	return cfg, nil
}

// errNotFetched is Ready's reason before the first fetch has ended.
var errNotFetched = errors.New("no key set fetched yet")

// NewRemoteJWKS checks cfg and starts the refresh goroutine, which fetches
// the key set at once and then on schedule; it runs until [RemoteJWKS.Close].
// It does not wait for the first fetch: until it succeeds, tokens that
// need its keys fail with [ErrNoKeys] (see [RemoteJWKS.Wait]).
func NewRemoteJWKS(cfg RemoteJWKSConfig) (*RemoteJWKS, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &RemoteJWKS{
		cfg:     cfg,
		client:  newFetchClient(cfg.Timeout),
		limiter: rate.NewLimiter(rate.Every(cfg.UnknownKIDInterval), 1),
		kick:    make(chan struct{}, 1),
		loaded:  make(chan struct{}),
		cancel:  cancel,
		done:    make(chan struct{}),
		jwksURL: cfg.URL,
	}
	go r.run(ctx)
	return r, nil
}

// Close stops the refresh goroutine, cancelling a fetch in progress, and
// returns when it is gone. The last key set stays in use. It may be called
// more than once.
func (r *RemoteJWKS) Close() {
	r.cancel()
	<-r.done
	r.client.CloseIdleConnections()
}

// Ready returns nil once a key set has been fetched, and otherwise an error
// wrapping [ErrNoKeys] and the last fetch's error.
func (r *RemoteJWKS) Ready() error {
	if r.set.Load() != nil {
		return nil
	}
	r.mu.Lock()
	err := r.lastErr
	r.mu.Unlock()
	if err == nil {
		err = errNotFetched
	}
	return fmt.Errorf("%w: %w", ErrNoKeys, err)
}

// Wait returns nil once a key set has been fetched, or ctx's error if that
// comes first, joined with [RemoteJWKS.Ready]'s error. It lets a caller hold
// off serving for a while at start.
func (r *RemoteJWKS) Wait(ctx context.Context) error {
	select {
	case <-r.loaded:
		return nil
	case <-r.done:
	case <-ctx.Done():
		return errors.Join(ctx.Err(), r.Ready())
	}
	return r.Ready()
}

// Stats returns the counters. Safe to call from any goroutine.
func (r *RemoteJWKS) Stats() RemoteStats {
	st := RemoteStats{Fetches: r.fetches.Load(), Failures: r.failures.Load()}
	if s := r.set.Load(); s != nil {
		st.Keys = len(s.keys)
		st.LastSuccess = s.fetched
	}
	return st
}

// current returns the key set in use, nil before the first good fetch.
func (r *RemoteJWKS) current() *keySet { return r.set.Load() }

// refreshUnknownKID asks for a fetch because a token names a kid that no
// key has, and waits for it to end. It joins a fetch already asked for and
// not yet begun; otherwise it asks for one if the rate limiter allows, and
// else waits for the fetch running, if any (it may be the one that brings
// the new key, asked for by the first of a burst of such tokens). It
// reports whether a fetch ended (successful or not): false when there was
// none to wait for or the RemoteJWKS is closed.
//
// A fetch that began before the call is joined only in that last case: it
// may have been answered before the provider published the key.
func (r *RemoteJWKS) refreshUnknownKID() bool {
	r.mu.Lock()
	wait := r.next
	if wait == nil {
		switch {
		// Allow, not Wait: a request is never held for the limiter, so a
		// flood of made-up kids costs one fetch per interval and nothing
		// else.
		case r.limiter.Allow():
			wait = make(chan struct{})
			r.next = wait
			select {
			case r.kick <- struct{}{}:
			default:
			}
		case r.running != nil:
			wait = r.running
		default:
			r.mu.Unlock()
			return false
		}
	}
	r.mu.Unlock()
	select {
	case <-wait:
		return true
	case <-r.done:
		return false
	}
}

// run is the refresh goroutine: it fetches now, then whenever the schedule
// or a kick says so, until ctx is cancelled.
func (r *RemoteJWKS) run(ctx context.Context) {
	defer close(r.done)
	trigger := TriggerStart
	retry := min(retryMin, r.cfg.RefreshInterval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		r.mu.Lock()
		done := r.next // this fetch serves whoever asked for one
		if done == nil {
			done = make(chan struct{})
		}
		r.next, r.running = nil, done
		select {
		case <-r.kick: // the ask for this very fetch
		default:
		}
		r.mu.Unlock()

		err := r.fetch(ctx, trigger)

		r.mu.Lock()
		r.running = nil
		r.lastErr = err
		r.mu.Unlock()
		close(done)

		next := r.cfg.RefreshInterval
		if err != nil {
			next = retry
			retry = min(2*retry, retryMax, r.cfg.RefreshInterval)
		} else {
			retry = min(retryMin, r.cfg.RefreshInterval)
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			trigger = TriggerSchedule
			if err != nil {
				trigger = TriggerRetry
			}
		case <-r.kick:
			trigger = TriggerUnknownKID
		}
	}
}

// fetch fetches the key set (after discovery when Issuer is set) and puts
// it in use, keeping the set in use when it fails. It reports to OnFetch.
func (r *RemoteJWKS) fetch(ctx context.Context, trigger string) error {
	start := time.Now()
	res := FetchResult{Trigger: trigger}
	res.Err = func() error {
		if r.cfg.Issuer != "" && (r.jwksURL == "" || trigger != TriggerUnknownKID) {
			res.URL = discoveryURL(r.cfg.Issuer)
			u, err := r.discover(ctx)
			switch {
			case err == nil:
				r.jwksURL = u
			case r.jwksURL == "":
				return err
			}
			// A failed rediscovery keeps the jwks_uri found before: the
			// keys may still be served.
		}
		res.URL = r.jwksURL
		set, skipped, err := r.fetchSet(ctx, r.jwksURL)
		res.Skipped = skipped
		if err != nil {
			return err
		}
		if r.set.Swap(set) == nil {
			close(r.loaded)
		}
		return nil
	}()
	res.Duration = time.Since(start)
	if s := r.set.Load(); s != nil {
		res.Keys = len(s.keys)
	}
	if res.Err != nil {
		r.failures.Add(1)
	} else {
		r.fetches.Add(1)
	}
	if r.cfg.OnFetch != nil {
		r.cfg.OnFetch(res)
	}
	return res.Err
}

// fetchSet fetches and parses the JWKS at u with jwkset, then loads each key
// by ssehub's rules. Keys that break them are skipped and listed; a set
// with no usable key is an error, so that an endpoint serving an empty or
// foreign set (a misconfiguration far more often than a deliberate
// revocation of every key) leaves the last good set in use.
func (r *RemoteJWKS) fetchSet(ctx context.Context, u string) (*keySet, []error, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	// Without RefreshInterval, NewStorageFromHTTP fetches once, before it
	// returns, and starts no goroutine: the schedule is run's.
	store, err := jwkset.NewStorageFromHTTP(u, jwkset.HTTPClientStorageOptions{
		Client:      r.client,
		Ctx:         ctx,
		HTTPTimeout: r.cfg.Timeout,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("auth: jwks %s: %w", u, err)
	}
	jwks, err := store.KeyReadAll(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: jwks %s: %w", u, err)
	}
	set := &keySet{byID: make(map[string]verificationKey), fetched: time.Now()}
	var skipped []error
	for i, j := range jwks {
		m := j.Marshal()
		name := "#" + strconv.Itoa(i)
		if m.KID != "" {
			name = strconv.Quote(m.KID)
		}
		vk, err := remoteKey(m, j.Key())
		if err == nil && m.KID != "" {
			if _, dup := set.byID[m.KID]; dup {
				err = errors.New("duplicate key id")
			}
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %s: %w", name, err))
			continue
		}
		set.add(vk)
	}
	if len(set.keys) == 0 {
		return nil, skipped, fmt.Errorf("auth: jwks %s: no usable key (%d in the set)", u, len(jwks))
	}
	return set, skipped, nil
}

// remoteKey loads a key parsed by jwkset by the rules of [LoadJWKS].
func remoteKey(m jwkset.JWKMarshal, key any) (verificationKey, error) {
	alg, err := jwkAlgorithm(string(m.KTY), string(m.CRV), string(m.USE))
	if err != nil {
		return verificationKey{}, err
	}
	// jwkset parses private parameters when a set carries them by mistake;
	// a verifier needs only the public half.
	if k, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = k.Public()
	}
	kc, err := checkJWK(m.KID, alg, string(m.ALG), string(m.KTY), string(m.CRV), key)
	if err != nil {
		return verificationKey{}, err
	}
	return loadKey(kc)
}

// add adds k to s; its ID, if any, must be new.
func (s *keySet) add(k verificationKey) {
	if k.id != "" {
		s.byID[k.id] = k
	}
	s.keys = append(s.keys, k)
}

// discover reads the issuer's discovery document and returns its jwks_uri.
func (r *RemoteJWKS) discover(ctx context.Context) (string, error) {
	u := discoveryURL(r.cfg.Issuer)
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("auth: oidc discovery %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("auth: oidc discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("auth: oidc discovery %s: status %d", u, resp.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return "", fmt.Errorf("auth: oidc discovery %s: %w", u, err)
	}
	// OpenID Connect Discovery 1.0 section 4.3: the issuer in the document
	// must be the one asked about, so that one provider cannot stand in
	// for another.
	if doc.Issuer != r.cfg.Issuer {
		return "", fmt.Errorf("auth: oidc discovery %s: issuer %q, want %q", u, doc.Issuer, r.cfg.Issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("auth: oidc discovery %s: no jwks_uri", u)
	}
	if err := checkFetchURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("auth: oidc discovery %s: jwks_uri: %w", u, err)
	}
	return doc.JWKSURI, nil
}

// discoveryURL is the OpenID Connect discovery document of issuer.
func discoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// checkFetchURL reports whether keys may be fetched from s: https, or http
// on a loopback host for tests and local development.
func checkFetchURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("%q is not an absolute URL", s)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q: keys must be fetched over https (http only from localhost)", s)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newFetchClient returns the HTTP client of a RemoteJWKS: its own transport
// (so Close can drop its idle connections), timeout bounding each request,
// response bodies capped at maxDocSize, and redirects held to the same
// scheme rule as the URL, so a redirect cannot downgrade to plain http.
func newFetchClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	return &http.Client{
		Transport: capBodies{t},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return checkFetchURL(req.URL.String())
		},
	}
}

// capBodies caps the response bodies of its transport at maxDocSize.
type capBodies struct{ *http.Transport }

// RoundTrip implements [http.RoundTripper].
func (c capBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.Transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: maxDocSize}
	return resp, nil
}

// cappedBody fails a read past its limit instead of truncating, so an
// oversized document is an error rather than a JSON syntax error.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 && len(p) > 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("response longer than %d bytes", maxDocSize)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
