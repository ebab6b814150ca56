//! Token → claims, in jose-jwt's order and with PostgREST's errors (Auth/Jwt.hs `parseToken`,
//! jose-jwt's `decode`): empty, not three parts, not a JWS (bad base64, header, `alg`),
//! `alg: none`, no key fits the `alg` and `kid`, no fitting key verifies the signature, and
//! last the payload that is not a JSON object. Signatures go through jwt-compact's
//! [`Algorithm::verify_signature`] on the raw signing input; claims are read here, not by
//! jwt-compact, so that each claim error stays PostgREST's.

use base64::Engine;
use jwt_compact::alg::{Ed25519, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key};
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{Map, Value};
use sql_engine::{ApiError, JwtDecodeError};

use crate::es::{Es384, Es512};
use crate::keys::{JwsAlg, Key, KeySet, Material, B64URL};

/// Why a token was refused before its claims were validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Decode(JwtDecodeError),
    /// The token names a `kid` that no key of the set has (PostgREST: no suitable key). A
    /// key set fetched from a URL may be stale: this is the cue to fetch it again.
    UnknownKid,
    /// The payload is not a JSON object (PGRST303 "Parsing claims failed").
    Claims,
}

impl TokenError {
    pub fn is_unknown_kid(self) -> bool {
        self == TokenError::UnknownKid
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> ApiError {
        match e {
            TokenError::Decode(d) => ApiError::JwtDecode(d),
            TokenError::UnknownKid => ApiError::JwtDecode(JwtDecodeError::NoSuitableKey),
            TokenError::Claims => ApiError::JwtClaims(String::from("Parsing claims failed")),
        }
    }
}

/// Verifies `token` with `keys`; returns its claims.
pub fn verify(token: &str, keys: &KeySet) -> Result<Map<String, Value>, TokenError> {
    let crypto = TokenError::Decode(JwtDecodeError::BadCrypto);
    if token.is_empty() {
        return Err(TokenError::Decode(JwtDecodeError::Empty));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header64, payload64, signature64] = parts.as_slice() else {
        return Err(TokenError::Decode(JwtDecodeError::Parts(parts.len())));
    };
    let header = B64URL.decode(header64).map_err(|_| crypto)?;
    let Ok(Value::Object(header)) = serde_json::from_slice::<Value>(&header) else {
        return Err(crypto);
    };
    if header.get("alg").and_then(Value::as_str) == Some("none") {
        B64URL.decode(payload64).map_err(|_| crypto)?;
        return Err(TokenError::Decode(JwtDecodeError::Unsecured));
    }
    // A JWE (an `enc` header) has five parts: with three it cannot be read.
    if header.contains_key("enc") {
        return Err(crypto);
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(JwsAlg::parse)
        .ok_or(crypto)?;
    let text = |name: &str| match header.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(crypto),
    };
    text("typ")?;
    text("cty")?;
    let kid = text("kid")?;
    let payload = B64URL.decode(payload64).map_err(|_| crypto)?;
    let signature = B64URL.decode(signature64).map_err(|_| crypto)?;

    let signed = &token.as_bytes()[..header64.len() + 1 + payload64.len()];
    let mut candidates = keys.candidates(alg, kid).peekable();
    if candidates.peek().is_none() {
        return Err(match kid {
            Some(k) if !keys.has_kid(k) => TokenError::UnknownKid,
            _ => TokenError::Decode(JwtDecodeError::NoSuitableKey),
        });
    }
    if !candidates.any(|key| verifies(key, alg, &signature, signed)) {
        return Err(TokenError::Decode(JwtDecodeError::NoKeyVerified));
    }
    match serde_json::from_slice::<Value>(&payload) {
        Ok(Value::Object(claims)) => Ok(claims),
        _ => Err(TokenError::Claims),
    }
}

/// One algorithm's check. jwt-compact builds some signatures from fixed-size arrays and
/// panics on another length: the length is checked first.
fn check<A: Algorithm>(alg: &A, key: &A::VerifyingKey, signature: &[u8], signed: &[u8]) -> bool {
    if A::Signature::LENGTH.is_some_and(|n| n.get() != signature.len()) {
        return false;
    }
    A::Signature::try_from_slice(signature).is_ok_and(|s| alg.verify_signature(&s, key, signed))
}

fn verifies(key: &Key, alg: JwsAlg, signature: &[u8], signed: &[u8]) -> bool {
    use JwsAlg as J;
    match (&key.material, alg) {
        (Material::Oct(k), J::Hs256) => check(&Hs256, &Hs256Key::new(k), signature, signed),
        (Material::Oct(k), J::Hs384) => check(&Hs384, &Hs384Key::new(k), signature, signed),
        (Material::Oct(k), J::Hs512) => check(&Hs512, &Hs512Key::new(k), signature, signed),
        (Material::Rsa(Some(k)), _) => {
            let Some(rsa) = alg.rsa() else {
                return false;
            };
            check(&rsa, k, signature, signed)
        }
        (Material::P256(Some(k)), J::Es256) => {
            check(&jwt_compact::alg::Es256, k, signature, signed)
        }
        (Material::P384(Some(k)), J::Es384) => check(&Es384, k, signature, signed),
        (Material::P521(Some(k)), J::Es512) => check(&Es512, &k.0, signature, signed),
        (Material::Ed25519(k), J::EdDsa) => check(&Ed25519, k, signature, signed),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretForm;
    use crate::testing::{b64, SigningKey};
    use serde_json::json;

    fn claims() -> Value {
        json!({"role": "web_user", "sub": "ann"})
    }

    fn jwks(keys: &[Value]) -> KeySet {
        KeySet::from_secret(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    /// The refusal as PostgREST sends it: status, body and `WWW-Authenticate`.
    fn refusal(token: &str, keys: &KeySet) -> String {
        let e: ApiError = verify(token, keys).expect_err("must be refused").into();
        let r = e.to_response();
        let www = r
            .headers
            .iter()
            .find(|(k, _)| *k == "www-authenticate")
            .map(|(_, v)| v.as_str())
            .unwrap_or("-");
        format!("{} {}\n{www}", r.status, r.body)
    }

    #[test]
    fn every_algorithm_verifies_with_its_jwk() {
        let rsa = SigningKey::generate(JwsAlg::Rs256);
        for alg in JwsAlg::ALL {
            let fresh;
            let key = match alg {
                JwsAlg::Rs256
                | JwsAlg::Rs384
                | JwsAlg::Rs512
                | JwsAlg::Ps256
                | JwsAlg::Ps384
                | JwsAlg::Ps512 => &rsa,
                _ => {
                    fresh = SigningKey::generate(alg);
                    &fresh
                }
            };
            let set = KeySet::from_secret(key.public_jwk().to_string().as_bytes()).unwrap();
            assert_eq!(set.form(), SecretForm::Jwk);
            let token = key.sign(alg, None, &claims());
            assert_eq!(
                verify(&token, &set),
                Ok(claims().as_object().unwrap().clone()),
                "{alg:?}"
            );
            // One byte of the payload changed: the signature no longer holds.
            let (head, rest) = token.split_once('.').unwrap();
            let (_, sig) = rest.split_once('.').unwrap();
            let tampered = format!("{head}.{}.{sig}", b64(r#"{"role":"postgres","sub":"ann"}"#));
            assert_eq!(
                verify(&tampered, &set),
                Err(TokenError::Decode(JwtDecodeError::NoKeyVerified)),
                "{alg:?}"
            );
            // A JWK that names the algorithm verifies it, and only it.
            let named = jwks(&[key.jwk_with(json!({"alg": alg.name()}))]);
            assert!(verify(&token, &named).is_ok(), "{alg:?}");
        }
    }

    #[test]
    fn a_plain_secret_is_hs256_only_and_at_least_32_bytes() {
        let secret = b"reallyreallyreallyreallyverysafe";
        let set = KeySet::from_secret(secret).unwrap();
        assert_eq!(set.form(), SecretForm::Secret);
        let key = SigningKey::Oct(secret.to_vec());
        assert!(verify(&key.sign(JwsAlg::Hs256, None, &claims()), &set).is_ok());
        insta::assert_snapshot!(refusal(&key.sign(JwsAlg::Hs512, None, &claims()), &set), @r#"
        401 {"code":"PGRST301","details":"No suitable key was found to decode the JWT","hint":null,"message":"No suitable key or wrong key type"}
        Bearer error="invalid_token", error_description="No suitable key or wrong key type"
        "#);
        assert_eq!(
            KeySet::from_secret(b"short").unwrap_err(),
            "The JWT secret must be at least 32 characters long."
        );
        // Binary secrets are secrets too.
        let binary: Vec<u8> = (0u8..=255).rev().collect();
        let set = KeySet::from_secret(&binary).unwrap();
        let key = SigningKey::Oct(binary);
        assert!(verify(&key.sign(JwsAlg::Hs256, Some("any"), &claims()), &set).is_err());
        assert!(verify(&key.sign(JwsAlg::Hs256, None, &claims()), &set).is_ok());
    }

    #[test]
    fn a_wrong_secret_is_none_of_the_keys() {
        let set = KeySet::from_secret(b"reallyreallyreallyreallyverysafe").unwrap();
        let other = SigningKey::Oct(b"another-secret-that-is-long-enough".to_vec());
        insta::assert_snapshot!(refusal(&other.sign(JwsAlg::Hs256, None, &claims()), &set), @r#"
        401 {"code":"PGRST301","details":"None of the keys was able to decode the JWT","hint":null,"message":"No suitable key or wrong key type"}
        Bearer error="invalid_token", error_description="No suitable key or wrong key type"
        "#);
    }

    #[test]
    fn structure_errors_come_first_in_jose_jwt_s_order() {
        let set = KeySet::from_secret(b"reallyreallyreallyreallyverysafe").unwrap();
        insta::assert_snapshot!(refusal("", &set), @r#"
        401 {"code":"PGRST301","details":null,"hint":null,"message":"Empty JWT is sent in Authorization header"}
        Bearer error="invalid_token", error_description="Empty JWT is sent in Authorization header"
        "#);
        insta::assert_snapshot!(refusal("a.b.c.d", &set), @r#"
        401 {"code":"PGRST301","details":null,"hint":null,"message":"Expected 3 parts in JWT; got 4"}
        Bearer error="invalid_token", error_description="Expected 3 parts in JWT; got 4"
        "#);
        let payload = b64(claims().to_string());
        let crypto = |header: &str| refusal(&format!("{}.{payload}.AAAA", b64(header)), &set);
        let bad_crypto = r#"401 {"code":"PGRST301","details":null,"hint":null,"message":"JWT cryptographic operation failed"}
Bearer error="invalid_token", error_description="JWT cryptographic operation failed""#;
        for header in [
            "not json",
            r#"["HS256"]"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":"HS999"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"alg":"RSA-OAEP"}"#,
            r#"{"alg":"HS256","kid":7}"#,
            r#"{"alg":"HS256","typ":1}"#,
            r#"{"alg":"RSA-OAEP","enc":"A128GCM"}"#,
        ] {
            assert_eq!(crypto(header), bad_crypto, "{header}");
        }
        // Not base64url: padding, the standard alphabet, stray characters.
        let header = b64(r#"{"alg":"HS256"}"#);
        for token in [
            format!("{header}=.{payload}.AAAA"),
            format!("{header}.{payload}.AA+/"),
            format!("{header}.{payload}!.AAAA"),
        ] {
            assert_eq!(refusal(&token, &set), bad_crypto, "{token}");
        }
    }

    #[test]
    fn alg_none_is_refused_with_jose_jwt_s_details() {
        let set = KeySet::from_secret(b"reallyreallyreallyreallyverysafe").unwrap();
        let token = format!(
            "{}.{}.",
            b64(r#"{"alg":"none"}"#),
            b64(claims().to_string())
        );
        insta::assert_snapshot!(refusal(&token, &set), @r#"
        401 {"code":"PGRST301","details":"JWT is unsecured but expected 'alg' was not 'none'","hint":null,"message":"Wrong or unsupported encoding algorithm"}
        Bearer error="invalid_token", error_description="Wrong or unsupported encoding algorithm"
        "#);
    }

    #[test]
    fn kid_selects_the_key_and_no_kid_tries_each() {
        let a = SigningKey::generate(JwsAlg::Es256);
        let b = SigningKey::generate(JwsAlg::Es256);
        let set = jwks(&[
            a.jwk_with(json!({"kid": "a"})),
            b.jwk_with(json!({"kid": "b"})),
        ]);
        assert!(verify(&b.sign(JwsAlg::Es256, Some("b"), &claims()), &set).is_ok());
        assert!(verify(&b.sign(JwsAlg::Es256, None, &claims()), &set).is_ok());
        // b's token sent as a's: a's key alone is tried.
        assert_eq!(
            verify(&b.sign(JwsAlg::Es256, Some("a"), &claims()), &set),
            Err(TokenError::Decode(JwtDecodeError::NoKeyVerified))
        );
        let unknown = b.sign(JwsAlg::Es256, Some("c"), &claims());
        let e = verify(&unknown, &set).unwrap_err();
        assert!(e.is_unknown_kid());
        insta::assert_snapshot!(refusal(&unknown, &set), @r#"
        401 {"code":"PGRST301","details":"No suitable key was found to decode the JWT","hint":null,"message":"No suitable key or wrong key type"}
        Bearer error="invalid_token", error_description="No suitable key or wrong key type"
        "#);
        // Keys without a kid do not fit a token that names one.
        let anonymous = jwks(&[b.public_jwk()]);
        assert!(
            verify(&b.sign(JwsAlg::Es256, Some("b"), &claims()), &anonymous)
                .unwrap_err()
                .is_unknown_kid()
        );
        // A kid that exists but on a key of another type is not "unknown".
        let rsa = SigningKey::generate(JwsAlg::Rs256);
        let mixed = jwks(&[rsa.jwk_with(json!({"kid": "b"}))]);
        assert_eq!(
            verify(&b.sign(JwsAlg::Es256, Some("b"), &claims()), &mixed),
            Err(TokenError::Decode(JwtDecodeError::NoSuitableKey))
        );
    }

    #[test]
    fn the_public_key_as_an_hmac_secret_fits_no_key() {
        let rsa = SigningKey::generate(JwsAlg::Rs256);
        let jwk = rsa.public_jwk();
        let set = jwks(std::slice::from_ref(&jwk));
        let forged = SigningKey::Oct(jwk.to_string().into_bytes());
        let forged = forged.sign(JwsAlg::Hs256, None, &claims());
        assert_eq!(
            verify(&forged, &set),
            Err(TokenError::Decode(JwtDecodeError::NoSuitableKey))
        );
        let forged = SigningKey::Oct(json!({"keys": [jwk]}).to_string().into_bytes());
        assert!(verify(&forged.sign(JwsAlg::Hs256, None, &claims()), &set).is_err());
    }

    #[test]
    fn use_alg_and_curve_of_a_key_are_respected() {
        let rsa = SigningKey::generate(JwsAlg::Rs256);
        let token = rsa.sign(JwsAlg::Rs256, None, &claims());
        let no = Err(TokenError::Decode(JwtDecodeError::NoSuitableKey));
        assert_eq!(
            verify(&token, &jwks(&[rsa.jwk_with(json!({"use": "enc"}))])),
            no
        );
        assert_eq!(
            verify(&token, &jwks(&[rsa.jwk_with(json!({"alg": "RS512"}))])),
            no
        );
        assert_eq!(
            verify(&token, &jwks(&[rsa.jwk_with(json!({"alg": "RSA-OAEP"}))])),
            no
        );
        assert!(verify(&token, &jwks(&[rsa.jwk_with(json!({"use": "sig"}))])).is_ok());
        // An ES256 token fits a P-384 key, which cannot verify it.
        let p256 = SigningKey::generate(JwsAlg::Es256);
        let p384 = SigningKey::generate(JwsAlg::Es384);
        assert_eq!(
            verify(
                &p256.sign(JwsAlg::Es256, None, &claims()),
                &jwks(&[p384.public_jwk()])
            ),
            Err(TokenError::Decode(JwtDecodeError::NoKeyVerified))
        );
        // A private JWK verifies with its public part.
        use rsa::traits::PrivateKeyParts;
        let SigningKey::Rsa(private) = &rsa else {
            unreachable!()
        };
        let d = b64(private.d().to_bytes_be());
        assert!(verify(&token, &jwks(&[rsa.jwk_with(json!({ "d": d }))])).is_ok());
    }

    #[test]
    fn unknown_key_types_are_kept_unused_and_bad_keys_make_a_plain_secret() {
        let set = jwks(&[
            json!({"kty": "XYZ", "k": "abc"}),
            json!({"kty": "oct", "k": "a", "alg": "HS1"}),
        ]);
        assert_eq!((set.form(), set.len()), (SecretForm::Jwks, 2));
        let key = SigningKey::Oct(b"a".to_vec());
        assert_eq!(
            verify(&key.sign(JwsAlg::Hs256, None, &claims()), &set),
            Err(TokenError::Decode(JwtDecodeError::NoSuitableKey))
        );
        // An RSA key without `e`: the JSON is no key set, and so a plain secret, as in
        // PostgREST.
        let text = r#"{"keys":[{"kty":"RSA","n":"AQAB"}]}"#;
        assert_eq!(
            KeySet::from_secret(text.as_bytes()).unwrap().form(),
            SecretForm::Secret
        );
        assert!(KeySet::from_jwks_json(text.as_bytes())
            .unwrap_err()
            .contains("e is required"));
        assert_eq!(
            KeySet::from_secret(br#"{"kty":"EC"}"#).unwrap_err(),
            "The JWT secret must be at least 32 characters long."
        );
        assert!(KeySet::from_jwks_json(b"[]").is_err());
        assert!(KeySet::from_jwks_json(br#"{"keys":{}}"#).is_err());
    }

    #[test]
    fn wrong_signature_lengths_are_refused_without_panicking() {
        for alg in [
            JwsAlg::Hs256,
            JwsAlg::Hs512,
            JwsAlg::Es256,
            JwsAlg::Es384,
            JwsAlg::Es512,
            JwsAlg::EdDsa,
        ] {
            let key = SigningKey::generate(alg);
            let set = jwks(&[key.public_jwk()]);
            let token = key.sign(alg, None, &claims());
            let (input, _) = token.rsplit_once('.').unwrap();
            for sig in ["", "AA", &b64([7u8; 200])] {
                assert_eq!(
                    verify(&format!("{input}.{sig}"), &set),
                    Err(TokenError::Decode(JwtDecodeError::NoKeyVerified)),
                    "{alg:?} {sig}"
                );
            }
        }
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_parsing_claims_failed() {
        let key = SigningKey::Oct(b"reallyreallyreallyreallyverysafe".to_vec());
        let set = KeySet::from_secret(b"reallyreallyreallyreallyverysafe").unwrap();
        for payload in ["[1]", "\"x\"", "not json"] {
            let token = key.sign_raw(JwsAlg::Hs256, r#"{"alg":"HS256"}"#, payload);
            insta::allow_duplicates! {
                insta::assert_snapshot!(refusal(&token, &set), @r#"
                401 {"code":"PGRST303","details":null,"hint":null,"message":"Parsing claims failed"}
                Bearer error="invalid_token", error_description="Parsing claims failed"
                "#);
            }
        }
    }
}
