package main

import (
	"fmt"
	"net"
	"strconv"

	"github.com/ssehub/ssehub/transport/auth"
)

// minAPIKeyLen is the shortest static API key accepted: a key is a
// password that never expires, so it must not be guessable.
const minAPIKeyLen = 16

// keySource is one setting --auth jwt takes verification keys from.
type keySource struct {
	flag string // the setting's flag name, for errors
	load func() ([]auth.KeyConfig, error)
}

// keySources returns the key settings c has, in a fixed order.
func (c Config) keySources() []keySource {
	var sources []keySource
	if c.JWTSecret != "" {
		sources = append(sources, keySource{"jwt-secret", func() ([]auth.KeyConfig, error) {
			return []auth.KeyConfig{{Algorithm: auth.HS256, Secret: c.JWTSecret}}, nil
		}})
	}
	if c.JWTKeyFile != "" {
		sources = append(sources, keySource{"jwt-key-file", func() ([]auth.KeyConfig, error) {
			return []auth.KeyConfig{{Algorithm: c.JWTAlgorithm, PEMFile: c.JWTKeyFile}}, nil
		}})
	}
	if c.JWKSFile != "" {
		sources = append(sources, keySource{"jwt-jwks-file", func() ([]auth.KeyConfig, error) {
			return auth.LoadJWKS(c.JWKSFile)
		}})
	}
	return sources
}

// mercureKeySources returns the key settings of the Mercure door's role
// ("publisher" or "subscriber"): its secret and its key file.
func (c Config) mercureKeySources(role string) []keySource {
	secret, file := c.MercurePubKey, c.MercurePubFile
	if role == "subscriber" {
		secret, file = c.MercureSubKey, c.MercureSubFile
	}
	var sources []keySource
	if secret != "" {
		sources = append(sources, keySource{"mercure-" + role + "-jwt-secret", func() ([]auth.KeyConfig, error) {
			return []auth.KeyConfig{{Algorithm: auth.HS256, Secret: secret}}, nil
		}})
	}
	if file != "" {
		sources = append(sources, keySource{"mercure-" + role + "-jwt-key-file", func() ([]auth.KeyConfig, error) {
			return []auth.KeyConfig{{Algorithm: c.MercureAlg, PEMFile: file}}, nil
		}})
	}
	return sources
}

// keys loads the keys of s and checks them as the verifier does (files
// read, keys parsed, sizes and algorithms checked).
func (s keySource) keys() ([]auth.KeyConfig, error) {
	keys, err := s.load()
	if err != nil {
		return nil, err
	}
	if _, err := auth.NewVerifier(auth.Config{Keys: keys}); err != nil {
		return nil, err
	}
	return keys, nil
}

// checkListenAddr reports whether addr is host:port with a port a listener
// can take (a number up to 65535, or a service name).
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (such as :8080 or 127.0.0.1:8080): %v", addr, err)
	}
	if n, err := strconv.Atoi(port); err == nil {
		if n < 0 || n > 65535 {
			return fmt.Errorf("port %d of %q is out of range (0 to 65535)", n, addr)
		}
		return nil
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("port %q of %q is neither a number nor a known service", port, addr)
	}
	return nil
}

// mercureRemoteJWKSConfig is the key set start fetches for role's
// --mercure-<role>-jwks-url (URL empty when it is not set), with the
// native JWKS flags' refresh and timeouts, and the flag's name.
func (c Config) mercureRemoteJWKSConfig(role string, onFetch func(auth.FetchResult)) (auth.RemoteJWKSConfig, string) {
	url := c.MercurePubJWKS
	if role == "subscriber" {
		url = c.MercureSubJWKS
	}
	return auth.RemoteJWKSConfig{URL: url, RefreshInterval: c.JWKSRefresh, UnknownKIDInterval: c.JWKSUnknownKID,
		Timeout: c.JWKSTimeout, OnFetch: onFetch}, "mercure-" + role + "-jwks-url"
}

// remoteJWKSConfig is the key set start fetches for --jwt-jwks-url or
// --jwt-oidc-discovery, reporting each fetch to onFetch (nil: nowhere).
func (c Config) remoteJWKSConfig(onFetch func(auth.FetchResult)) auth.RemoteJWKSConfig {
	rc := auth.RemoteJWKSConfig{URL: c.JWKSURL, RefreshInterval: c.JWKSRefresh,
		UnknownKIDInterval: c.JWKSUnknownKID, Timeout: c.JWKSTimeout, OnFetch: onFetch}
	if c.JWTOIDC {
		rc.Issuer = c.JWTIssuer
	}
	return rc
}
