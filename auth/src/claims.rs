//! Claim validation as PostgREST does it: `exp`, `nbf`, `iat` with its clock skew, and `aud`.

use serde_json::{Map, Value};
use sql_engine::ApiError;

/// Clock skew allowed on `exp`, `nbf` and `iat`, as in PostgREST.
pub const SKEW_S: f64 = 30.0;

/// Checks the time claims at `now_s` (Unix seconds) and `aud` against `jwt-aud`.
pub fn validate_claims(
    claims: &Map<String, Value>,
    jwt_aud: Option<&str>,
    now_s: f64,
) -> Result<(), ApiError> {
    let time = |name: &str| -> Result<Option<f64>, ApiError> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(ApiError::JwtClaims(format!(
                "The JWT '{name}' claim must be a number"
            ))),
        }
    };
    if time("exp")?.is_some_and(|exp| now_s - SKEW_S > exp) {
        return Err(ApiError::JwtClaims(String::from("JWT expired")));
    }
    if time("nbf")?.is_some_and(|nbf| now_s + SKEW_S < nbf) {
        return Err(ApiError::JwtClaims(String::from("JWT not yet valid")));
    }
    if time("iat")?.is_some_and(|iat| now_s + SKEW_S < iat) {
        return Err(ApiError::JwtClaims(String::from("JWT issued at future")));
    }
    if let Some(expected) = jwt_aud {
        let ok = match claims.get("aud") {
            None | Some(Value::Null) => true,
            Some(Value::String(a)) => a.as_str() == expected,
            Some(Value::Array(items)) => {
                if items.iter().any(|i| !i.is_string()) {
                    return Err(ApiError::JwtClaims(String::from(
                        "The JWT 'aud' claim must be a string or an array of strings",
                    )));
                }
                items.is_empty() || items.iter().any(|i| i.as_str() == Some(expected))
            }
            Some(_) => {
                return Err(ApiError::JwtClaims(String::from(
                    "The JWT 'aud' claim must be a string or an array of strings",
                )))
            }
        };
        if !ok {
            return Err(ApiError::JwtClaims(String::from("JWT not in audience")));
        }
    }
    Ok(())
}
