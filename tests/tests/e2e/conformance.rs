//! Runs the data-driven conformance corpus in `tests/conformance/` through the real stack.

use pgmesh_e2e::{http, stack};

struct Case {
    file: String,
    title: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    status: u16,
    expect_headers: Vec<(String, String)>,
    body: Option<String>,
}

fn parse(file: &str, text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for block in text.split("\n=== ").skip(1) {
        let mut lines = block.split('\n');
        let title = lines.next().unwrap_or("").to_string();
        let (method, path) = lines
            .next()
            .and_then(|l| l.split_once(' '))
            .unwrap_or_else(|| panic!("{file}: {title}: no request line"));
        let mut case = Case {
            file: file.to_string(),
            title,
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            status: 0,
            expect_headers: Vec::new(),
            body: None,
        };
        for line in lines.by_ref() {
            if let Some(status) = line.strip_prefix("--- ") {
                case.status = status.trim().parse().unwrap();
                break;
            }
            let (k, v) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("{file}: {}: bad header {line:?}", case.title));
            case.headers
                .push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut body_lines = Vec::new();
        let mut in_body = false;
        for line in lines {
            if in_body {
                body_lines.push(line);
            } else if line.is_empty() {
                in_body = true;
            } else {
                let (k, v) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{file}: {}: bad header {line:?}", case.title));
                case.expect_headers
                    .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        while body_lines.last().is_some_and(|l| l.is_empty()) {
            body_lines.pop();
        }
        if in_body && !body_lines.is_empty() {
            case.body = Some(match body_lines.join("\n").as_str() {
                "<empty>" => String::new(),
                "<empty-line>" => String::from("\n"),
                b => b.to_string(),
            });
        }
        assert!(
            case.status > 0,
            "{file}: {}: no expected status",
            case.title
        );
        cases.push(case);
    }
    cases
}

#[test]
fn the_conformance_corpus_passes_through_the_real_stack() {
    let dir = xtask::root().join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let api = stack().api.clone();
    let (mut run, mut failures) = (0, Vec::new());
    for file in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
    {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for case in parse(&name, &std::fs::read_to_string(file).unwrap()) {
            run += 1;
            let headers: Vec<(&str, &str)> = case
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let r = match http::request(&api, &case.method, &case.path, &headers) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!(
                        "{} / {}: request failed: {e}",
                        case.file, case.title
                    ));
                    continue;
                }
            };
            let mut problems = Vec::new();
            if r.status != case.status {
                problems.push(format!("status {} (expected {})", r.status, case.status));
            }
            for (k, v) in &case.expect_headers {
                if r.header(k) != Some(v.as_str()) {
                    problems.push(format!("{k}: {:?} (expected {v:?})", r.header(k)));
                }
            }
            if let Some(body) = &case.body {
                if &r.body != body {
                    problems.push(format!("body {:?}\n      expected {:?}", r.body, body));
                }
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{} / {}: {}",
                    case.file,
                    case.title,
                    problems.join("; ")
                ));
            }
        }
    }
    assert!(run >= 40, "the corpus has only {run} cases");
    assert!(
        failures.is_empty(),
        "{} of {run} cases failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    eprintln!("conformance corpus: {run} cases passed");
}
