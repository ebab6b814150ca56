//! `cargo xtask up [--config FILE]` and `cargo xtask test`.

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};

use xtask::stack::{Stack, StackOptions, DEMO_JWT_SECRET};
use xtask::{install, proc, root, run, Result};

const USAGE: &str =
    "usage: cargo xtask up [--config FILE] | cargo xtask test | cargo xtask bench [load|stream|schema|body]";

fn up(args: &[String]) -> Result<()> {
    // Block the stop signals before any thread exists, so that all threads inherit the mask
    // and the main thread can sigwait for them.
    proc::block_stop_signals();
    let config_text = match args {
        [] => None,
        [flag, file] if flag == "--config" => {
            Some(std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?)
        }
        _ => return Err(USAGE.into()),
    };
    install::wasm_target()?;
    let pg_bindir = if config_text.is_none() {
        Some(install::postgres()?)
    } else {
        None
    };
    let envoy_bin = install::envoy()?;
    let artifacts = install::build(true, false)?;
    let demo = config_text.is_none();
    let stack = Stack::start(StackOptions {
        config_text,
        pg_bindir,
        ..StackOptions::new(artifacts.wasm, artifacts.sidecar, envoy_bin)
    })?;
    let api = &stack.api;
    println!(
        "\npgmesh is serving on http://{api} (logs in {})",
        stack.dir.display()
    );
    if demo {
        let token = xtask::hs256_token(DEMO_JWT_SECRET, &serde_json::json!({"role": "web_user"}));
        println!("\nTry:");
        println!("  curl 'http://{api}/films?select=id,title,year&year=gte.2000&order=year.desc&limit=3'");
        println!("  curl 'http://{api}/films?title=ilike.*little*'");
        println!("  curl 'http://{api}/reviews'                       # 401: anonymous may not read reviews");
        println!("  curl 'http://{api}/reviews' -H 'Authorization: Bearer {token}'");
        println!("  curl 'http://{api}/nope'                          # 404 PGRST205");
    }
    println!("\nCtrl-C stops everything.");
    let sig = proc::wait_for_stop_signal();
    eprintln!("xtask: signal {sig}, stopping");
    drop(stack);
    Ok(())
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn test() -> Result<()> {
    install::wasm_target()?;
    let pg = install::postgres()?;
    install::postgis(&pg)?;
    let envoy = install::envoy()?;
    let artifacts = install::build(false, true)?;

    eprintln!("xtask: formatting and lints");
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().args([
        "clippy",
        "--target",
        "wasm32-wasip1",
        "-p",
        "pgmesh-filter",
        "-p",
        "pgmesh-filter-shipped",
        "-p",
        "pgmesh-filter-crash",
        "-p",
        "pgmesh-filter-bench-local",
        "-p",
        "pgmesh-filter-passthrough",
        "-p",
        "sql-engine",
        "-p",
        "pgmesh-auth",
        "--",
        "-D",
        "warnings",
    ]))?;
    eprintln!("xtask: sql-engine and pgmesh-auth for wasm32-unknown-unknown");
    let unknown = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()?;
    if !String::from_utf8_lossy(&unknown.stdout).contains("wasm32-unknown-unknown") {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    run(cargo().args([
        "build",
        "--target",
        "wasm32-unknown-unknown",
        "-p",
        "sql-engine",
        "-p",
        "pgmesh-auth",
    ]))?;

    eprintln!("xtask: cargo test --workspace");
    let mut child = cargo()
        .args(["test", "--workspace", "--color", "never"])
        .env("PGMESH_WASM", &artifacts.wasm)
        .env(
            "PGMESH_WASM_CRASH",
            artifacts
                .wasm_crash
                .as_deref()
                .unwrap_or(artifacts.wasm.as_path()),
        )
        .env("PGMESH_SIDECAR", &artifacts.sidecar)
        .env("PGMESH_ENVOY", &envoy)
        .env("PGMESH_PG_BINDIR", &pg)
        .stdout(Stdio::piped())
        .spawn()?;
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line?;
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let num = |label: &str| {
                    rest.split(';')
                        .find(|p| p.trim().ends_with(label))
                        .and_then(|p| p.split_whitespace().rev().nth(1))
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                passed += num("passed");
                failed += num("failed");
                ignored += num("ignored");
            }
        }
    }
    let status = child.wait()?;
    println!("\n== pgmesh test summary: {passed} passed, {failed} failed, {ignored} ignored ==");
    if !status.success() || failed > 0 {
        return Err("tests failed".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("up") => up(&args[1..]),
        Some("test") => test(),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("stream") => xtask::bench::stream(),
            Some("schema") => xtask::bench::schema_scale(),
            Some("body") => xtask::bench::body(),
            Some("load") => xtask::bench::load(),
            None => xtask::bench::load()
                .and_then(|()| xtask::bench::stream())
                .and_then(|()| xtask::bench::schema_scale())
                .and_then(|()| xtask::bench::body()),
            _ => Err(USAGE.into()),
        },
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
