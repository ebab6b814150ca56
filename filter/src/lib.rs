//! pgmesh's proxy-wasm filter. [`core`] holds the per-request logic and [`schema_sync`] the
//! schema cache's sync across VMs (no proxy-wasm in either, tested natively); the `wasm`
//! module adapts them to Envoy's host calls. The `.wasm` modules are built from the tiny
//! crates under `filter/variants/`, which call `wasm::start`.

pub mod auth;
pub mod core;
pub mod cors;
pub mod schema_sync;

#[cfg(target_arch = "wasm32")]
pub mod wasm;
