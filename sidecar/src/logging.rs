//! Logging: tracing to stderr, filtered by `log-level` as PostgREST filters its logs.

use pgmesh_config::LogLevel;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The target of the server's own diagnostics (start, schema cache loads, the listener, config
/// warnings): printed whatever `log-level` says, as PostgREST prints its diagnostics.
pub const LIFECYCLE: &str = "pgmesh_sidecar::lifecycle";

/// `log-level` as tracing's level for everything but the server's diagnostics, as PostgREST
/// logs requests: `crit` none, `error` those answered 5xx, `warn` 4xx too, `info` all, `debug`
/// more. (The one place that reads `log-level`.)
fn log_level_filter(log_level: LogLevel) -> LevelFilter {
    match log_level {
        LogLevel::Crit => LevelFilter::OFF,
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
    }
}

/// Logs to stderr, without colours (it is usually a file), filtered by `log-level`.
pub fn init(log_level: LogLevel) {
    let filter = Targets::new()
        .with_target(LIFECYCLE, LevelFilter::TRACE)
        .with_default(log_level_filter(log_level));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_map_as_postgrest_logs_requests() {
        assert_eq!(log_level_filter(LogLevel::Crit), LevelFilter::OFF);
        assert_eq!(log_level_filter(LogLevel::Error), LevelFilter::ERROR);
        assert_eq!(log_level_filter(LogLevel::Warn), LevelFilter::WARN);
        assert_eq!(log_level_filter(LogLevel::Info), LevelFilter::INFO);
        assert_eq!(log_level_filter(LogLevel::Debug), LevelFilter::DEBUG);
    }
}
