//! Keeping the schema cache in step across the VMs of one Envoy, without host calls.
//!
//! Every Envoy worker runs its own VM, and all of them see one shared-data store. One VM at a
//! time (the lease holder) fetches the schema document from the sidecar and publishes it with
//! its version; every VM adopts a published version it has not adopted yet. The lease is a
//! `holder|expiry_ms` value written with compare-and-swap, renewed by its holder on each fetch
//! and taken over by another VM once it lapses (its holder crashed or went away).
//!
//! The wasm adapter implements [`SharedData`] over the host's shared data and passes the clock
//! in; the tests here use an in-memory store with Envoy's CAS rules.

use sql_engine::handoff::{self, Handoff, HandoffKey};
use sql_engine::schema_cache::SchemaCache;

/// Shared-data keys: the schema document, its version, and the fetching VM's lease.
pub const SCHEMA_KEY: &str = "pgmesh.schema";
pub const VERSION_KEY: &str = "pgmesh.schema.version";
pub const LEADER_KEY: &str = "pgmesh.schema.leader";

/// How long the adapter lets a fetch run before the host gives up on it.
pub const FETCH_TIMEOUT_MS: u64 = 5_000;

/// Why shared data refused a read or a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SharedError {
    /// The value changed since the CAS token was read (another VM wrote it).
    #[error("compare-and-swap mismatch")]
    CasMismatch,
    /// Any other refusal of the host.
    #[error("shared data unavailable")]
    Unavailable,
}

/// A value in shared data and the token that a conditional write must present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub value: Option<Vec<u8>>,
    pub cas: Option<u32>,
}

/// The host's shared data (Envoy's: one store per Envoy, seen by every VM).
///
/// `set` with `Some(cas)` fails with [`SharedError::CasMismatch`] when the key was written
/// since that token was read; with `None` it writes unconditionally. Like Envoy, a key that
/// does not exist yet is written whatever the token.
pub trait SharedData {
    fn get(&self, key: &str) -> Result<Entry, SharedError>;
    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedError>;
}

/// What happened, for the adapter to act on (install a cache) and log.
#[derive(Debug)]
pub enum Event {
    /// A newer published document: serve with it.
    Adopted(Box<SchemaCache>),
    /// The published document does not parse; the cache in use stays.
    SharedInvalid(String),
    /// The fetched document does not parse; nothing is published, the cache in use stays.
    FetchedInvalid(String),
    /// The fetched document could not be written to shared data.
    PublishFailed,
    /// The fetch failed or answered neither 200 nor 304; the cache in use stays.
    FetchFailed(String),
}

/// The answer to a schema fetch, as the adapter read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer<'a> {
    /// 200 with the document.
    Document(&'a [u8]),
    /// 304: the adopted version is current.
    NotModified,
    /// No response, or another status (described for the log).
    Failed(&'a str),
}

/// A fetch to make now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// The adopted version, for `If-None-Match`.
    pub if_none_match: Option<String>,
}

/// One VM's side of the schema sync.
#[derive(Debug)]
pub struct SchemaSync {
    /// This VM's name in the lease (unique per VM).
    holder: String,
    /// The version of the published document this VM has adopted.
    adopted: Option<String>,
    last_fetch_ms: u64,
    /// The host's token of the fetch under way.
    in_flight: Option<u32>,
}

impl SchemaSync {
    pub fn new(holder: String) -> Self {
        SchemaSync {
            holder,
            adopted: None,
            last_fetch_ms: 0,
            in_flight: None,
        }
    }

    /// The adopted version, if any.
    pub fn adopted(&self) -> Option<&str> {
        self.adopted.as_deref()
    }

    /// After a new configuration: its state has no schema yet, so the shared copy is adopted
    /// again.
    pub fn forget_adopted(&mut self) {
        self.adopted = None;
    }

    /// Takes the document another VM (or this one) published, when its version is new here.
    pub fn adopt(&mut self, shared: &impl SharedData) -> Option<Event> {
        let Ok(Entry {
            value: Some(version),
            ..
        }) = shared.get(VERSION_KEY)
        else {
            return None;
        };
        if self.adopted.as_deref().map(str::as_bytes) == Some(version.as_slice()) {
            return None;
        }
        let Ok(Entry {
            value: Some(document),
            ..
        }) = shared.get(SCHEMA_KEY)
        else {
            return None;
        };
        // Remember the version key's value, even if a concurrent publish left the document one
        // version ahead: the next change of the key brings both in line, and nothing is parsed
        // again on every tick in between.
        self.adopted = Some(String::from_utf8_lossy(&version).into_owned());
        Some(match SchemaCache::from_json(&document) {
            Ok(cache) => Event::Adopted(Box::new(cache)),
            Err(e) => Event::SharedInvalid(e.to_string()),
        })
    }

    /// Whether this VM fetches now: none under way, due (on every tick until a cache is in
    /// use, then once per `poll_ms`), and the lease is this VM's.
    pub fn due(
        &mut self,
        shared: &mut impl SharedData,
        now_ms: u64,
        poll_ms: u64,
    ) -> Option<Fetch> {
        if self.in_flight.is_some() {
            return None;
        }
        if self.adopted.is_some() && now_ms.saturating_sub(self.last_fetch_ms) < poll_ms {
            return None;
        }
        // The lease outlives a fetch that takes until its timeout.
        let lease_ms = poll_ms.saturating_mul(3).max(FETCH_TIMEOUT_MS + 1_000);
        if !self.take_lease(shared, now_ms, lease_ms) {
            return None;
        }
        Some(Fetch {
            if_none_match: self.adopted.clone(),
        })
    }

    /// The adapter sent the fetch at `now_ms` (`token`: the host's id for it, or `None` if
    /// the host refused to send it).
    pub fn sent(&mut self, now_ms: u64, token: Option<u32>) {
        self.last_fetch_ms = now_ms;
        self.in_flight = token;
    }

    /// Whether an answer with `token` is this fetch's; it is then no longer under way.
    pub fn is_answer(&mut self, token: u32) -> bool {
        if self.in_flight != Some(token) {
            return false;
        }
        self.in_flight = None;
        true
    }

    /// Publishes a fetched document for every VM (document first, then its version) and
    /// adopts it.
    pub fn answered(&mut self, shared: &mut impl SharedData, answer: Answer<'_>) -> Vec<Event> {
        let document = match answer {
            Answer::Document(document) => document,
            Answer::NotModified => return Vec::new(),
            Answer::Failed(why) => return vec![Event::FetchFailed(why.to_string())],
        };
        let cache = match SchemaCache::from_json(document) {
            Ok(cache) => cache,
            Err(e) => return vec![Event::FetchedInvalid(e.to_string())],
        };
        let mut events = Vec::new();
        let published = shared
            .set(SCHEMA_KEY, document, None)
            .and_then(|()| shared.set(VERSION_KEY, cache.version.as_bytes(), None));
        if published.is_err() {
            events.push(Event::PublishFailed);
        }
        events.extend(self.adopt(shared));
        events
    }

    /// Takes or renews the lease, unless another VM holds it and it has not lapsed.
    ///
    /// Envoy cannot guard a key that does not exist yet, so two VMs starting together may both
    /// write the first lease and each fetch once; from the next round on, the later write holds.
    fn take_lease(&self, shared: &mut impl SharedData, now_ms: u64, lease_ms: u64) -> bool {
        let Ok(entry) = shared.get(LEADER_KEY) else {
            return false;
        };
        let text = entry
            .value
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        let (holder, expiry) = text
            .as_deref()
            .and_then(|t| t.split_once('|'))
            .map(|(h, e)| (h, e.parse::<u64>().unwrap_or(0)))
            .unwrap_or_default();
        if !holder.is_empty() && holder != self.holder && expiry > now_ms {
            return false;
        }
        let lease = format!("{}|{}", self.holder, now_ms.saturating_add(lease_ms));
        shared.set(LEADER_KEY, lease.as_bytes(), entry.cas).is_ok()
    }
}

/// The signed request headers of a schema fetch.
pub fn fetch_headers(
    key: &HandoffKey,
    now_ms: u64,
    nonce: String,
    fetch: &Fetch,
) -> Option<Vec<(&'static str, String)>> {
    let hand = Handoff {
        ts_ms: now_ms,
        nonce,
        kind: handoff::Kind::SchemaFetch,
    };
    let (document, signature) = handoff::sign(key, "GET", handoff::SCHEMA_PATH, &hand)?;
    let mut headers = vec![
        (":method", String::from("GET")),
        (":path", handoff::SCHEMA_PATH.to_string()),
        (":authority", String::from("pgmesh-sidecar")),
        (handoff::HANDOFF_HEADER, document),
        (handoff::SIGNATURE_HEADER, signature),
    ];
    if let Some(v) = &fetch.if_none_match {
        headers.push(("if-none-match", v.clone()));
    }
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;

    /// Envoy's shared data in memory: every write takes a new CAS token; a conditional write
    /// with a stale token is refused; a missing key is written whatever the token. Clones share
    /// one store, as the VMs of one Envoy do.
    #[derive(Clone, Default)]
    struct MockShared {
        /// Value and CAS token by key.
        store: Rc<RefCell<HashMap<String, Stored>>>,
        next_cas: Rc<RefCell<u32>>,
        /// Keys whose writes the host refuses.
        refuse: Rc<RefCell<Vec<&'static str>>>,
    }

    type Stored = (Vec<u8>, u32);

    impl SharedData for MockShared {
        fn get(&self, key: &str) -> Result<Entry, SharedError> {
            Ok(match self.store.borrow().get(key) {
                Some((v, cas)) => Entry {
                    value: Some(v.clone()),
                    cas: Some(*cas),
                },
                None => Entry::default(),
            })
        }

        fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedError> {
            if self.refuse.borrow().contains(&key) {
                return Err(SharedError::Unavailable);
            }
            let mut store = self.store.borrow_mut();
            if let (Some((_, current)), Some(cas)) = (store.get(key), cas) {
                if *current != cas {
                    return Err(SharedError::CasMismatch);
                }
            }
            let mut next = self.next_cas.borrow_mut();
            *next += 1;
            store.insert(key.to_string(), (value.to_vec(), *next));
            Ok(())
        }
    }

    impl MockShared {
        fn text(&self, key: &str) -> Option<String> {
            self.store
                .borrow()
                .get(key)
                .map(|(v, _)| String::from_utf8_lossy(v).into_owned())
        }
    }

    const POLL: u64 = 1_000;
    /// `max(3 * POLL, FETCH_TIMEOUT_MS + 1000)`.
    const LEASE: u64 = 6_000;

    fn doc(version: &str) -> Vec<u8> {
        format!(r#"{{"version":"{version}","tables":[]}}"#).into_bytes()
    }

    fn adopted_version(events: &[Event]) -> Option<String> {
        events.iter().find_map(|e| match e {
            Event::Adopted(cache) => Some(cache.version.clone()),
            _ => None,
        })
    }

    #[test]
    fn only_one_vm_takes_the_lease() {
        let mut shared = MockShared::default();
        let (mut a, mut b) = (SchemaSync::new("a".into()), SchemaSync::new("b".into()));
        assert_eq!(
            a.due(&mut shared, 10, POLL),
            Some(Fetch {
                if_none_match: None
            })
        );
        assert_eq!(b.due(&mut shared, 10, POLL), None);
        assert_eq!(shared.text(LEADER_KEY).as_deref(), Some("a|6010"));
        // Until a cache is adopted, the holder asks on every tick, renewing its lease.
        a.sent(10, None);
        assert!(a.due(&mut shared, 210, POLL).is_some());
        assert_eq!(shared.text(LEADER_KEY).as_deref(), Some("a|6210"));
        assert_eq!(b.due(&mut shared, 6_209, POLL), None);
    }

    #[test]
    fn a_lapsed_lease_is_taken_over() {
        let mut shared = MockShared::default();
        let (mut a, mut b) = (SchemaSync::new("a".into()), SchemaSync::new("b".into()));
        assert!(a.due(&mut shared, 0, POLL).is_some());
        // `a` went away: at its expiry the lease is `b`'s, and then no longer `a`'s.
        assert_eq!(b.due(&mut shared, LEASE - 1, POLL), None);
        assert!(b.due(&mut shared, LEASE, POLL).is_some());
        assert_eq!(shared.text(LEADER_KEY), Some(format!("b|{}", 2 * LEASE)));
        assert_eq!(a.due(&mut shared, LEASE + 1, POLL), None);
    }

    #[test]
    fn a_lease_written_meanwhile_wins_the_compare_and_swap() {
        // `b` read the lapsed lease, then `a` renewed it before `b` wrote: `b` must not lead.
        type Race = Box<dyn FnMut(&mut MockShared)>;
        struct Racing {
            inner: MockShared,
            before_write: Option<Race>,
        }
        impl SharedData for Racing {
            fn get(&self, key: &str) -> Result<Entry, SharedError> {
                self.inner.get(key)
            }
            fn set(&mut self, key: &str, v: &[u8], cas: Option<u32>) -> Result<(), SharedError> {
                if let Some(mut race) = self.before_write.take() {
                    race(&mut self.inner);
                }
                self.inner.set(key, v, cas)
            }
        }
        let mut shared = MockShared::default();
        let mut a = SchemaSync::new("a".into());
        assert!(a.due(&mut shared, 0, POLL).is_some());
        let mut b = SchemaSync::new("b".into());
        let mut racing = Racing {
            inner: shared.clone(),
            before_write: Some(Box::new(move |s| {
                assert!(a.due(s, LEASE, POLL).is_some());
            })),
        };
        assert_eq!(b.due(&mut racing, LEASE, POLL), None);
        assert_eq!(shared.text(LEADER_KEY), Some(format!("a|{}", 2 * LEASE)));
    }

    #[test]
    fn lease_expiry_saturates() {
        let mut shared = MockShared::default();
        let mut a = SchemaSync::new("a".into());
        assert!(a.due(&mut shared, u64::MAX - 10, u64::MAX).is_some());
        assert_eq!(shared.text(LEADER_KEY), Some(format!("a|{}", u64::MAX)));
    }

    #[test]
    fn a_fetch_is_published_and_adopted_by_every_vm() {
        let mut shared = MockShared::default();
        let (mut a, mut b) = (SchemaSync::new("a".into()), SchemaSync::new("b".into()));
        assert!(a.due(&mut shared, 0, POLL).is_some());
        a.sent(0, Some(7));
        assert!(!a.is_answer(8));
        assert!(a.is_answer(7));
        let events = a.answered(&mut shared, Answer::Document(&doc("v1")));
        assert_eq!(adopted_version(&events).as_deref(), Some("v1"));
        assert_eq!(shared.text(VERSION_KEY).as_deref(), Some("v1"));
        assert_eq!(a.adopted(), Some("v1"));
        // Adopted once per version.
        assert!(a.adopt(&shared).is_none());
        let Some(Event::Adopted(cache)) = b.adopt(&shared) else {
            panic!("b adopts the published version")
        };
        assert_eq!(cache.version, "v1");
        assert!(b.adopt(&shared).is_none());
        // Once a cache is in use, the next fetch waits for the poll interval and asks
        // whether the adopted version is still current.
        assert_eq!(a.due(&mut shared, POLL - 1, POLL), None);
        assert_eq!(
            a.due(&mut shared, POLL, POLL),
            Some(Fetch {
                if_none_match: Some("v1".into())
            })
        );
    }

    #[test]
    fn a_newer_published_version_is_adopted() {
        let mut shared = MockShared::default();
        let (mut a, mut b) = (SchemaSync::new("a".into()), SchemaSync::new("b".into()));
        a.answered(&mut shared, Answer::Document(&doc("v1")));
        assert!(b.adopt(&shared).is_some());
        let events = a.answered(&mut shared, Answer::Document(&doc("v2")));
        assert_eq!(adopted_version(&events).as_deref(), Some("v2"));
        let Some(Event::Adopted(cache)) = b.adopt(&shared) else {
            panic!("b adopts the published version")
        };
        assert_eq!((cache.version.as_str(), b.adopted()), ("v2", Some("v2")));
        // After a new configuration, the same version is adopted again.
        b.forget_adopted();
        assert!(matches!(b.adopt(&shared), Some(Event::Adopted(_))));
    }

    #[test]
    fn a_failed_or_invalid_fetch_keeps_the_old_cache() {
        let mut shared = MockShared::default();
        let mut a = SchemaSync::new("a".into());
        a.answered(&mut shared, Answer::Document(&doc("v1")));
        let events = a.answered(&mut shared, Answer::Failed("no response"));
        assert!(matches!(&events[..], [Event::FetchFailed(why)] if why == "no response"));
        let events = a.answered(&mut shared, Answer::Document(b"{not json"));
        assert!(matches!(&events[..], [Event::FetchedInvalid(_)]));
        assert!(a.answered(&mut shared, Answer::NotModified).is_empty());
        assert_eq!(a.adopted(), Some("v1"));
        assert_eq!(shared.text(VERSION_KEY).as_deref(), Some("v1"));
        assert_eq!(
            shared.text(SCHEMA_KEY),
            Some(String::from_utf8_lossy(&doc("v1")).into())
        );
    }

    #[test]
    fn an_invalid_shared_document_is_reported_once() {
        let mut shared = MockShared::default();
        let _ = shared.set(SCHEMA_KEY, b"[]", None);
        let _ = shared.set(VERSION_KEY, b"v9", None);
        let mut a = SchemaSync::new("a".into());
        assert!(matches!(a.adopt(&shared), Some(Event::SharedInvalid(_))));
        assert!(a.adopt(&shared).is_none());
    }

    #[test]
    fn a_refused_publish_is_reported() {
        let mut shared = MockShared::default();
        shared.refuse.borrow_mut().push(SCHEMA_KEY);
        let mut a = SchemaSync::new("a".into());
        let events = a.answered(&mut shared, Answer::Document(&doc("v1")));
        assert!(matches!(&events[..], [Event::PublishFailed]));
        assert_eq!(a.adopted(), None);
    }

    #[test]
    fn a_fetch_under_way_is_not_repeated() {
        let mut shared = MockShared::default();
        let mut a = SchemaSync::new("a".into());
        assert!(a.due(&mut shared, 0, POLL).is_some());
        a.sent(0, Some(1));
        assert_eq!(a.due(&mut shared, 10 * POLL, POLL), None);
        assert!(a.is_answer(1));
        assert!(a.due(&mut shared, 10 * POLL, POLL).is_some());
    }

    #[test]
    fn the_fetch_is_signed_for_the_schema_path() {
        let key = HandoffKey::derive(b"0123456789abcdef0123456789abcdef");
        let fetch = Fetch {
            if_none_match: Some("v1".into()),
        };
        let headers = fetch_headers(&key, 1_000, "n-1".into(), &fetch).unwrap();
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(find(":path"), Some(handoff::SCHEMA_PATH));
        assert_eq!(find("if-none-match"), Some("v1"));
        let h = handoff::verify(
            &key,
            "GET",
            handoff::SCHEMA_PATH,
            find(handoff::HANDOFF_HEADER),
            find(handoff::SIGNATURE_HEADER),
            1_000,
        );
        let h = h.unwrap();
        assert_eq!(
            (h.kind, h.nonce.as_str()),
            (handoff::Kind::SchemaFetch, "n-1")
        );
    }
}
