//! The whole stack: (a throwaway PostgreSQL with the demo schema, or the database of a
//! PostgREST config), the sidecar, and Envoy with the filter. Stopped and cleaned up on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pgmesh_config::Config;

use crate::postgres::Cluster;
use crate::{free_port, http, proc, random_hex, root, Result};

/// The demo's JWT secret (HS256), so that the README's curl lines can carry a token.
pub const DEMO_JWT_SECRET: &str = "pgmesh-demo-jwt-secret-0123456789abcdef";

pub struct StackOptions {
    /// A PostgREST config file's text; `None` runs the demo on a throwaway cluster.
    pub config_text: Option<String>,
    /// SQL run after the demo schema (test fixtures).
    pub extra_sql: Option<String>,
    /// Overrides `server-port` (tests use a free port).
    pub api_port: Option<u16>,
    /// Log every statement in the throwaway cluster.
    pub log_statements: bool,
    /// `FAIL_RELOAD` normally; tests also run `FAIL_OPEN`.
    pub failure_policy: String,
    /// Envoy worker threads.
    pub concurrency: u32,
    /// Wait until the sidecar and every Envoy worker serve with the schema cache.
    pub wait_ready: bool,
    pub wasm: PathBuf,
    pub sidecar_bin: PathBuf,
    pub envoy_bin: PathBuf,
    /// PostgreSQL's bin dir, for the throwaway cluster.
    pub pg_bindir: Option<PathBuf>,
}

impl StackOptions {
    /// The usual options: the demo, `FAIL_RELOAD`, two Envoy workers, wait until ready.
    pub fn new(wasm: PathBuf, sidecar_bin: PathBuf, envoy_bin: PathBuf) -> Self {
        StackOptions {
            config_text: None,
            extra_sql: None,
            api_port: None,
            log_statements: false,
            failure_policy: String::from("FAIL_RELOAD"),
            concurrency: 2,
            wait_ready: true,
            wasm,
            sidecar_bin,
            envoy_bin,
            pg_bindir: None,
        }
    }
}

pub struct Stack {
    pub cluster: Option<Cluster>,
    pub config: Config,
    /// `host:port` of the public listener.
    pub api: String,
    pub sidecar_port: u16,
    pub admin_port: u16,
    pub handoff_key: String,
    pub dir: PathBuf,
    sidecar: Option<Child>,
    sidecar_bin: PathBuf,
    envoy: Option<Child>,
}

/// Fills the Envoy template.
pub fn render_envoy_yaml(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

fn demo_config(cluster: &Cluster) -> String {
    format!(
        "db-uri = \"{}\"\ndb-schemas = \"api\"\ndb-anon-role = \"web_anon\"\njwt-secret = \"{DEMO_JWT_SECRET}\"\ndb-max-rows = 1000\n",
        cluster.uri("authenticator")
    )
}

impl Stack {
    pub fn start(opts: StackOptions) -> Result<Stack> {
        let dir = crate::temp_dir("stack")?;
        let cluster = match (&opts.config_text, &opts.pg_bindir) {
            (Some(_), _) => None,
            (None, Some(bindir)) => {
                let c = Cluster::start(bindir, opts.log_statements)?;
                c.psql(&std::fs::read_to_string(root().join("demo/demo.sql"))?)?;
                if let Some(sql) = &opts.extra_sql {
                    c.psql(sql)?;
                }
                Some(c)
            }
            (None, None) => return Err("the demo needs PostgreSQL's bin dir".into()),
        };
        let config_text = match (&opts.config_text, &cluster) {
            (Some(t), _) => t.clone(),
            (None, Some(c)) => demo_config(c),
            (None, None) => String::new(),
        };
        let config_file = dir.join("pgmesh.conf");
        std::fs::write(&config_file, &config_text)?;
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("PGRST_"))
            .collect();
        let read_file = |p: &str| std::fs::read_to_string(p).map_err(|e| e.to_string());
        let config = pgmesh_config::load(Some(&config_text), &env, &read_file)?;
        if let Some(w) = config.unbuilt_warning() {
            eprintln!("{w}");
        }
        if let Some(w) = &config.jwt_role_claim_key_warning {
            eprintln!("{w}");
        }

        let handoff_key = random_hex(32)?;
        let sidecar_port = free_port()?;
        let admin_port = free_port()?;
        let api_port = match opts.api_port {
            Some(p) => p,
            None => config.server_port,
        };
        let mut stack = Stack {
            cluster,
            api: format!("{}:{api_port}", connect_host(&config.server_host)),
            sidecar_port,
            admin_port,
            handoff_key,
            dir: dir.clone(),
            config,
            sidecar: None,
            sidecar_bin: PathBuf::new(),
            envoy: None,
        };

        stack.sidecar_bin = opts.sidecar_bin.clone();
        stack.start_sidecar()?;

        let filter_config = serde_json::to_string(&stack.config.api_settings())?;
        let yaml = render_envoy_yaml(
            &std::fs::read_to_string(root().join("envoy/pgmesh.yaml"))?,
            &[
                ("ADMIN_PORT", admin_port.to_string()),
                ("LISTEN_HOST", stack.config.server_host.clone()),
                ("LISTEN_PORT", api_port.to_string()),
                ("SIDECAR_PORT", sidecar_port.to_string()),
                ("WASM_PATH", opts.wasm.display().to_string()),
                ("FAILURE_POLICY", opts.failure_policy.clone()),
                ("FILTER_CONFIG", filter_config.replace('\'', "''")),
            ],
        );
        let yaml_path = dir.join("envoy.yaml");
        std::fs::write(&yaml_path, yaml)?;
        let mut envoy = Command::new(&opts.envoy_bin);
        envoy
            .arg("-c")
            .arg(&yaml_path)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                &opts.concurrency.to_string(),
                "--log-level",
                "info",
            ])
            .env("PGMESH_HANDOFF_KEY", &stack.handoff_key)
            .stdin(Stdio::null())
            .stdout(log_file(&dir, "envoy.log")?)
            .stderr(log_file(&dir, "envoy.log")?);
        match &stack.config.jwt_secret {
            Some(s) => envoy.env("PGMESH_JWT_SECRET", s.expose()),
            None => envoy.env_remove("PGMESH_JWT_SECRET"),
        };
        stack.envoy = Some(proc::spawn(envoy, None, libc::SIGTERM)?);
        if opts.wait_ready {
            stack.wait_ready()?;
        }
        Ok(stack)
    }

    /// Waits until the sidecar has its schema cache and every Envoy worker serves with it.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let sidecar = format!("127.0.0.1:{}", self.sidecar_port);
        let mut consecutive = 0;
        while consecutive < 20 {
            if Instant::now() > deadline {
                return Err(format!(
                    "the stack did not become ready; logs in {}\n--- sidecar\n{}\n--- envoy\n{}",
                    self.dir.display(),
                    self.log_tail("sidecar.log"),
                    self.log_tail("envoy.log")
                )
                .into());
            }
            let exited = [("sidecar", &mut self.sidecar), ("envoy", &mut self.envoy)]
                .into_iter()
                .find_map(|(name, child)| match child.as_mut().map(|c| c.try_wait()) {
                    Some(Ok(Some(status))) => Some((name, status)),
                    _ => None,
                });
            if let Some((name, status)) = exited {
                {
                    return Err(format!(
                        "{name} exited with {status}\n--- sidecar\n{}\n--- envoy\n{}",
                        self.log_tail("sidecar.log"),
                        self.log_tail("envoy.log")
                    )
                    .into());
                }
            }
            let sidecar_ready =
                http::get(&sidecar, "/_pgmesh/ready").is_ok_and(|r| r.status == 200);
            // An unknown table is answered by the filter: 404 once its schema cache is loaded.
            let api_ready = sidecar_ready
                && http::get(&self.api, "/_pgmesh_readiness_probe").is_ok_and(|r| r.status == 404);
            if api_ready {
                consecutive += 1;
            } else {
                consecutive = 0;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    pub fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn start_sidecar(&mut self) -> Result<()> {
        let mut sidecar = Command::new(&self.sidecar_bin);
        sidecar
            .args([
                "--listen",
                &format!("127.0.0.1:{}", self.sidecar_port),
                "--config",
            ])
            .arg(self.dir.join("pgmesh.conf"))
            .env("PGMESH_HANDOFF_KEY", &self.handoff_key)
            .stdin(Stdio::null())
            .stdout(log_file(&self.dir, "sidecar.log")?)
            .stderr(log_file(&self.dir, "sidecar.log")?);
        self.sidecar = Some(proc::spawn(sidecar, None, libc::SIGTERM)?);
        Ok(())
    }

    /// Stops the sidecar, leaving Envoy and PostgreSQL running (tests of recovery).
    pub fn stop_sidecar(&mut self) {
        if let Some(mut s) = self.sidecar.take() {
            proc::stop(&mut s, libc::SIGTERM);
        }
    }

    /// Starts the sidecar again on the same port.
    pub fn restart_sidecar(&mut self) -> Result<()> {
        self.stop_sidecar();
        self.start_sidecar()
    }

    /// Process ids of the sidecar and Envoy (and PostgreSQL's postmaster, if ours).
    pub fn pids(&self) -> Vec<u32> {
        [&self.sidecar, &self.envoy]
            .iter()
            .filter_map(|c| c.as_ref().map(Child::id))
            .chain(self.cluster.as_ref().and_then(|c| c.pid()))
            .collect()
    }

    /// Stops Envoy (the filter can then be started again, e.g. with another policy).
    pub fn stop(&mut self) {
        if let Some(mut e) = self.envoy.take() {
            proc::stop(&mut e, libc::SIGTERM);
        }
        if let Some(mut s) = self.sidecar.take() {
            proc::stop(&mut s, libc::SIGTERM);
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
        self.cluster = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn log_file(dir: &Path, name: &str) -> Result<std::fs::File> {
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))?)
}

/// The address clients connect to for a listener bound to `host`.
fn connect_host(host: &str) -> String {
    match host {
        "0.0.0.0" => String::from("127.0.0.1"),
        "::" => String::from("[::1]"),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    }
}
