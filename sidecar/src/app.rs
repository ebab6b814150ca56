//! The sidecar's state: configuration, the requests' database side, the replay guard and the
//! schema cache, with its reload.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use pgmesh_config::Config;
use sql_engine::schema_cache::SchemaCache;

use crate::db::{self, Db};
use crate::error::Error;
use crate::guard::Guard;
use crate::introspect;

pub struct App {
    pub config: Arc<Config>,
    pub db: Arc<Db>,
    /// Introspection's own connection.
    schema_pool: Pool,
    pub guard: Guard,
    schema: RwLock<Option<Arc<SchemaCache>>>,
    /// One reload at a time: the last to finish is the newest.
    reload_lock: tokio::sync::Mutex<()>,
    /// Signed schema-cache requests answered (200 or 304), for `/_pgmesh/metrics`.
    pub schema_requests: AtomicU64,
}

impl App {
    /// The state before the first schema load; nothing is connected yet.
    pub fn new(config: Config, key: Vec<u8>) -> Result<App, Error> {
        let config = Arc::new(config);
        Ok(App {
            db: Arc::new(Db::new(Arc::clone(&config))?),
            schema_pool: db::schema_pool(&config)?,
            config,
            guard: Guard::new(key),
            schema: RwLock::new(None),
            reload_lock: tokio::sync::Mutex::new(()),
            schema_requests: AtomicU64::new(0),
        })
    }

    /// The schema cache in use, once one has loaded.
    pub fn schema(&self) -> Option<Arc<SchemaCache>> {
        self.schema
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The impersonated role's own settings (`ALTER ROLE … SET`), applied as PostgREST does.
    pub fn role_settings(&self, role: &str) -> Vec<(String, String)> {
        self.schema()
            .and_then(|c| {
                c.role_settings
                    .iter()
                    .find(|(r, _)| r == role)
                    .map(|(_, s)| s.clone())
            })
            .unwrap_or_default()
    }

    /// Introspects again; a failed reload keeps the cache in use. Says whether it loaded.
    pub async fn reload_schema(&self) -> bool {
        let _one_at_a_time = self.reload_lock.lock().await;
        let started = Instant::now();
        match introspect::load(&self.schema_pool, &self.config.db_schemas).await {
            Ok(cache) => {
                let changed = self
                    .schema()
                    .map(|c| c.version != cache.version)
                    .unwrap_or(true);
                // As PostgREST flushes its pool on every reload: statements prepared against
                // the old schema keep their parameter types (a column recreated with another
                // type would refuse its values), and the authenticator's own `ALTER ROLE … SET`
                // settings apply only to new connections. Fresh connections take over.
                self.db.retire_all();
                if changed {
                    tracing::info!(
                        target: crate::logging::LIFECYCLE,
                        "schema cache {} loaded ({} relations, {} foreign keys) in {} ms",
                        cache.version,
                        cache.tables.len(),
                        cache.foreign_keys.len(),
                        started.elapsed().as_millis()
                    );
                }
                *self
                    .schema
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(cache));
                true
            }
            Err(e) => {
                tracing::error!(
                    target: crate::logging::LIFECYCLE,
                    "schema cache load failed, keeping the old one: {e}"
                );
                false
            }
        }
    }

    /// Loads the schema cache, retrying until the database answers.
    pub async fn load_schema(self: Arc<Self>) {
        let mut delay = Duration::from_millis(100);
        while !self.reload_schema().await {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}
