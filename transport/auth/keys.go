package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Supported algorithms (RFC 7518 names; EdDSA means Ed25519 here).
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Key strength floors. RFC 7518 section 3.2 requires an HS256 key of at
// least the hash size; section 3.3 requires RSA keys of 2048 bits or more.
const (
	minSecretLen = 32
	minRSABits   = 2048
)

// Config configures a [Verifier].
type Config struct {
	// Keys are the keys tokens may be signed with. At least one key or
	// Remote is required.
	Keys []KeyConfig
	// Remote, when set, adds the keys fetched from a JWKS URL. The caller
	// owns it (creates it with [NewRemoteJWKS] and closes it after the
	// Verifier's last use). Nil means none.
	Remote *RemoteJWKS
	// Issuer, when set, must equal the token's iss claim. Empty means iss is
	// not checked.
	Issuer string
	// Audience, when set, must be one of the token's aud values. Empty means
	// aud is not checked.
	Audience string
	// Leeway is the clock skew tolerated when checking exp and nbf. Zero
	// means none.
	Leeway time.Duration
	// Mercure makes the verifier check Mercure tokens
	// (docs/mercure-design.md, "Auth"): exp is optional (Mercure's
	// publisher tokens often have none; a stream then ends when it
	// closes), sub is any string (an IRI, not a native user), and the
	// native subscribe and publish claims are not read: Claims.Mercure
	// and Claims.AuthorizationDetails carry the raw claims, which
	// transport/mercure parses. False means native tokens.
	Mercure bool
}

// KeyConfig is one verification key. Exactly one of Secret, PEMFile and
// PublicKey gives the key material, and it must suit Algorithm.
type KeyConfig struct {
	// ID is the key id matched against the token header's kid. Empty means
	// the key is tried for tokens whose kid names no configured key.
	ID string
	// Algorithm is the only algorithm this key verifies: HS256, RS256,
	// ES256 or EdDSA (Ed25519).
	Algorithm string
	// Secret is the HS256 shared secret, at least 32 bytes.
	Secret string
	// PEMFile is the path of a PEM public key (PUBLIC KEY, RSA PUBLIC KEY or
	// CERTIFICATE block) for RS256 (RSA, at least 2048 bits), ES256 (P-256)
	// or EdDSA (Ed25519).
	PEMFile string
	// PublicKey is a parsed public key (*rsa.PublicKey, *ecdsa.PublicKey or
	// ed25519.PublicKey), as set by [LoadJWKS].
	PublicKey crypto.PublicKey
}

// name identifies key i of a configuration in errors.
func (k KeyConfig) name(i int) string {
	if k.ID != "" {
		return strconv.Quote(k.ID)
	}
	return "#" + strconv.Itoa(i)
}

// verificationKey is a loaded key: its algorithm and the value the jwt
// library's signing method for that algorithm expects.
type verificationKey struct {
	id  string
	alg string
	key any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// loadKey turns a KeyConfig into a verificationKey, checking that the key
// material suits the algorithm.
func loadKey(k KeyConfig) (verificationKey, error) {
	n := 0
	for _, set := range []bool{k.Secret != "", k.PEMFile != "", k.PublicKey != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return verificationKey{}, errors.New("exactly one of Secret, PEMFile and PublicKey must be set")
	}
	vk := verificationKey{id: k.ID, alg: k.Algorithm}
	switch k.Algorithm {
	case HS256:
		if k.Secret == "" {
			return verificationKey{}, errors.New("HS256 needs Secret, not a public key")
		}
		if len(k.Secret) < minSecretLen {
			return verificationKey{}, fmt.Errorf("HS256 secret is %d bytes, want at least %d", len(k.Secret), minSecretLen)
		}
		vk.key = []byte(k.Secret)
		return vk, nil
	case RS256, ES256, EdDSA:
	case "":
		return verificationKey{}, errors.New("no algorithm (want HS256, RS256, ES256 or EdDSA)")
	default:
		return verificationKey{}, fmt.Errorf("unsupported algorithm %q (want HS256, RS256, ES256 or EdDSA)", k.Algorithm)
	}
	if k.Secret != "" {
		// Never let a shared secret stand in for a public key: that is the
		// HS/RS confusion the per-key algorithm exists to prevent.
		return verificationKey{}, fmt.Errorf("%s needs a public key, not Secret", k.Algorithm)
	}
	pub := k.PublicKey
	if k.PEMFile != "" {
		var err error
		if pub, err = readPEMPublicKey(k.PEMFile); err != nil {
			return verificationKey{}, err
		}
	}
	key, err := checkPublicKey(k.Algorithm, pub)
	if err != nil {
		return verificationKey{}, err
	}
	vk.key = key
	return vk, nil
}

// checkPublicKey reports whether pub is a key of the kind alg needs and
// returns it in the form the jwt library expects.
func checkPublicKey(alg string, pub crypto.PublicKey) (any, error) {
	switch alg {
	case RS256:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("RS256 needs an RSA public key, got %T", pub)
		}
		if k.N == nil || k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits, want at least %d", bitLen(k), minRSABits)
		}
		return k, nil
	case ES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("ES256 needs an ECDSA P-256 public key, got %T", pub)
		}
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ES256 needs curve P-256, got %s", k.Curve.Params().Name)
		}
		return k, nil
	case EdDSA:
		switch k := pub.(type) {
		case ed25519.PublicKey:
			if len(k) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("Ed25519 public key is %d bytes, want %d", len(k), ed25519.PublicKeySize)
			}
			return k, nil
		case *ed25519.PublicKey:
			return checkPublicKey(alg, *k)
		}
		return nil, fmt.Errorf("EdDSA needs an Ed25519 public key, got %T", pub)
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}

func bitLen(k *rsa.PublicKey) int {
	if k.N == nil {
		return 0
	}
	return k.N.BitLen()
}

// readPEMPublicKey reads the first PEM block of path as a public key.
func readPEMPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("read %s: no PEM block", path)
	}
	var pub crypto.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		// In particular private keys: the hub only ever needs the public
		// half, and a private key in its configuration is a leak waiting
		// to happen.
		return nil, fmt.Errorf("read %s: PEM block %q is not a public key or certificate", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return pub, nil
}
