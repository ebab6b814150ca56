//! docs/configuration.md is generated from the key table; this fails when it is out of date.

#[test]
fn configuration_reference_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let on_disk = std::fs::read_to_string(path).expect("docs/configuration.md is readable");
    assert!(
        on_disk == pgmesh_config::reference_markdown(),
        "docs/configuration.md is out of date with config/src/keys.rs; regenerate it with \
         `cargo run -p pgmesh-config --example gen-docs` and commit the result"
    );
}
