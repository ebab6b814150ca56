//! Writes docs/configuration.md from the key table: `cargo run -p pgmesh-config --example gen-docs`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    match std::fs::write(path, pgmesh_config::reference_markdown()) {
        Ok(()) => {
            println!("wrote {path}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
