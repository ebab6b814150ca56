//! The trust boundary: a request runs only if the filter signed it, recently, and only once.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use sql_engine::handoff::{self, Handoff, VerifyError, MAX_AGE_MS};
use sql_engine::ApiError;

pub struct Guard {
    key: handoff::HandoffKey,
    seen: Mutex<Seen>,
}

/// Nonces seen within the acceptance window. A hand-off is only accepted until
/// `ts + MAX_AGE_MS`, so its nonce is forgotten then; expiries arrive in (nearly) increasing
/// order, so forgetting is a pop from the front.
#[derive(Default)]
struct Seen {
    nonces: HashSet<String>,
    by_expiry: VecDeque<(u64, String)>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Guard {
    pub fn new(key: Vec<u8>) -> Self {
        Guard {
            key: handoff::HandoffKey::derive(&key),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Verifies signature, age and uniqueness. Nothing touches the database before this passes.
    pub fn admit(
        &self,
        method: &str,
        path: &str,
        document: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Handoff, ApiError> {
        let now = now_ms();
        let handoff =
            handoff::verify(&self.key, method, path, document, signature, now).map_err(|e| {
                ApiError::HandoffRejected(match e {
                    VerifyError::Missing => "missing hand-off".into(),
                    VerifyError::BadSignature => "bad hand-off signature".into(),
                    VerifyError::Malformed => "malformed hand-off".into(),
                    VerifyError::Stale => "stale hand-off".into(),
                })
            })?;
        // A panic elsewhere while holding the lock leaves the nonces as they were: keep using
        // them rather than refuse every later hand-off.
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some((expiry, _)) = seen.by_expiry.front() {
            if *expiry >= now {
                break;
            }
            if let Some((_, nonce)) = seen.by_expiry.pop_front() {
                seen.nonces.remove(&nonce);
            }
        }
        if !seen.nonces.insert(handoff.nonce.clone()) {
            return Err(ApiError::HandoffRejected("replayed hand-off".into()));
        }
        seen.by_expiry
            .push_back((handoff.ts_ms + MAX_AGE_MS, handoff.nonce.clone()));
        Ok(handoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_is_refused() {
        let key = b"0123456789abcdef0123456789abcdef";
        let guard = Guard::new(key.to_vec());
        let h = Handoff {
            ts_ms: now_ms(),
            nonce: "once".into(),
            kind: handoff::Kind::SchemaFetch,
        };
        let (doc, sig) = handoff::sign(
            &handoff::HandoffKey::derive(key),
            "GET",
            handoff::SCHEMA_PATH,
            &h,
        )
        .unwrap();
        assert!(guard
            .admit("GET", handoff::SCHEMA_PATH, Some(&doc), Some(&sig))
            .is_ok());
        let again = guard.admit("GET", handoff::SCHEMA_PATH, Some(&doc), Some(&sig));
        assert_eq!(again.map_err(|e| e.status()), Err(401));
    }
}
