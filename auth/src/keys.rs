//! PostgREST's `jwt-secret` as a key set (Config.hs `parseSecret`): the secret's bytes are read
//! as a JWKS `{"keys":[…]}`, else as one JWK, else as a plain secret of at least 32 bytes that
//! becomes an HS256-only key. JWKs are read as jose-jwt's `parseJwk` reads them: a key with an
//! unknown `kty` or `alg` is kept but never used; a malformed key makes the whole JSON
//! unreadable (and so, as in PostgREST, a plain secret).
//!
//! Beyond PostgREST (jose-jwt has no RSASSA-PSS): RSA keys also verify PS256/384/512, and a
//! JWK may say `"alg": "PS256"`.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use jwt_compact::alg::RsaPublicKey;
use serde_json::{Map, Value};

/// jose-jwt's base64: URL alphabet, no padding. Stray low bits are not checked.
pub(crate) const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// PostgREST's base64 for `jwt-secret-is-base64`: the URL-safe characters are mapped onto the
/// standard alphabet first and the ends trimmed; padding may be left out, and stray low bits
/// are ignored as pgmesh always did.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes a `jwt-secret` given with `jwt-secret-is-base64`.
pub fn decode_secret_base64(text: &str) -> Option<Vec<u8>> {
    let standard: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            '.' => '=',
            c => c,
        })
        .collect();
    SECRET_BASE64.decode(standard).ok()
}

/// The JWS algorithms pgmesh verifies: jose-jwt's, and PS256/384/512.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlg {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
    EdDsa,
}

impl JwsAlg {
    /// jwt-compact's RSA algorithm for an RS or PS `alg`; `None` for the others.
    pub fn rsa(self) -> Option<jwt_compact::alg::Rsa> {
        use jwt_compact::alg::Rsa;
        Some(match self {
            JwsAlg::Rs256 => Rsa::rs256(),
            JwsAlg::Rs384 => Rsa::rs384(),
            JwsAlg::Rs512 => Rsa::rs512(),
            JwsAlg::Ps256 => Rsa::ps256(),
            JwsAlg::Ps384 => Rsa::ps384(),
            JwsAlg::Ps512 => Rsa::ps512(),
            _ => return None,
        })
    }

    pub const ALL: [JwsAlg; 13] = [
        JwsAlg::Hs256,
        JwsAlg::Hs384,
        JwsAlg::Hs512,
        JwsAlg::Rs256,
        JwsAlg::Rs384,
        JwsAlg::Rs512,
        JwsAlg::Ps256,
        JwsAlg::Ps384,
        JwsAlg::Ps512,
        JwsAlg::Es256,
        JwsAlg::Es384,
        JwsAlg::Es512,
        JwsAlg::EdDsa,
    ];

    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            JwsAlg::Hs256 => "HS256",
            JwsAlg::Hs384 => "HS384",
            JwsAlg::Hs512 => "HS512",
            JwsAlg::Rs256 => "RS256",
            JwsAlg::Rs384 => "RS384",
            JwsAlg::Rs512 => "RS512",
            JwsAlg::Ps256 => "PS256",
            JwsAlg::Ps384 => "PS384",
            JwsAlg::Ps512 => "PS512",
            JwsAlg::Es256 => "ES256",
            JwsAlg::Es384 => "ES384",
            JwsAlg::Es512 => "ES512",
            JwsAlg::EdDsa => "EdDSA",
        }
    }

    pub fn parse(name: &str) -> Option<JwsAlg> {
        JwsAlg::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// The other `alg` values jose-jwt knows (`none` and the JWE ones): a JWK naming one of them is
/// read, but fits no JWS algorithm pgmesh verifies.
const OTHER_ALGS: [&str; 7] = [
    "none",
    "RSA1_5",
    "RSA-OAEP",
    "RSA-OAEP-256",
    "A128KW",
    "A192KW",
    "A256KW",
];

/// A key's material, by what it can verify.
#[derive(Debug, Clone)]
pub(crate) enum Material {
    /// `oct`: the HMAC secret.
    Oct(Vec<u8>),
    /// `RSA`; `None` when the numbers do not make a usable key (it never verifies, as jose-jwt
    /// would keep and fail it).
    Rsa(Option<Box<RsaPublicKey>>),
    /// `EC` on P-256, P-384 or P-521; `None` inside when the point is not on its curve.
    P256(Option<p256::ecdsa::VerifyingKey>),
    P384(Option<p384::ecdsa::VerifyingKey>),
    P521(Option<Box<P521Key>>),
    Ed25519(Box<ed25519_compact::PublicKey>),
    /// jose-jwt reads Ed448 keys and so do we, but no crate pgmesh uses verifies Ed448: such a
    /// key fits EdDSA tokens and never verifies them.
    Ed448,
    /// An unknown `kty` or `alg`: kept, never used (jose-jwt's `UnsupportedJwk`).
    Unsupported,
}

/// A P-521 key (p521's has no `Debug`).
#[derive(Clone)]
pub(crate) struct P521Key(pub(crate) p521::ecdsa::VerifyingKey);

impl std::fmt::Debug for P521Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("P521Key")
    }
}

/// One key of the set.
#[derive(Debug, Clone)]
pub struct Key {
    pub(crate) kid: Option<String>,
    /// `use: "enc"`: never for signatures.
    pub(crate) enc: bool,
    /// The key's `alg`, if it names one.
    pub(crate) alg: Option<String>,
    pub(crate) material: Material,
}

impl Key {
    /// jose-jwt's `canDecodeJws`: not an encryption key, `kid` compatible, `alg` compatible,
    /// and a key type that fits the algorithm.
    pub(crate) fn fits(&self, alg: JwsAlg, kid: Option<&str>) -> bool {
        use JwsAlg as J;
        !self.enc
            && kid.is_none_or(|k| self.kid.as_deref() == Some(k))
            && self.alg.as_deref().is_none_or(|a| a == alg.name())
            && matches!(
                (&self.material, alg),
                (Material::Oct(_), J::Hs256 | J::Hs384 | J::Hs512)
                    | (
                        Material::Rsa(_),
                        J::Rs256 | J::Rs384 | J::Rs512 | J::Ps256 | J::Ps384 | J::Ps512,
                    )
                    | (
                        Material::P256(_) | Material::P384(_) | Material::P521(_),
                        J::Es256 | J::Es384 | J::Es512,
                    )
                    | (Material::Ed25519(_) | Material::Ed448, J::EdDsa)
            )
    }
}

/// Which of PostgREST's forms the secret had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretForm {
    Jwks,
    Jwk,
    /// A plain secret: one HS256 key.
    Secret,
}

/// The keys tokens are verified with.
#[derive(Debug, Clone)]
pub struct KeySet {
    pub(crate) keys: Vec<Key>,
    form: SecretForm,
}

impl KeySet {
    /// PostgREST's `parseSecret`: `bytes` are the `jwt-secret` after `@file` and base64.
    pub fn from_secret(bytes: &[u8]) -> Result<KeySet, String> {
        if let Ok(set) = KeySet::from_jwks_json(bytes) {
            return Ok(set);
        }
        if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(bytes) {
            if let Ok(key) = parse_jwk(&o) {
                return Ok(KeySet {
                    keys: vec![key],
                    form: SecretForm::Jwk,
                });
            }
        }
        if bytes.len() < 32 {
            return Err(String::from(
                "The JWT secret must be at least 32 characters long.",
            ));
        }
        Ok(KeySet {
            keys: vec![Key {
                kid: None,
                enc: false,
                alg: Some(String::from("HS256")),
                material: Material::Oct(bytes.to_vec()),
            }],
            form: SecretForm::Secret,
        })
    }

    /// The key set of a `jwt-secret` value (after `@file`) and `jwt-secret-is-base64`.
    pub fn from_setting(secret: &str, is_base64: bool) -> Result<KeySet, String> {
        if is_base64 {
            let bytes = decode_secret_base64(secret).ok_or_else(|| {
                String::from("The JWT secret is not valid base64 (jwt-secret-is-base64 is true).")
            })?;
            KeySet::from_secret(&bytes)
        } else {
            KeySet::from_secret(secret.as_bytes())
        }
    }

    /// A JWKS document `{"keys":[…]}` (the `jwt-secret` form, or a JWKS fetched from a URL).
    pub fn from_jwks_json(bytes: &[u8]) -> Result<KeySet, String> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
        let Some(keys) = doc.get("keys") else {
            return Err(String::from("the JWKS has no \"keys\""));
        };
        let Value::Array(keys) = keys else {
            return Err(String::from("the JWKS's \"keys\" is not an array"));
        };
        let keys = keys
            .iter()
            .enumerate()
            .map(|(i, k)| match k {
                Value::Object(o) => parse_jwk(o).map_err(|e| format!("key {i}: {e}")),
                _ => Err(format!("key {i}: Jwk must be a JSON object")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeySet {
            keys,
            form: SecretForm::Jwks,
        })
    }

    pub fn form(&self) -> SecretForm {
        self.form
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether some key has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The keys that could verify a token with this `alg` and `kid`.
    pub(crate) fn candidates<'a>(
        &'a self,
        alg: JwsAlg,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Key> + 'a {
        self.keys.iter().filter(move |k| k.fits(alg, kid))
    }
}

/// A field jose-jwt reads as base64url bytes; absent or `null` is `None`.
fn bytes_field(o: &Map<String, Value>, name: &str) -> Result<Option<Vec<u8>>, String> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => B64URL
            .decode(s)
            .map(Some)
            .map_err(|_| format!("'{name}': could not base64 decode bytes")),
        Some(_) => Err(format!("'{name}' must be a string")),
    }
}

fn text_field<'a>(o: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("'{name}' must be a string")),
    }
}

/// jose-jwt's `parseJwk` and `createJwk`.
fn parse_jwk(o: &Map<String, Value>) -> Result<Key, String> {
    let known_alg = match o.get("alg") {
        None | Some(Value::Null) => true,
        Some(Value::String(a)) => JwsAlg::parse(a).is_some() || OTHER_ALGS.contains(&a.as_str()),
        Some(_) => false,
    };
    let known_kty = match o.get("kty") {
        None | Some(Value::Null) => true,
        Some(Value::String(t)) => matches!(t.as_str(), "RSA" | "EC" | "OKP" | "oct"),
        Some(_) => false,
    };
    if !known_alg || !known_kty {
        return Ok(Key {
            kid: None,
            enc: false,
            alg: None,
            material: Material::Unsupported,
        });
    }
    let kty = text_field(o, "kty")?.ok_or("'kty' is required")?;
    let b = |name: &str| bytes_field(o, name);
    let (n, e, d, p, q, dp, dq, qi) = (
        b("n")?,
        b("e")?,
        b("d")?,
        b("p")?,
        b("q")?,
        b("dp")?,
        b("dq")?,
        b("qi")?,
    );
    let (k, x, y) = (b("k")?, b("x")?, b("y")?);
    let crv = text_field(o, "crv")?;
    let enc = match text_field(o, "use")? {
        None | Some("sig") => false,
        Some("enc") => true,
        Some(_) => return Err(String::from("'use' value must be either 'sig' or 'enc'")),
    };
    let alg = text_field(o, "alg")?.map(String::from);
    let kid = text_field(o, "kid")?.map(String::from);
    text_field(o, "x5u")?;
    text_field(o, "x5t")?;
    match o.get("x5c") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
        Some(_) => return Err(String::from("'x5c' must be an array of strings")),
    }
    // jose-jwt refuses a set of parameters only when all of them are present.
    let rsa_private = [&p, &q, &dp, &dq, &qi].iter().all(|v| v.is_some());
    let rsa_all = n.is_some() && e.is_some() && d.is_some() && rsa_private;
    let rsa_but_d = n.is_some() && e.is_some() && rsa_private;
    let no_ec = || -> Result<(), String> {
        if crv.is_some() {
            return Err(String::from(
                "Elliptic curve type can't be set for an RSA key",
            ));
        }
        if x.is_some() && y.is_some() {
            return Err(String::from(
                "Elliptic curve coordinates can't be set for an RSA key",
            ));
        }
        Ok(())
    };
    let key = |material| Key {
        kid: kid.clone(),
        enc,
        alg: alg.clone(),
        material,
    };
    match kty {
        "RSA" => {
            let n = n.as_ref().ok_or("n is required for an RSA key")?;
            let e = e.as_ref().ok_or("e is required for an RSA key")?;
            no_ec()?;
            if d.is_none() && rsa_private {
                return Err(String::from(
                    "RSA private parameters can't be set for a public key",
                ));
            }
            // A private key verifies with its public part, as in jose-jwt.
            let public = RsaPublicKey::new_with_max_size(
                rsa::BigUint::from_bytes_be(n),
                rsa::BigUint::from_bytes_be(e),
                16_384,
            )
            .ok()
            .map(Box::new);
            Ok(key(Material::Rsa(public)))
        }
        "oct" => {
            let k = k.ok_or("k is required for a symmetric key")?;
            if rsa_all {
                return Err(String::from(
                    "RSA parameters can't be set for a symmetric key",
                ));
            }
            no_ec()?;
            Ok(key(Material::Oct(k)))
        }
        "OKP" => {
            let crv = crv.ok_or("crv is required for an OKP key")?;
            let x = x.as_ref().ok_or("x is required for an OKP key")?;
            if rsa_but_d {
                return Err(String::from("RSA parameters can't be set for an OKP key"));
            }
            // An OKP key is always a signing key for EdDSA, whatever `use` and `alg` say.
            let okp = |material| Key {
                kid: kid.clone(),
                enc: false,
                alg: Some(String::from("EdDSA")),
                material,
            };
            match crv {
                "Ed25519" => {
                    let public = ed25519_compact::PublicKey::from_slice(x)
                        .map_err(|_| "Invalid OKP key data")?;
                    if let Some(d) = &d {
                        let seed = ed25519_compact::Seed::from_slice(d)
                            .map_err(|_| "Invalid OKP key data")?;
                        if ed25519_compact::KeyPair::from_seed(seed).pk != public {
                            return Err(String::from("Public key x doesn't match private key d"));
                        }
                    }
                    Ok(okp(Material::Ed25519(Box::new(public))))
                }
                "Ed448" => {
                    if x.len() != 57 || d.as_ref().is_some_and(|d| d.len() != 57) {
                        return Err(String::from("Invalid OKP key data"));
                    }
                    Ok(okp(Material::Ed448))
                }
                _ => Err(String::from("Unknown or unsupported OKP type")),
            }
        }
        "EC" => {
            let crv = crv.ok_or("crv is required for an elliptic curve key")?;
            let size = match crv {
                "P-256" => 32,
                "P-384" => 48,
                "P-521" => 66,
                _ => return Err(String::from("crv must be a valid EC curve name")),
            };
            let x = x.as_ref().ok_or("x is required for an EC key")?;
            let y = y.as_ref().ok_or("y is required for an EC key")?;
            if rsa_but_d {
                return Err(String::from(
                    "RSA parameters can't be set for an elliptic curve key",
                ));
            }
            // jose-jwt reads the coordinates as integers: leading zeros may be left out.
            let sec1 = sec1_point(x, y, size);
            let material = match crv {
                "P-256" => Material::P256(
                    sec1.and_then(|p| p256::ecdsa::VerifyingKey::from_sec1_bytes(&p).ok()),
                ),
                "P-384" => Material::P384(
                    sec1.and_then(|p| p384::ecdsa::VerifyingKey::from_sec1_bytes(&p).ok()),
                ),
                _ => Material::P521(
                    sec1.and_then(|p| p521::ecdsa::VerifyingKey::from_sec1_bytes(&p).ok())
                        .map(|k| Box::new(P521Key(k))),
                ),
            };
            Ok(key(material))
        }
        _ => Err(String::from("unsupported key type")),
    }
}

/// The uncompressed SEC1 encoding `04 || x || y` of coordinates `size` bytes long each.
fn sec1_point(x: &[u8], y: &[u8], size: usize) -> Option<Vec<u8>> {
    let pad = |v: &[u8]| -> Option<Vec<u8>> {
        let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
        let v = &v[start..];
        (v.len() <= size).then(|| {
            let mut out = vec![0u8; size - v.len()];
            out.extend_from_slice(v);
            out
        })
    };
    let mut out = vec![4u8];
    out.extend(pad(x)?);
    out.extend(pad(y)?);
    Some(out)
}
