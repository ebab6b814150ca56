//! Authentication: `Authorization: Bearer <jwt>` → role and claims, with PostgREST's messages.
//! pgmesh-auth verifies the token against the key set (every algorithm PostgREST accepts) and
//! validates the claims, each failure with PostgREST's exact error.

pub use pgmesh_auth::cache::TokenCache;
use pgmesh_auth::claims::validate_claims;
pub use pgmesh_auth::keys::KeySet;
use pgmesh_auth::role_path::RoleClaimPath;
use serde_json::{Map, Value};
use sql_engine::settings::ApiSettings;
use sql_engine::ApiError;

/// Who the request runs as, as the hand-off carries it.
pub use sql_engine::handoff::Identity;

/// The bearer token in an `Authorization` header, if the scheme is Bearer (any case).
fn bearer(authorization: &str) -> Option<&str> {
    let trimmed = authorization.trim();
    let (scheme, rest) = trimmed.split_once([' ', '\t']).unwrap_or((trimmed, ""));
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Authenticates a request from its `Authorization` header at `now_s` (Unix seconds).
pub fn authenticate(
    authorization: Option<&str>,
    keys: Option<&KeySet>,
    settings: &ApiSettings,
    role_path: &RoleClaimPath,
    now_s: f64,
) -> Result<Identity, ApiError> {
    authenticate_cached(authorization, keys, settings, role_path, now_s, None)
}

/// [`authenticate`], remembering verified tokens in `cache`.
pub fn authenticate_cached(
    authorization: Option<&str>,
    keys: Option<&KeySet>,
    settings: &ApiSettings,
    role_path: &RoleClaimPath,
    now_s: f64,
    cache: Option<&std::cell::RefCell<TokenCache>>,
) -> Result<Identity, ApiError> {
    let Some(token) = authorization.and_then(bearer) else {
        return anonymous(settings);
    };
    let cached = cache.and_then(|c| c.try_borrow().ok().and_then(|c| c.get(token)));
    let claims = match cached {
        Some(claims) => claims,
        None => {
            // PostgREST refuses any token, even an empty one, when no secret is set.
            let keys = keys.ok_or(ApiError::JwtSecretMissing)?;
            let claims = pgmesh_auth::verify::verify(token, keys)?;
            if let Some(mut c) = cache.and_then(|c| c.try_borrow_mut().ok()) {
                c.insert(token, &claims);
            }
            claims
        }
    };
    validate_claims(&claims, settings.jwt_aud.as_deref(), now_s)?;
    let claims_value = Value::Object(claims);
    let role = match role_path.find(&claims_value) {
        Some(r) => r.into_owned(),
        None => match &settings.db_anon_role {
            Some(anon) => anon.clone(),
            None => return Err(ApiError::AnonymousDisabled),
        },
    };
    let mut claims = match claims_value {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    claims.insert(String::from("role"), Value::String(role.clone()));
    Ok(Identity {
        role,
        claims: Value::Object(claims).to_string(),
        authenticated: true,
    })
}

fn anonymous(settings: &ApiSettings) -> Result<Identity, ApiError> {
    let role = settings
        .db_anon_role
        .clone()
        .ok_or(ApiError::AnonymousDisabled)?;
    let mut claims = Map::new();
    claims.insert(String::from("role"), Value::String(role.clone()));
    Ok(Identity {
        role,
        claims: Value::Object(claims).to_string(),
        authenticated: false,
    })
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use pgmesh_auth::keys::JwsAlg;
    use pgmesh_auth::testing::SigningKey;

    #[test]
    fn a_cached_token_is_still_checked_for_expiry_and_the_cache_is_bounded() {
        let secret = b"reallyreallyreallyreallyverysafe";
        let keys = KeySet::from_secret(secret).unwrap();
        let key = SigningKey::Oct(secret.to_vec());
        let settings = ApiSettings::for_tests(&["api"]);
        let path = RoleClaimPath::parse("$.role").unwrap();
        let token = |exp: u64| {
            let claims = serde_json::json!({"role": "web_user", "exp": exp});
            format!("Bearer {}", key.sign(JwsAlg::Hs256, None, &claims))
        };
        let cache = std::cell::RefCell::new(TokenCache::new(2));
        let t = token(1_000);
        let auth = |t: &str, now: f64| {
            authenticate_cached(Some(t), Some(&keys), &settings, &path, now, Some(&cache))
                .map(|i| i.role)
                .map_err(|e| e.code())
        };
        assert_eq!(auth(&t, 900.0), Ok("web_user".into()));
        assert_eq!(cache.borrow().len(), 1);
        assert_eq!(auth(&t, 900.0), Ok("web_user".into()));
        // Expired later: the cached token is refused all the same.
        assert_eq!(auth(&t, 2_000.0), Err("PGRST303".into()));
        // A forged token never enters the cache.
        let forged = format!("{}x", t.trim_end_matches('A'));
        assert!(auth(&forged, 900.0).is_err());
        assert_eq!(auth(&token(1_001), 900.0), Ok("web_user".into()));
        assert_eq!(auth(&token(1_002), 900.0), Ok("web_user".into()));
        assert!(cache.borrow().len() <= 2);
    }

    #[test]
    fn the_cache_serves_every_algorithm_and_re_checks_expiry() {
        let settings = ApiSettings::for_tests(&["api"]);
        let path = RoleClaimPath::parse("$.role").unwrap();
        for alg in [JwsAlg::Rs256, JwsAlg::Es256, JwsAlg::EdDsa, JwsAlg::Hs512] {
            let key = SigningKey::generate(alg);
            let keys = KeySet::from_secret(key.public_jwk().to_string().as_bytes()).unwrap();
            let cache = std::cell::RefCell::new(TokenCache::new(10));
            let t = format!(
                "Bearer {}",
                key.sign(
                    alg,
                    None,
                    &serde_json::json!({"role": "web_user", "exp": 1_000})
                )
            );
            let auth = |keys: &KeySet, now: f64| {
                authenticate_cached(Some(&t), Some(keys), &settings, &path, now, Some(&cache))
                    .map(|i| i.role)
                    .map_err(|e| e.code())
            };
            assert_eq!(auth(&keys, 900.0), Ok("web_user".into()), "{alg:?}");
            assert_eq!(cache.borrow().len(), 1, "{alg:?}");
            // Served from the cache: even a key set that cannot verify it is not consulted.
            let other = KeySet::from_secret(b"reallyreallyreallyreallyverysafe").unwrap();
            assert_eq!(auth(&other, 900.0), Ok("web_user".into()), "{alg:?}");
            assert_eq!(auth(&keys, 1_031.0), Err("PGRST303".into()), "{alg:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgmesh_auth::keys::JwsAlg;
    use pgmesh_auth::testing::SigningKey;

    const SECRET: &str = "reallyreallyreallyreallyverysafe";

    fn keys() -> KeySet {
        KeySet::from_secret(SECRET.as_bytes()).unwrap()
    }

    fn settings() -> ApiSettings {
        ApiSettings {
            jwt_aud: Some("pgmesh".into()),
            ..ApiSettings::for_tests(&["api"])
        }
    }

    fn token(claims: Value) -> String {
        SigningKey::Oct(SECRET.as_bytes().to_vec()).sign(JwsAlg::Hs256, None, &claims)
    }

    fn auth(header: Option<&str>) -> Result<Identity, String> {
        let path = RoleClaimPath::parse("$.role").unwrap();
        authenticate(header, Some(&keys()), &settings(), &path, 1_000_000.0).map_err(|e| {
            let r = e.to_response();
            format!("{} {}", r.status, r.body)
        })
    }

    #[test]
    fn no_token_is_anonymous() {
        let id = auth(None);
        assert_eq!(id.as_ref().map(|i| i.role.as_str()), Ok("web_anon"));
        assert_eq!(id.map(|i| i.authenticated), Ok(false));
        assert_eq!(
            auth(Some("Basic abc")).map(|i| i.role),
            Ok("web_anon".into())
        );
    }

    #[test]
    fn no_anonymous_role_means_pgrst302() {
        let mut s = settings();
        s.db_anon_role = None;
        let path = RoleClaimPath::parse("$.role").unwrap();
        let e = authenticate(None, Some(&keys()), &s, &path, 0.0)
            .expect_err("anonymous access must be refused")
            .to_response();
        assert_eq!(e.status, 401);
        assert!(e.body.contains("PGRST302") && e.body.contains("Anonymous access is disabled"));
        assert!(e
            .headers
            .contains(&("www-authenticate", "Bearer".to_string())));
    }

    #[test]
    fn valid_token_switches_role() {
        let t = token(
            serde_json::json!({"role": "web_user", "exp": 1_000_100, "aud": "pgmesh", "sub": "ann"}),
        );
        let id = auth(Some(&format!("bearer {t}")));
        assert_eq!(id.as_ref().map(|i| i.role.as_str()), Ok("web_user"));
        let id = id.unwrap();
        assert!(id.authenticated);
        assert!(id.claims.contains("\"sub\":\"ann\""), "{}", id.claims);
    }

    #[test]
    fn a_role_that_is_not_a_string_is_json_encoded_and_claims_carry_it_so() {
        let t = token(serde_json::json!({"role": 42, "aud": "pgmesh"}));
        let id = auth(Some(&format!("Bearer {t}"))).unwrap();
        assert_eq!(id.role, "42");
        assert!(id.claims.contains(r#""role":"42""#), "{}", id.claims);
        let key = keys();
        let path = RoleClaimPath::parse("$.groups[?@.admin == true].name").unwrap();
        let t =
            token(serde_json::json!({"groups": [{"name": "a"}, {"name": ["b"], "admin": true}]}));
        let id = authenticate(
            Some(&format!("Bearer {t}")),
            Some(&key),
            &ApiSettings::for_tests(&["api"]),
            &path,
            0.0,
        )
        .unwrap();
        assert_eq!(id.role, r#"["b"]"#);
    }

    #[test]
    fn token_without_role_claim_uses_anon_role() {
        let t = token(serde_json::json!({"sub": "x"}));
        assert_eq!(
            auth(Some(&format!("Bearer {t}"))).map(|i| (i.role, i.authenticated)),
            Ok(("web_anon".into(), true))
        );
    }

    #[test]
    fn rejections_match_postgrest() {
        let expired = token(serde_json::json!({"role": "web_user", "exp": 999_900}));
        insta::assert_snapshot!(auth(Some(&format!("Bearer {expired}"))).unwrap_err(), @r#"401 {"code":"PGRST303","details":null,"hint":null,"message":"JWT expired"}"#);
        let t = token(serde_json::json!({"role": "web_user"}));
        let forged = format!("{}x", &t[..t.len() - 1]);
        insta::assert_snapshot!(auth(Some(&format!("Bearer {forged}"))).unwrap_err(), @r#"401 {"code":"PGRST301","details":"None of the keys was able to decode the JWT","hint":null,"message":"No suitable key or wrong key type"}"#);
        insta::assert_snapshot!(auth(Some("Bearer a.b")).unwrap_err(), @r#"401 {"code":"PGRST301","details":null,"hint":null,"message":"Expected 3 parts in JWT; got 2"}"#);
        insta::assert_snapshot!(auth(Some("Bearer ")).unwrap_err(), @r#"401 {"code":"PGRST301","details":null,"hint":null,"message":"Empty JWT is sent in Authorization header"}"#);
        let wrong_aud = token(serde_json::json!({"role": "web_user", "aud": "other"}));
        insta::assert_snapshot!(auth(Some(&format!("Bearer {wrong_aud}"))).unwrap_err(), @r#"401 {"code":"PGRST303","details":null,"hint":null,"message":"JWT not in audience"}"#);
        let bad_exp = token(serde_json::json!({"role": "web_user", "exp": "soon"}));
        insta::assert_snapshot!(auth(Some(&format!("Bearer {bad_exp}"))).unwrap_err(), @r#"401 {"code":"PGRST303","details":null,"hint":null,"message":"The JWT 'exp' claim must be a number"}"#);
        let future = token(serde_json::json!({"role": "web_user", "nbf": 1_000_100}));
        insta::assert_snapshot!(auth(Some(&format!("Bearer {future}"))).unwrap_err(), @r#"401 {"code":"PGRST303","details":null,"hint":null,"message":"JWT not yet valid"}"#);
    }
}
