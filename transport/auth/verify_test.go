package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testKeys are real key pairs, generated once per test binary (RSA
// generation is slow).
type testKeys struct {
	secret string
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
	ed     ed25519.PrivateKey
	ed2    ed25519.PrivateKey // a key the verifiers do not know
}

var (
	keysOnce sync.Once
	keysVal  testKeys
)

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		k := testKeys{secret: "0123456789abcdef0123456789abcdef-test"}
		if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
		if _, k.ed2, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
		keysVal = k
	})
	return keysVal
}

// writePEM writes pub as a PKIX PEM file in dir and returns its path and
// contents.
func writePEM(t testing.TB, dir, name string, pub crypto.PublicKey) (string, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// writeJWKS writes the public keys of k as a JWKS file, without alg so it
// is inferred, and returns its path.
func writeJWKS(t testing.TB, dir string, k testKeys) string {
	t.Helper()
	point, err := k.ec.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	x, y := point[1:33], point[33:]
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rs-jwks", "use": "sig", "n": b64(k.rsa.N.Bytes()), "e": "AQAB"},
		{"kty": "EC", "kid": "es-jwks", "crv": "P-256", "x": b64(x), "y": b64(y)},
		{"kty": "OKP", "kid": "ed-jwks", "crv": "Ed25519", "alg": "EdDSA", "x": b64(k.ed.Public().(ed25519.PublicKey))},
	}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sign makes a token with the given method, key, kid ("" for none) and
// claims.
func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("SignedString(%s) = %v", m.Alg(), err)
	}
	return s
}

// claims returns valid claims for now, with extra merged in (a nil value
// deletes a claim).
func claims(extra jwt.MapClaims) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub":       "alice",
		"exp":       now.Add(time.Hour).Unix(),
		"iat":       now.Unix(),
		"iss":       "https://issuer.test",
		"aud":       "ssehub",
		"subscribe": []string{"news", "news/*"},
		"publish":   []string{"chat/room1"},
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestVerify(t *testing.T) {
	k := newTestKeys(t)
	dir := t.TempDir()
	rsPath, rsPEM := writePEM(t, dir, "rs.pem", &k.rsa.PublicKey)
	esPath, _ := writePEM(t, dir, "es.pem", &k.ec.PublicKey)
	edPath, _ := writePEM(t, dir, "ed.pem", k.ed.Public())
	cfg := Config{
		Keys: []KeyConfig{
			{ID: "hs", Algorithm: HS256, Secret: k.secret},
			{ID: "rs", Algorithm: RS256, PEMFile: rsPath},
			{ID: "es", Algorithm: ES256, PEMFile: esPath},
			{ID: "ed", Algorithm: EdDSA, PEMFile: edPath},
		},
		Issuer:   "https://issuer.test",
		Audience: "ssehub",
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier() = %v", err)
	}
	leewayCfg := cfg
	leewayCfg.Leeway = time.Minute
	vLeeway, err := NewVerifier(leewayCfg)
	if err != nil {
		t.Fatalf("NewVerifier(leeway) = %v", err)
	}
	// rsOnly has the RSA key alone and no kids: the classic HS/RS confusion
	// setup, where a naive verifier would use the PEM bytes as HMAC secret.
	rsOnly, err := NewVerifier(Config{Keys: []KeyConfig{{Algorithm: RS256, PEMFile: rsPath}}})
	if err != nil {
		t.Fatalf("NewVerifier(rs only) = %v", err)
	}
	jwksKeys, err := LoadJWKS(writeJWKS(t, dir, k))
	if err != nil {
		t.Fatalf("LoadJWKS() = %v", err)
	}
	vJWKS, err := NewVerifier(Config{Keys: jwksKeys})
	if err != nil {
		t.Fatalf("NewVerifier(jwks) = %v", err)
	}

	valid := claims(nil)
	now := time.Now()
	goodHS := sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", valid)
	parts := strings.Split(goodHS, ".")
	tampered := parts[0] + "." + b64([]byte(`{"sub":"mallory","exp":9999999999,"iss":"https://issuer.test","aud":"ssehub"}`)) + "." + parts[2]
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", valid)
	noneKid := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "hs", valid)

	tests := []struct {
		name  string
		v     *Verifier
		token string
		code  string // "" means accepted
	}{
		{"HS256 with kid", v, goodHS, ""},
		{"RS256 with kid", v, sign(t, jwt.SigningMethodRS256, k.rsa, "rs", valid), ""},
		{"ES256 with kid", v, sign(t, jwt.SigningMethodES256, k.ec, "es", valid), ""},
		{"EdDSA with kid", v, sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", valid), ""},
		{"HS256 without kid", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "", valid), ""},
		{"RS256 without kid", v, sign(t, jwt.SigningMethodRS256, k.rsa, "", valid), ""},
		{"ES256 without kid", v, sign(t, jwt.SigningMethodES256, k.ec, "", valid), ""},
		{"EdDSA without kid", v, sign(t, jwt.SigningMethodEdDSA, k.ed, "", valid), ""},
		{"JWKS RS256", vJWKS, sign(t, jwt.SigningMethodRS256, k.rsa, "rs-jwks", valid), ""},
		{"JWKS ES256", vJWKS, sign(t, jwt.SigningMethodES256, k.ec, "es-jwks", valid), ""},
		{"JWKS EdDSA without kid", vJWKS, sign(t, jwt.SigningMethodEdDSA, k.ed, "", valid), ""},
		{"no sub, no grants", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "", claims(jwt.MapClaims{"sub": nil, "subscribe": nil, "publish": nil})), ""},
		{"aud array", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "", claims(jwt.MapClaims{"aud": []string{"other", "ssehub"}})), ""},

		{"empty", v, "", CodeMissingToken},
		{"alg none", v, none, CodeWrongAlgorithm},
		{"alg none with kid", v, noneKid, CodeWrongAlgorithm},
		{"alg none, rs only", rsOnly, none, CodeWrongAlgorithm},
		{"HS/RS confusion", rsOnly, sign(t, jwt.SigningMethodHS256, rsPEM, "", valid), CodeWrongAlgorithm},
		{"HS/RS confusion with kid", v, sign(t, jwt.SigningMethodHS256, rsPEM, "rs", valid), CodeWrongAlgorithm},
		{"HS/RS confusion without kid", v, sign(t, jwt.SigningMethodHS256, rsPEM, "", valid), CodeBadSignature},
		{"RS384 is not configured", v, sign(t, jwt.SigningMethodRS384, k.rsa, "", valid), CodeWrongAlgorithm},
		{"PS256 under RS256 kid", v, sign(t, jwt.SigningMethodPS256, k.rsa, "rs", valid), CodeWrongAlgorithm},
		{"unknown alg", v, b64([]byte(`{"alg":"XX999","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], CodeWrongAlgorithm},
		{"no alg", v, b64([]byte(`{"typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], CodeWrongAlgorithm},

		{"expired", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()})), CodeTokenExpired},
		{"expired within leeway", vLeeway, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"exp": now.Add(-30 * time.Second).Unix()})), ""},
		{"expired beyond leeway", vLeeway, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"exp": now.Add(-2 * time.Minute).Unix()})), CodeTokenExpired},
		{"not yet valid", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"nbf": now.Add(30 * time.Second).Unix()})), CodeTokenNotYetValid},
		{"not yet valid within leeway", vLeeway, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"nbf": now.Add(30 * time.Second).Unix()})), ""},
		{"not yet valid beyond leeway", vLeeway, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"nbf": now.Add(2 * time.Minute).Unix()})), CodeTokenNotYetValid},
		{"wrong issuer", v, sign(t, jwt.SigningMethodES256, k.ec, "es", claims(jwt.MapClaims{"iss": "https://evil.test"})), CodeWrongIssuer},
		{"missing issuer", v, sign(t, jwt.SigningMethodES256, k.ec, "es", claims(jwt.MapClaims{"iss": nil})), CodeWrongIssuer},
		{"wrong audience", v, sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", claims(jwt.MapClaims{"aud": []string{"other"}})), CodeWrongAudience},
		{"missing audience", v, sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", claims(jwt.MapClaims{"aud": nil})), CodeWrongAudience},

		{"bad signature: tampered payload", v, tampered, CodeBadSignature},
		{"bad signature: other Ed25519 key", v, sign(t, jwt.SigningMethodEdDSA, k.ed2, "ed", valid), CodeBadSignature},
		{"bad signature: other secret", v, sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-0123"), "", valid), CodeBadSignature},
		{"bad signature: truncated", v, goodHS[:len(goodHS)-3], CodeBadSignature},
		{"bad signature: empty", v, parts[0] + "." + parts[1] + ".", CodeBadSignature},
		{"wrong kid", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "nope", valid), CodeBadSignature},
		{"non-string kid", v, b64([]byte(`{"alg":"HS256","kid":7}`)) + "." + parts[1] + "." + parts[2], CodeMalformedToken},

		{"garbage", v, "garbage", CodeMalformedToken},
		{"two parts", v, parts[0] + "." + parts[1], CodeMalformedToken},
		{"four parts", v, goodHS + ".x", CodeMalformedToken},
		{"bad base64 header", v, "!!!." + parts[1] + "." + parts[2], CodeMalformedToken},
		{"bad base64 payload", v, parts[0] + ".%%%." + parts[2], CodeMalformedToken},
		{"bad base64 signature", v, parts[0] + "." + parts[1] + ".$$$", CodeMalformedToken},
		{"padded base64", v, parts[0] + "=." + parts[1] + "." + parts[2], CodeMalformedToken},
		{"header not JSON", v, b64([]byte("nope")) + "." + parts[1] + "." + parts[2], CodeMalformedToken},
		{"payload null", v, parts[0] + "." + b64([]byte("null")) + "." + parts[2], CodeMalformedToken},
		{"payload array", v, parts[0] + "." + b64([]byte("[1]")) + "." + parts[2], CodeMalformedToken},
		{"oversized", v, parts[0] + "." + strings.Repeat("A", MaxTokenSize) + "." + parts[2], CodeMalformedToken},

		{"invalid subscribe entry", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"subscribe": []string{"news", "news/?"}})), CodeInvalidClaims},
		{"empty subscribe entry", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"subscribe": []string{""}})), CodeInvalidClaims},
		{"subscribe not an array", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"subscribe": "news"})), CodeInvalidClaims},
		{"subscribe numbers", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"subscribe": []int{1}})), CodeInvalidClaims},
		{"invalid publish entry", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"publish": []string{"a b"}})), CodeInvalidClaims},
		{"sub with star", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"sub": "*"})), CodeInvalidClaims},
		{"sub with newline", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"sub": "a\nb"})), CodeInvalidClaims},
		{"no exp", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"exp": nil})), CodeInvalidClaims},
		{"exp is a string", v, sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(jwt.MapClaims{"exp": "tomorrow"})), CodeMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.v.Verify(tt.token)
			if got := Code(err); got != tt.code {
				t.Fatalf("Verify() error = %v (code %q), want code %q", err, got, tt.code)
			}
			if err != nil {
				if c.Subject != "" || !c.ExpiresAt.IsZero() || !c.Subscribe.Empty() || !c.Publish.Empty() {
					t.Errorf("Verify() claims = %+v with error, want zero", c)
				}
				return
			}
			if c.ExpiresAt.IsZero() {
				t.Errorf("Verify().ExpiresAt is zero")
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	k := newTestKeys(t)
	v, err := NewVerifier(Config{Keys: []KeyConfig{{Algorithm: HS256, Secret: k.secret}}})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := sign(t, jwt.SigningMethodHS256, []byte(k.secret), "", claims(jwt.MapClaims{"exp": exp.Unix()}))
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify() = %v", err)
	}
	if c.Subject != "alice" || !c.ExpiresAt.Equal(exp) {
		t.Errorf("Verify() = sub %q exp %v, want alice %v", c.Subject, c.ExpiresAt, exp)
	}
	for _, tc := range []struct {
		pattern string
		sub     bool
		pub     bool
	}{
		{"news", true, false},
		{"news/eu", true, false},
		{"news/*", true, false},
		{"*", false, false},
		{"chat/room1", false, true},
		{"chat/*", false, false},
	} {
		if got := c.Subscribe.AllowsPattern(tc.pattern); got != tc.sub {
			t.Errorf("Subscribe.AllowsPattern(%q) = %v, want %v", tc.pattern, got, tc.sub)
		}
		if got := c.Publish.AllowsPattern(tc.pattern); got != tc.pub {
			t.Errorf("Publish.AllowsPattern(%q) = %v, want %v", tc.pattern, got, tc.pub)
		}
	}
}

// TestVerifyIDlessKeys checks key choice when keys have no IDs: a token with
// an unknown kid may use them, and several keys of one algorithm are all
// tried.
func TestVerifyIDlessKeys(t *testing.T) {
	k := newTestKeys(t)
	other := "another-secret-another-secret-0123"
	v, err := NewVerifier(Config{Keys: []KeyConfig{
		{Algorithm: HS256, Secret: other},
		{Algorithm: HS256, Secret: k.secret},
		{ID: "ed", Algorithm: EdDSA, PublicKey: k.ed.Public()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		token string
		code  string
	}{
		{"second HS key", sign(t, jwt.SigningMethodHS256, []byte(k.secret), "", claims(nil)), ""},
		{"first HS key, unknown kid", sign(t, jwt.SigningMethodHS256, []byte(other), "rotated", claims(nil)), ""},
		{"EdDSA by kid", sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", claims(nil)), ""},
		{"EdDSA unknown kid", sign(t, jwt.SigningMethodEdDSA, k.ed, "x", claims(nil)), CodeWrongAlgorithm},
		{"HS under EdDSA kid", sign(t, jwt.SigningMethodHS256, []byte(k.secret), "ed", claims(nil)), CodeWrongAlgorithm},
	} {
		_, err := v.Verify(tc.token)
		if got := Code(err); got != tc.code {
			t.Errorf("%s: Verify() = %v (code %q), want code %q", tc.name, err, got, tc.code)
		}
	}
}

func TestNewVerifierErrors(t *testing.T) {
	k := newTestKeys(t)
	dir := t.TempDir()
	rsPath, _ := writePEM(t, dir, "rs.pem", &k.rsa.PublicKey)
	esPath, _ := writePEM(t, dir, "es.pem", &k.ec.PublicKey)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384Path, _ := writePEM(t, dir, "p384.pem", &p384.PublicKey)
	privDER, err := x509.MarshalPKCS8PrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	privPath := filepath.Join(dir, "priv.pem")
	if err := os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error
	}{
		{"no keys", Config{}, "no keys"},
		{"short secret", Config{Keys: []KeyConfig{{ID: "k1", Algorithm: HS256, Secret: "short"}}}, `key "k1" (HS256): HS256 secret is 5 bytes`},
		{"no algorithm", Config{Keys: []KeyConfig{{Secret: k.secret}}}, "key #0 (): no algorithm"},
		{"unsupported algorithm", Config{Keys: []KeyConfig{{Algorithm: "none", Secret: k.secret}}}, `unsupported algorithm "none"`},
		{"RS256 with secret", Config{Keys: []KeyConfig{{ID: "rs", Algorithm: RS256, Secret: k.secret}}}, "RS256 needs a public key"},
		{"HS256 with PEM", Config{Keys: []KeyConfig{{ID: "hs", Algorithm: HS256, PEMFile: rsPath}}}, "HS256 needs Secret"},
		{"two materials", Config{Keys: []KeyConfig{{Algorithm: RS256, Secret: k.secret, PEMFile: rsPath}}}, "exactly one"},
		{"ES256 with RSA key", Config{Keys: []KeyConfig{{ID: "es", Algorithm: ES256, PEMFile: rsPath}}}, "ES256 needs an ECDSA P-256 public key"},
		{"RS256 with EC key", Config{Keys: []KeyConfig{{ID: "rs", Algorithm: RS256, PEMFile: esPath}}}, "RS256 needs an RSA public key"},
		{"ES256 with P-384", Config{Keys: []KeyConfig{{ID: "es", Algorithm: ES256, PEMFile: p384Path}}}, "curve P-256, got P-384"},
		{"missing file", Config{Keys: []KeyConfig{{ID: "rs", Algorithm: RS256, PEMFile: filepath.Join(dir, "nope.pem")}}}, "nope.pem"},
		{"private key", Config{Keys: []KeyConfig{{ID: "es", Algorithm: ES256, PEMFile: privPath}}}, "not a public key"},
		{"duplicate id", Config{Keys: []KeyConfig{{ID: "a", Algorithm: HS256, Secret: k.secret}, {ID: "a", Algorithm: ES256, PEMFile: esPath}}}, `key "a": duplicate`},
		{"negative leeway", Config{Keys: []KeyConfig{{Algorithm: HS256, Secret: k.secret}}, Leeway: -time.Second}, "negative"},
	} {
		_, err := NewVerifier(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewVerifier() = %v, want error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestLoadJWKSErrors(t *testing.T) {
	dir := t.TempDir()
	k := newTestKeys(t)
	x := b64(k.ed.Public().(ed25519.PublicKey))
	for _, tc := range []struct {
		name string
		json string
		want string
	}{
		{"not JSON", `nope`, "invalid character"},
		{"no keys", `{"keys":[]}`, "no keys"},
		{"alg mismatch", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","alg":"RS256","x":"` + x + `"}]}`, `key "a": alg "RS256" does not match`},
		{"HS alg on OKP", `{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"HS256","x":"` + x + `"}]}`, `key #0: alg "HS256"`},
		{"oct key", `{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`, `key "s": kty "oct" is not supported`},
		{"P-384", `{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]}`, `crv "P-384" is not supported`},
		{"X25519", `{"keys":[{"kty":"OKP","crv":"X25519","x":"` + x + `"}]}`, `crv "X25519"`},
		{"enc use", `{"keys":[{"kty":"OKP","crv":"Ed25519","use":"enc","x":"` + x + `"}]}`, `use "enc"`},
		{"short Ed25519", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`, "3 bytes"},
		{"EC point off curve", `{"keys":[{"kty":"EC","crv":"P-256","x":"` + b64(make([]byte, 32)) + `","y":"` + b64(make([]byte, 32)) + `"}]}`, "P-256 point"},
		{"small RSA", `{"keys":[{"kty":"RSA","n":"` + b64([]byte{0xc3, 0x5}) + `","e":"AQAB"}]}`, "want at least 2048"},
		{"RSA even e", `{"keys":[{"kty":"RSA","n":"` + b64(k.rsa.N.Bytes()) + `","e":"Ag"}]}`, "not a valid RSA exponent"},
		{"bad base64", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"***"}]}`, "x is not base64url"},
	} {
		path := filepath.Join(dir, "jwks.json")
		if err := os.WriteFile(path, []byte(tc.json), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadJWKS(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: LoadJWKS() = %v, want error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestMint(t *testing.T) {
	k := newTestKeys(t)
	key := KeyConfig{ID: "dev", Algorithm: HS256, Secret: k.secret}
	v, err := NewVerifier(Config{Keys: []KeyConfig{key}, Issuer: "me", Audience: "ssehub"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Mint(key, MintClaims{Subject: "bob", Subscribe: []string{"news/*"}, Publish: []string{"news/eu"}, Issuer: "me", Audience: "ssehub"})
	if err != nil {
		t.Fatalf("Mint() = %v", err)
	}
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify(Mint()) = %v", err)
	}
	if c.Subject != "bob" || !c.Subscribe.AllowsTopic("news/eu") || !c.Publish.AllowsTopic("news/eu") || c.Publish.AllowsTopic("news/us") {
		t.Errorf("Verify(Mint()) = %+v, want bob with the minted grants", c)
	}
	if d := time.Until(c.ExpiresAt); d < 59*time.Minute || d > time.Hour {
		t.Errorf("minted token expires in %v, want DefaultMintTTL", d)
	}
	for _, tc := range []struct {
		name string
		key  KeyConfig
		c    MintClaims
	}{
		{"RS256 key", KeyConfig{Algorithm: RS256, Secret: k.secret}, MintClaims{}},
		{"short secret", KeyConfig{Secret: "x"}, MintClaims{}},
		{"bad subscribe", key, MintClaims{Subscribe: []string{"a?"}}},
		{"bad publish", key, MintClaims{Publish: []string{""}}},
		{"bad subject", key, MintClaims{Subject: "a*"}},
		{"negative ttl", key, MintClaims{TTL: -time.Second}},
	} {
		if _, err := Mint(tc.key, tc.c); err == nil {
			t.Errorf("%s: Mint() = nil error, want error", tc.name)
		}
	}
}

func TestCode(t *testing.T) {
	if got := Code(nil); got != "" {
		t.Errorf("Code(nil) = %q, want empty", got)
	}
	if got := Code(errors.New("x")); got != "" {
		t.Errorf("Code(foreign) = %q, want empty", got)
	}
	for _, c := range codes {
		if got := Code(errors.Join(errors.New("ctx"), c.err)); got != c.code {
			t.Errorf("Code(%v) = %q, want %q", c.err, got, c.code)
		}
	}
}

// TestVerifyMercureTokens: with Config.Mercure, a token without exp is
// valid (Mercure's publisher tokens often have none), sub may be an IRI,
// and the raw Mercure claims and the header's typ come back; the native
// claims are not read, so a malformed native claim does not matter.
// Natively the same tokens are refused.
func TestVerifyMercureTokens(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-mercure")
	newV := func(mercure bool) *Verifier {
		v, err := NewVerifier(Config{Keys: []KeyConfig{{Algorithm: HS256, Secret: string(secret)}}, Mercure: mercure})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	mercure, native := newV(true), newV(false)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":                   "https://example.com/users/1",
		"iss":                   "https://issuer.test",
		"aud":                   []string{"https://hub.test/.well-known/mercure", "other"},
		"mercure":               map[string]any{"publish": []string{"*"}, "subscribe": []string{"https://example.com/books/{id}"}},
		"authorization_details": []any{map[string]any{"type": "mercure"}},
		"subscribe":             7, // a native claim of the wrong type
	})
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	c, err := mercure.Verify(s)
	if err != nil {
		t.Fatalf("a Mercure token without exp: %v", err)
	}
	if c.Subject != "https://example.com/users/1" || c.Issuer != "https://issuer.test" || c.Type != "at+jwt" || !c.ExpiresAt.IsZero() ||
		string(c.Mercure) != `{"publish":["*"],"subscribe":["https://example.com/books/{id}"]}` ||
		string(c.AuthorizationDetails) != `[{"type":"mercure"}]` ||
		!slices.Equal(c.Audience, []string{"https://hub.test/.well-known/mercure", "other"}) {
		t.Errorf("Mercure claims = %+v", c)
	}
	if _, err := native.Verify(s); err == nil {
		t.Error("a native verifier accepted a token without exp")
	}
	expired := sign(t, jwt.SigningMethodHS256, secret, "", jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix(), "mercure": nil})
	if _, err := mercure.Verify(expired); Code(err) != CodeTokenExpired {
		t.Errorf("an expired Mercure token: %v, want %s", err, CodeTokenExpired)
	}
	// aud as one string is a one-element list (RFC 7519 §4.1.3).
	one := sign(t, jwt.SigningMethodHS256, secret, "", jwt.MapClaims{"aud": "https://hub.test"})
	if c, err := mercure.Verify(one); err != nil || !slices.Equal(c.Audience, []string{"https://hub.test"}) {
		t.Errorf("a string aud = %q, %v", c.Audience, err)
	}
	null := sign(t, jwt.SigningMethodHS256, secret, "", jwt.MapClaims{"mercure": nil})
	if c, err := mercure.Verify(null); err != nil || c.Mercure != nil {
		t.Errorf("a null mercure claim = %q, %v; want absent", c.Mercure, err)
	}
}
