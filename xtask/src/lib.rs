//! pgmesh's launcher as a library: installation, a throwaway PostgreSQL, the whole stack
//! (PostgreSQL, sidecar, Envoy with the filter), a small HTTP client and a JWT helper. Used by
//! `cargo xtask` and by the end-to-end tests.

pub mod bench;
pub mod http;
pub mod install;
pub mod layering;
pub mod postgres;
pub mod proc;
pub mod stack;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command to completion; fails if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}").into())
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A fresh temp dir `/tmp/pgmesh-<pid>-<n>-<what>`. Dirs left by dead launchers are removed.
pub fn temp_dir(what: &str) -> Result<PathBuf> {
    static N: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir();
    if N.load(Ordering::SeqCst) == 0 {
        remove_stale_dirs(&base);
    }
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = base.join(format!("pgmesh-{}-{n}-{what}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn remove_stale_dirs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("pgmesh-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A random hex string of `bytes` bytes from the OS.
pub fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(hex::encode(buf))
}

/// An HS256 JWT over `claims` (a JSON object) with `secret`.
pub fn hs256_token(secret: &str, claims: &serde_json::Value) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let signed = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let sig = match <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(mut m) => {
            m.update(signed.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    };
    format!("{signed}.{}", b64(&sig))
}
