//! A throwaway PostgreSQL cluster in a temp dir, on a free loopback port, run as the
//! unprivileged `postgres` user when the launcher is root. Removed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, proc, Result};

pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
    bindir: PathBuf,
    child: Option<Child>,
}

impl Cluster {
    /// `initdb` and start. `log_statements` makes PostgreSQL log every statement (tests use it
    /// to prove which requests reached the database).
    pub fn start(bindir: &Path, log_statements: bool) -> Result<Cluster> {
        let user = proc::postgres_user()?;
        let dir = crate::temp_dir("pg")?;
        if let Some((uid, gid)) = user {
            proc::chown(&dir, uid, gid)?;
        }
        let data = dir.join("data");
        let mut initdb = Command::new(bindir.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = proc::spawn(initdb, user, libc::SIGKILL)?.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("postgres.log"))?;
        if let Some((uid, gid)) = user {
            proc::chown(&dir.join("postgres.log"), uid, gid)?;
        }
        let mut pg = Command::new(bindir.join("postgres"));
        pg.arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(&dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=100",
            ])
            .args([
                "-c",
                if log_statements {
                    "log_statement=all"
                } else {
                    "log_statement=none"
                },
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SIGINT is PostgreSQL's fast shutdown.
        let child = proc::spawn(pg, user, libc::SIGINT)?;
        let cluster = Cluster {
            dir,
            port,
            bindir: bindir.to_path_buf(),
            child: Some(child),
        };
        cluster.wait_ready()?;
        Ok(cluster)
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new(self.bindir.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "PostgreSQL did not start; see {}",
                    self.log_path().display()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// Runs SQL as the superuser through psql; fails on the first error.
    pub fn psql(&self, sql: &str) -> Result<String> {
        let out = Command::new(self.bindir.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(["-c", sql])
            .output()?;
        if !out.status.success() {
            return Err(format!("psql failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A libpq URI for `user` on this cluster.
    pub fn uri(&self, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            proc::stop(&mut child, libc::SIGINT);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
