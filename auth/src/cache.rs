//! The cache of verified tokens (`jwt-cache-max-entries`).

use serde_json::{Map, Value};

/// Tokens whose signature was verified, with their claims: a repeated token skips the HMAC
/// and the decoding (its times are still checked on every request). Bounded: when full, it
/// starts again empty.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: std::collections::HashMap<String, Map<String, Value>>,
    max: usize,
}

impl TokenCache {
    pub fn new(max: usize) -> Self {
        TokenCache {
            entries: std::collections::HashMap::new(),
            max,
        }
    }

    pub fn get(&self, token: &str) -> Option<Map<String, Value>> {
        self.entries.get(token).cloned()
    }

    pub fn insert(&mut self, token: &str, claims: &Map<String, Value>) {
        if self.max == 0 {
            return;
        }
        if self.entries.len() >= self.max {
            self.entries.clear();
        }
        self.entries.insert(token.to_string(), claims.clone());
    }

    /// Forgets every token (the key set changed).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
