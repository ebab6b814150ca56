//! The proxy ceilings: Envoys of the stack's own binary, without the filter.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, http, proc, Result};

/// An Envoy without the filter, stopped when dropped.
pub(super) struct PlainEnvoy {
    child: Child,
    /// Where it listens, `127.0.0.1:<port>`.
    pub addr: String,
}

impl PlainEnvoy {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PlainEnvoy {
    fn drop(&mut self) {
        proc::stop(&mut self.child, libc::SIGTERM);
    }
}

/// An Envoy of the same binary that answers every request itself: the proxy ceiling.
pub(super) fn direct(envoy_bin: &Path, dir: &Path) -> Result<PlainEnvoy> {
    // A 404 PGRST205 like the filter's answer to `FILTER_ONLY`, the request it is sent.
    let route = r#"direct_response:
                  status: 404
                  body: {inline_string: '{"code":"PGRST205","details":null,"hint":null,"message":"Could not find the table"}'}"#;
    start(envoy_bin, dir, "direct", route, None)
}

/// An Envoy of the same binary, with no filter, forwarding every request to `upstream` (over
/// HTTP/1.1, as to the sidecar): what one proxy hop costs when the upstream answers at once.
pub(super) fn hop(envoy_bin: &Path, dir: &Path, upstream: &str) -> Result<PlainEnvoy> {
    let (host, port) = upstream
        .rsplit_once(':')
        .ok_or("the upstream address has no port")?;
    let route = "route: {cluster: upstream, timeout: 0s}";
    let cluster = format!(
        r#"  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: {{socket_address: {{address: {host}, port_value: {port}}}}}
"#
    );
    start(envoy_bin, dir, "hop", route, Some(&cluster))
}

/// Writes `<dir>/<name>.yaml` (one listener on a free port whose every path takes `route`,
/// and `clusters` if given), starts Envoy on it and waits until it answers.
fn start(
    envoy_bin: &Path,
    dir: &Path,
    name: &str,
    route: &str,
    clusters: Option<&str>,
) -> Result<PlainEnvoy> {
    let port = free_port()?;
    let admin = free_port()?;
    let yaml = format!(
        r#"admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: {name}
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: {name}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                {route}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}
{clusters}"#,
        clusters = clusters.unwrap_or("")
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml)?;
    let mut cmd = Command::new(envoy_bin);
    cmd.arg("-c")
        .arg(&path)
        .args([
            "--disable-hot-restart",
            "--concurrency",
            "2",
            "--log-level",
            "warn",
        ])
        .args(["--base-id", &(u32::from(port) % 10_000 + 1).to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let envoy = PlainEnvoy {
        child: proc::spawn(cmd, None, libc::SIGTERM)?,
        addr: format!("127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if http::get(&envoy.addr, "/").is_ok() {
            return Ok(envoy);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the {name} Envoy did not start").into())
}
