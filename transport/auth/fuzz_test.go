package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func FuzzExtract(f *testing.F) {
	f.Add("Bearer a.b.c", "", "")
	f.Add("bearer  a.b.c ", "ssehub_token=x.y.z", "q")
	f.Add("Basic abc", "", "")
	f.Add("", "a=1; ssehub_token=\"x.y.z\"; b", "")
	f.Add("", "ssehub_token=", "x.y.z")
	f.Add("", "", "")
	f.Add("Bearer\x00", ";;=;", "\r\n")
	f.Fuzz(func(t *testing.T, auth, cookie, query string) {
		tok, err := Extract(auth, cookie, query)
		if err != nil {
			if tok != "" {
				t.Fatalf("Extract() = %q with error %v", tok, err)
			}
			if c := Code(err); c != CodeMissingToken && c != CodeMalformedToken {
				t.Fatalf("Extract() error %v has code %q", err, c)
			}
			if errors.Is(err, ErrMissing) && (auth != "" || cookieValue(cookie, CookieName) != "" || query != "") {
				t.Fatalf("Extract(%q, %q, %q) = ErrMissing with a credential present", auth, cookie, query)
			}
			return
		}
		if tok == "" || len(tok) > MaxTokenSize || checkTokenSyntax(tok) != nil {
			t.Fatalf("Extract() = %q, not a valid token", tok)
		}
		// The header wins: when it is set, the token comes from it.
		switch {
		case auth != "":
			if !strings.Contains(auth, tok) {
				t.Fatalf("Extract(%q, ...) = %q, not from the header", auth, tok)
			}
		case cookieValue(cookie, CookieName) != "":
			if !strings.Contains(cookie, tok) {
				t.Fatalf("Extract(\"\", %q, ...) = %q, not from the cookie", cookie, tok)
			}
		default:
			if tok != query {
				t.Fatalf("Extract(\"\", \"\", %q) = %q, want the query", query, tok)
			}
		}
	})
}

// fuzzKeys are fixed key pairs: fuzzing runs the target in several worker
// processes, and the seed tokens must verify in all of them.
type fuzzKeys struct {
	secret []byte
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
	ed     ed25519.PrivateKey
}

func newFuzzKeys(f *testing.F) fuzzKeys {
	f.Helper()
	b, err := os.ReadFile("testdata/fuzz_rsa_key.pem")
	if err != nil {
		f.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		f.Fatal("testdata/fuzz_rsa_key.pem: no PEM block")
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		f.Fatal(err)
	}
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	return fuzzKeys{
		secret: []byte("fuzz-secret-fuzz-secret-fuzz-secret"),
		rsa:    priv.(*rsa.PrivateKey),
		ec:     ec,
		ed:     ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize)),
	}
}

func FuzzVerify(f *testing.F) {
	k := newFuzzKeys(f)
	v, err := NewVerifier(Config{
		Keys: []KeyConfig{
			{ID: "hs", Algorithm: HS256, Secret: string(k.secret)},
			{ID: "rs", Algorithm: RS256, PublicKey: &k.rsa.PublicKey},
			{ID: "es", Algorithm: ES256, PublicKey: &k.ec.PublicKey},
			{Algorithm: EdDSA, PublicKey: k.ed.Public()},
		},
		Leeway: time.Minute,
	})
	if err != nil {
		f.Fatal(err)
	}
	// Seeds: valid tokens for every algorithm (far-future exp, so saved
	// corpus entries stay valid), with and without kid, plus attacks.
	c := jwt.MapClaims{"sub": "alice", "exp": 4102444800, "subscribe": []string{"news/*", "user/alice"}, "publish": []string{"x"}}
	for _, kid := range []string{"", "hs", "rs", "es"} {
		f.Add(sign(f, jwt.SigningMethodHS256, k.secret, kid, c))
		f.Add(sign(f, jwt.SigningMethodRS256, k.rsa, kid, c))
		f.Add(sign(f, jwt.SigningMethodES256, k.ec, kid, c))
		f.Add(sign(f, jwt.SigningMethodEdDSA, k.ed, kid, c))
	}
	rsPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&k.rsa.PublicKey))})
	f.Add(sign(f, jwt.SigningMethodHS256, rsPEM, "rs", c))
	f.Add(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", c))
	f.Add(sign(f, jwt.SigningMethodHS256, k.secret, "", jwt.MapClaims{"exp": 1}))
	f.Add(sign(f, jwt.SigningMethodHS256, k.secret, "", jwt.MapClaims{"exp": 4102444800, "subscribe": []string{"a?"}}))
	f.Add("")
	f.Add("a.b.c")
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token)
		if err != nil {
			if Code(err) == "" {
				t.Fatalf("Verify() error %v has no code", err)
			}
			return
		}
		if !signedByFuzzKey(k, token) {
			t.Fatalf("Verify(%q) accepted a token no configured key signed", token)
		}
		if c.ExpiresAt.IsZero() {
			t.Fatalf("Verify(%q) accepted a token without exp", token)
		}
	})
}

// signedByFuzzKey checks token's signature independently of the jwt
// library: the header's alg picks the one key of k with that algorithm.
func signedByFuzzKey(k fuzzKeys, token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return false
	}
	var h map[string]any
	if json.Unmarshal(hb, &h) != nil {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	input := []byte(parts[0] + "." + parts[1])
	sum := sha256.Sum256(input)
	switch h["alg"] {
	case "HS256":
		m := hmac.New(sha256.New, k.secret)
		m.Write(input)
		return hmac.Equal(m.Sum(nil), sig)
	case "RS256":
		return rsa.VerifyPKCS1v15(&k.rsa.PublicKey, crypto.SHA256, sum[:], sig) == nil
	case "ES256":
		if len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(&k.ec.PublicKey, sum[:], r, s)
	case "EdDSA":
		return ed25519.Verify(k.ed.Public().(ed25519.PublicKey), input, sig)
	}
	return false
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
