//! Benchmarks only: a wasm filter that lets every request pass untouched (the baseline that
//! `bench-local` is measured against).
#![cfg(target_arch = "wasm32")]

use pgmesh_filter::wasm::{start, Hooks};

proxy_wasm::main! {{
    start(Hooks {
        name: "passthrough",
        handle_requests: false,
        ..Hooks::SHIPPED
    });
}}
