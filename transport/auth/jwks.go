package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
)

// jwk is one JSON Web Key (RFC 7517), public parameters only.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`   // RSA modulus
	E   string `json:"e"`   // RSA exponent
	Crv string `json:"crv"` // EC or OKP curve
	X   string `json:"x"`
	Y   string `json:"y"`
}

// LoadJWKS reads the public keys of a local JWKS file ({"keys": [...]})
// and returns them as KeyConfigs with ID, Algorithm and PublicKey set, to be
// added to Config.Keys. It accepts RSA (RS256), EC P-256 (ES256) and OKP
// Ed25519 (EdDSA) keys. A key's alg, when given, must be the one its kty
// and crv imply; when absent it is inferred from them. Any other key (a
// symmetric oct key, another curve or algorithm, use other than "sig") is an
// error naming the key, so a configuration never silently loses one.
func LoadJWKS(path string) ([]KeyConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("auth: jwks %s: %w", path, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("auth: jwks %s: no keys", path)
	}
	keys := make([]KeyConfig, 0, len(set.Keys))
	for i, k := range set.Keys {
		kc, err := k.keyConfig()
		if err != nil {
			name := "#" + strconv.Itoa(i)
			if k.Kid != "" {
				name = strconv.Quote(k.Kid)
			}
			return nil, fmt.Errorf("auth: jwks %s: key %s: %w", path, name, err)
		}
		keys = append(keys, kc)
	}
	return keys, nil
}

// keyConfig checks k and converts it to a KeyConfig.
func (k jwk) keyConfig() (KeyConfig, error) {
	alg, err := jwkAlgorithm(k.Kty, k.Crv, k.Use)
	if err != nil {
		return KeyConfig{}, err
	}
	var pub any
	switch alg {
	case RS256:
		pub, err = k.rsaKey()
	case ES256:
		pub, err = k.p256Key()
	case EdDSA:
		pub, err = k.ed25519Key()
	}
	if err != nil {
		return KeyConfig{}, err
	}
	return checkJWK(k.Kid, alg, k.Alg, k.Kty, k.Crv, pub)
}

// jwkAlgorithm returns the one algorithm a JWK of this kty, crv and use
// verifies by ssehub's rules: RSA is RS256, EC P-256 is ES256, OKP Ed25519
// is EdDSA, and a key for anything but signatures is refused. The rules
// are shared by local files ([LoadJWKS]) and fetched sets ([RemoteJWKS]).
func jwkAlgorithm(kty, crv, use string) (string, error) {
	if use != "" && use != "sig" {
		return "", fmt.Errorf("use %q, want sig", use)
	}
	switch {
	case kty == "RSA":
		return RS256, nil
	case kty == "EC" && crv == "P-256":
		return ES256, nil
	case kty == "OKP" && crv == "Ed25519":
		return EdDSA, nil
	case kty == "EC" || kty == "OKP":
		return "", fmt.Errorf("kty %q crv %q is not supported (want P-256 or Ed25519)", kty, crv)
	}
	return "", fmt.Errorf("kty %q is not supported (want RSA, EC or OKP public keys)", kty)
}

// checkJWK finishes the checks of a JWK whose algorithm jwkAlgorithm chose:
// the declared alg, when given, must be that algorithm, and pub must suit
// it (RSA size, curve).
func checkJWK(kid, alg, declared, kty, crv string, pub any) (KeyConfig, error) {
	if declared != "" && declared != alg {
		return KeyConfig{}, fmt.Errorf("alg %q does not match kty %q crv %q (want %s)", declared, kty, crv, alg)
	}
	if _, err := checkPublicKey(alg, pub); err != nil {
		return KeyConfig{}, err
	}
	return KeyConfig{ID: kid, Algorithm: alg, PublicKey: pub}, nil
}

func (k jwk) rsaKey() (*rsa.PublicKey, error) {
	n, err := decodeParam("n", k.N)
	if err != nil {
		return nil, err
	}
	e, err := decodeParam("e", k.E)
	if err != nil {
		return nil, err
	}
	if len(e) > 4 {
		return nil, errors.New("e is too large")
	}
	exp := new(big.Int).SetBytes(e)
	if exp.Int64() < 3 || exp.Bit(0) == 0 {
		return nil, fmt.Errorf("e=%d is not a valid RSA exponent", exp.Int64())
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
}

func (k jwk) p256Key() (*ecdsa.PublicKey, error) {
	x, err := decodeParam("x", k.X)
	if err != nil {
		return nil, err
	}
	y, err := decodeParam("y", k.Y)
	if err != nil {
		return nil, err
	}
	const size = 32 // RFC 7518 section 6.2.1.2: full-length coordinates
	if len(x) != size || len(y) != size {
		return nil, fmt.Errorf("P-256 coordinates are %d and %d bytes, want %d", len(x), len(y), size)
	}
	// ParseUncompressedPublicKey checks that the point is on the curve.
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, fmt.Errorf("P-256 point: %w", err)
	}
	return pub, nil
}

func (k jwk) ed25519Key() (ed25519.PublicKey, error) {
	x, err := decodeParam("x", k.X)
	if err != nil {
		return nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("Ed25519 x is %d bytes, want %d", len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}

// decodeParam decodes a base64url (unpadded) key parameter.
func decodeParam(name, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("missing %s", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64url: %w", name, err)
	}
	return b, nil
}
