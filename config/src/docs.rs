//! `docs/configuration.md`, generated from [`KEYS`] so the reference cannot drift from the code
//! (a test in `tests/docs.rs` compares the two).

use crate::keys::{KeySpec, Kind, KEYS};

const INTRO: &str = "\
# Configuration reference

<!-- Generated from config/src/keys.rs by `cargo run -p pgmesh-config --example gen-docs`. Do not edit by hand. -->

pgmesh reads a PostgREST configuration file (`key = value` lines, `#` comments, PostgREST's key
names and aliases) and then `PGRST_*` environment variables, which override the file
(`PGRST_DB_URI` is `db-uri`; `PGRST_APP_SETTINGS_JWT_EXP` is `app.settings.jwt_exp`).
`app.settings.*` keys become `app.settings.*` settings in every transaction.

- Every PostgREST v16 key below is accepted. Setting a key that pgmesh has not built yet
  (\"no\" below) names it in a startup warning; the key then has no effect.
- An unknown key, or a value that is not of the key's type, stops the start with an error that
  names the key.
- Booleans take PostgREST's forms: `true`/`false` in any case and with any quoting (`\"\\\"true\\\"\"`),
  `on`/`off`, `yes`/`no`, or a whole number (above zero is true: `\"1\"` and `\"2\"` are true, `\"0\"` false).
- In the file, as in PostgREST's (its configurator syntax), a quoted value's `$` is written `$$`
  (`jwt-role-claim-key = \"$$.role\"`), and `$(NAME)` is replaced by the value of a key set
  earlier in the file, else of the environment variable `NAME`; any other `$` is an error.
  Environment variables take a single `$` (`PGRST_JWT_ROLE_CLAIM_KEY='$.role'`).
- `pgmesh-sidecar --config FILE --dump-config` prints every key's effective value, in PostgREST's
  `--dump-config` format (a `$` printed `$$`), and exits.
{emptyable}
| key | type | default | built | meaning |
| --- | --- | --- | --- | --- |
";

fn kind(k: Kind) -> String {
    match k {
        Kind::Bool => String::from("boolean"),
        Kind::Int => String::from("integer"),
        Kind::Enum(words) => {
            let words: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
            format!("one of {}", words.join(", "))
        }
        Kind::Text => String::from("text"),
        Kind::Secret => String::from("text (secret)"),
        Kind::List | Kind::EmptyableList => String::from("comma-separated list"),
    }
}

fn row(spec: &KeySpec) -> String {
    let mut key = format!("`{}`", spec.name);
    if !spec.aliases.is_empty() {
        let aliases: Vec<String> = spec.aliases.iter().map(|a| format!("`{a}`")).collect();
        key.push_str(&format!(" (alias {})", aliases.join(", ")));
    }
    let default = match spec.default {
        None => String::from("unset"),
        Some(d) => format!("`{d}`"),
    };
    let built = if spec.built { "yes" } else { "no" };
    format!(
        "| {key} | {} | {default} | {built} | {} |\n",
        kind(spec.kind),
        spec.meaning.replace('|', "\\|")
    )
}

/// The text of `docs/configuration.md`.
pub fn reference_markdown() -> String {
    let emptyable: Vec<String> = KEYS
        .iter()
        .filter(|s| s.kind == Kind::EmptyableList)
        .map(|s| format!("`{}`", s.name))
        .collect();
    let mut out = INTRO.replace(
        "{emptyable}",
        &format!(
            "- An empty value (`\"\"`) means the default, except for {}, where it means an empty list.\n",
            emptyable.join(" and ")
        ),
    );
    for spec in KEYS {
        out.push_str(&row(spec));
    }
    out
}
