//! Import circles between a crate's modules: the road a request takes must not double back.
//! A module depends on another when its non-test code names it by a `crate::…`, `super::…` or
//! `self::…` path (in a `use` or inline); the modules of a crate must form no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`plan::read`; `""` for the crate root) → the modules its code names.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// Reads every `.rs` file under `src` into the module graph.
pub fn graph(src: &Path) -> std::io::Result<Graph> {
    let mut files = BTreeMap::new();
    collect(src, src, &mut files)?;
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let mut g = Graph::new();
    for (module, text) in &files {
        let mut deps = BTreeSet::new();
        for path in paths(&code_only(text)) {
            if let Some(target) = resolve(&modules, module, &path) {
                if &target != module {
                    deps.insert(target);
                }
            }
        }
        g.insert(module.clone(), deps);
    }
    Ok(g)
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap_or(&path).with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts
                .last()
                .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
            {
                parts.pop();
            }
            out.insert(parts.join("::"), std::fs::read_to_string(&path)?);
        }
    }
    Ok(())
}

/// The text without `#[cfg(test)]` items (tests may reach anywhere) and without comments.
fn code_only(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path starting with `crate`, `super` or `self`, with `use a::{b, c::d}` groups
/// expanded to `a::b` and `a::c::d`.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .any(|p| bytes[i..].starts_with(p.as_bytes()));
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if !(starts && boundary) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < bytes.len()
            && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] == b':')
        {
            j += 1;
        }
        let path = code[i..j].trim_end_matches(':').to_string();
        if code[j..].starts_with('{') {
            let close = code[j..].find('}').map_or(code.len(), |c| j + c);
            for item in code[j + 1..close].split(|c: char| c == ',' || c.is_whitespace()) {
                let item = item.trim_matches(|c| c == '{' || c == '}');
                if !item.is_empty() && item != "self" {
                    out.push(format!("{path}::{item}"));
                }
            }
            i = close;
        } else {
            i = j;
        }
        out.push(path);
    }
    out
}

/// The longest module that `path`, named in `current`, refers to.
fn resolve(modules: &BTreeSet<String>, current: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if current.is_empty() {
        Vec::new()
    } else {
        current.split("::").collect()
    };
    match parts.first().copied() {
        Some("crate") => {
            base.clear();
            parts.remove(0);
        }
        Some("super") => {
            while parts.first() == Some(&"super") {
                base.pop();
                parts.remove(0);
            }
        }
        Some("self") => {
            parts.remove(0);
        }
        _ => return None,
    }
    (0..=parts.len()).rev().find_map(|n| {
        let candidate = base
            .iter()
            .chain(&parts[..n])
            .copied()
            .collect::<Vec<_>>()
            .join("::");
        modules.contains(&candidate).then_some(candidate)
    })
}

/// The graph's cycles: each strongly connected set of more than one module, sorted.
pub fn cycles(g: &Graph) -> Vec<Vec<String>> {
    // Tarjan's algorithm; recursion depth is bounded by a crate's module count.
    struct State<'g> {
        g: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let g = s.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low.get(w).copied().unwrap_or(0);
                let lv = s.low.get(v).copied().unwrap_or(0);
                s.low.insert(v, lv.min(lw));
            } else if s.on_stack.contains(w) {
                let iw = s.index.get(w).copied().unwrap_or(0);
                let lv = s.low.get(v).copied().unwrap_or(0);
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low.get(v) == s.index.get(v) {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circles_in(krate: &str) -> Vec<Vec<String>> {
        let src = crate::root().join(krate).join("src");
        match graph(&src) {
            Ok(g) if !g.is_empty() => cycles(&g),
            Ok(_) => vec![vec![format!("{}: no modules", src.display())]],
            Err(e) => vec![vec![format!("{}: {e}", src.display())]],
        }
    }

    #[test]
    fn no_crate_has_an_import_circle() {
        for krate in [
            "sql-engine",
            "auth",
            "filter",
            "sidecar",
            "pg-wire",
            "config",
            "xtask",
            "tests",
        ] {
            assert_eq!(circles_in(krate), Vec::<Vec<String>>::new(), "{krate}");
        }
    }

    #[test]
    fn a_circle_is_found() {
        let mut g = Graph::new();
        let deps = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        g.insert("plan".into(), deps(&["sql"]));
        g.insert("sql".into(), deps(&["plan::read"]));
        g.insert("plan::read".into(), deps(&["plan"]));
        g.insert("error".into(), deps(&[]));
        assert_eq!(cycles(&g), vec![vec!["plan", "plan::read", "sql"]]);
    }

    #[test]
    fn paths_are_resolved_relative_to_the_module() {
        let modules: BTreeSet<String> = ["", "plan", "plan::read", "plan::embed", "sql"]
            .iter()
            .map(|m| m.to_string())
            .collect();
        let r = |cur: &str, p: &str| resolve(&modules, cur, p);
        assert_eq!(
            r("plan::read", "super::embed::plan_embeds").as_deref(),
            Some("plan::embed")
        );
        assert_eq!(r("plan::read", "crate::sql::Sql").as_deref(), Some("sql"));
        assert_eq!(r("sql", "crate::LIFECYCLE").as_deref(), Some(""));
        assert_eq!(
            paths("use crate::plan::{read::X, embed};\nlet a = super::y::z();"),
            vec![
                "crate::plan::read::X",
                "crate::plan::embed",
                "crate::plan",
                "super::y::z"
            ]
        );
    }
}
