//! Keys made on the spot and tokens signed with them, for tests (feature `test-util`): no fixed
//! token whose key is lost. Each key gives its public JWK (for `jwt-secret` or a JWKS) and
//! signs any header and payload, so that tests can also forge what an attacker would send.

use base64::Engine;
use jwt_compact::alg::{Ed25519, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key};
use jwt_compact::{Algorithm, AlgorithmSignature};
use rsa::rand_core::{OsRng, RngCore};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

use crate::es::{Es384, Es512};
use crate::keys::{JwsAlg, B64URL};

/// base64url without padding, as in tokens and JWKs.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64URL.encode(bytes)
}

/// A private key of one of the families pgmesh verifies.
pub enum SigningKey {
    Oct(Vec<u8>),
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(Box<p521::ecdsa::SigningKey>),
    Ed25519(Box<ed25519_compact::KeyPair>),
}

impl SigningKey {
    /// A fresh key for `alg`: 64 random bytes for HMAC, RSA 2048, the algorithm's curve.
    #[allow(clippy::expect_used)]
    pub fn generate(alg: JwsAlg) -> SigningKey {
        use JwsAlg as J;
        match alg {
            J::Hs256 | J::Hs384 | J::Hs512 => {
                let mut k = vec![0u8; 64];
                OsRng.fill_bytes(&mut k);
                SigningKey::Oct(k)
            }
            J::Rs256 | J::Rs384 | J::Rs512 | J::Ps256 | J::Ps384 | J::Ps512 => SigningKey::Rsa(
                Box::new(rsa::RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key")),
            ),
            J::Es256 => SigningKey::P256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            J::Es384 => SigningKey::P384(p384::ecdsa::SigningKey::random(&mut OsRng)),
            J::Es512 => SigningKey::P521(Box::new(p521::ecdsa::SigningKey::random(&mut OsRng))),
            J::EdDsa => {
                let mut seed = [0u8; 32];
                OsRng.fill_bytes(&mut seed);
                SigningKey::Ed25519(Box::new(ed25519_compact::KeyPair::from_seed(
                    ed25519_compact::Seed::new(seed),
                )))
            }
        }
    }

    /// The public JWK (for `oct`, the secret itself), without `kid`, `alg` or `use`.
    pub fn public_jwk(&self) -> Value {
        match self {
            SigningKey::Oct(k) => json!({"kty": "oct", "k": b64(k)}),
            SigningKey::Rsa(k) => json!({
                "kty": "RSA",
                "n": b64(k.n().to_bytes_be()),
                "e": b64(k.e().to_bytes_be()),
            }),
            SigningKey::P256(k) => ec_jwk(
                "P-256",
                k.verifying_key().to_encoded_point(false).as_bytes(),
            ),
            SigningKey::P384(k) => ec_jwk(
                "P-384",
                k.verifying_key().to_encoded_point(false).as_bytes(),
            ),
            SigningKey::P521(k) => ec_jwk(
                "P-521",
                p521::ecdsa::VerifyingKey::from(k.as_ref())
                    .to_encoded_point(false)
                    .as_bytes(),
            ),
            SigningKey::Ed25519(k) => json!({"kty": "OKP", "crv": "Ed25519", "x": b64(*k.pk)}),
        }
    }

    /// The public JWK with these members added (`kid`, `alg`, `use`…).
    pub fn jwk_with(&self, extra: Value) -> Value {
        let mut jwk = self.public_jwk();
        if let (Value::Object(j), Value::Object(e)) = (&mut jwk, extra) {
            j.extend(e);
        }
        jwk
    }

    /// The signature of `signing_input` with `alg` (an `alg` of another family signs nothing).
    pub fn signature(&self, alg: JwsAlg, signing_input: &[u8]) -> Vec<u8> {
        use JwsAlg as J;
        let m = signing_input;
        match (self, alg) {
            (SigningKey::Oct(k), J::Hs256) => Hs256.sign(&Hs256Key::new(k), m).as_bytes().to_vec(),
            (SigningKey::Oct(k), J::Hs384) => Hs384.sign(&Hs384Key::new(k), m).as_bytes().to_vec(),
            (SigningKey::Oct(k), J::Hs512) => Hs512.sign(&Hs512Key::new(k), m).as_bytes().to_vec(),
            (SigningKey::Rsa(k), a) => {
                let Some(rsa) = a.rsa() else {
                    return Vec::new();
                };
                rsa.sign(k, m).as_bytes().to_vec()
            }
            (SigningKey::P256(k), J::Es256) => {
                jwt_compact::alg::Es256.sign(k, m).as_bytes().to_vec()
            }
            (SigningKey::P384(k), J::Es384) => Es384.sign(k, m).as_bytes().to_vec(),
            (SigningKey::P521(k), J::Es512) => Es512.sign(k, m).as_bytes().to_vec(),
            (SigningKey::Ed25519(k), J::EdDsa) => Ed25519.sign(&k.sk, m).as_bytes().to_vec(),
            _ => Vec::new(),
        }
    }

    /// A token: `header` (JSON text) and `payload` (JSON text) signed with `alg`.
    pub fn sign_raw(&self, alg: JwsAlg, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let sig = self.signature(alg, input.as_bytes());
        format!("{input}.{}", b64(sig))
    }

    /// A token with header `{"alg":…,"typ":"JWT"}` (and `kid` if given) and these claims.
    pub fn sign(&self, alg: JwsAlg, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({"alg": alg.name(), "typ": "JWT"});
        if let (Some(kid), Value::Object(h)) = (kid, &mut header) {
            h.insert(String::from("kid"), Value::String(kid.to_string()));
        }
        self.sign_raw(alg, &header.to_string(), &claims.to_string())
    }
}

/// An EC JWK from the uncompressed SEC1 point `04 || x || y`.
fn ec_jwk(crv: &str, sec1: &[u8]) -> Value {
    let coords = sec1.get(1..).unwrap_or_default();
    let (x, y) = coords.split_at(coords.len() / 2);
    json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)})
}
