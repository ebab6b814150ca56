//! What the sidecar sends PostgreSQL for each database workload, read back from PostgreSQL's
//! statement log, and how many round trips it takes (the sidecar's own counter).

use std::time::Duration;

use super::workloads::{self, MARK};
use crate::postgres::Cluster;
use crate::stack::Stack;
use crate::{http, Result};

/// One captured request: the statements the sidecar sent, in order, as SQL with literals,
/// and how many round trips they took.
#[derive(Debug, Clone)]
pub(super) struct Captured {
    /// The workload's name.
    pub workload: &'static str,
    pub statements: Vec<String>,
    pub round_trips: u64,
}

/// The sidecar's count of PostgreSQL round trips.
pub(super) fn round_trips(sidecar: &str) -> u64 {
    http::get(sidecar, "/_pgmesh/metrics")
        .ok()
        .and_then(|r| {
            r.body
                .lines()
                .find(|l| l.starts_with("pgmesh_pg_round_trips_total "))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Sends one request of each database workload with the marked id, through a stack whose
/// database role logs every statement, and reads back what the sidecar sent.
pub(super) fn capture(stack: &Stack, cluster: &Cluster, sidecar: &str) -> Result<Vec<Captured>> {
    let mut captured = Vec::new();
    for w in workloads::database_workloads() {
        let path = w.path.replace("{id}", MARK);
        let body = w.body.map(|b| b.replace("{id}", MARK)).unwrap_or_default();
        let send = || -> Result<()> {
            let r =
                http::request_with_body(&stack.api, w.method, &path, w.headers, body.as_bytes())?;
            if r.status != w.status {
                return Err(format!("{}: {} {}", w.name, r.status, r.body).into());
            }
            Ok(())
        };
        // The first request prepares its statement on the connection; the second shows the
        // steady state.
        send()?;
        std::thread::sleep(Duration::from_millis(100));
        let before = std::fs::metadata(cluster.log_path())?.len() as usize;
        let trips = round_trips(sidecar);
        send()?;
        std::thread::sleep(Duration::from_millis(200));
        let log = std::fs::read(cluster.log_path())?;
        let text = String::from_utf8_lossy(log.get(before..).unwrap_or_default()).into_owned();
        let statements: Vec<String> = logged_statements(&text)
            .into_iter()
            .filter(|s| !s.starts_with("LISTEN"))
            .collect();
        if statements.is_empty() {
            return Err(format!("{}: no statement was captured from:\n{text}", w.name).into());
        }
        captured.push(Captured {
            workload: w.name,
            statements,
            round_trips: round_trips(sidecar).saturating_sub(trips),
        });
    }
    Ok(captured)
}

/// Turns `$n` into the literal the log gave for it, and the marked id into pgbench's `:id`.
fn inline_parameters(sql: &str, params: &[(usize, String)]) -> String {
    let mut out = sql.to_string();
    let mut sorted = params.to_vec();
    // Highest first, so that replacing `$1` does not touch `$10`.
    sorted.sort_by_key(|p| std::cmp::Reverse(p.0));
    for (n, literal) in sorted {
        let value = if literal == format!("'{MARK}'") {
            // An untyped parameter, as the sidecar sends it.
            String::from(":id")
        } else if literal.contains(MARK) {
            // '…77777…' → ('…' || :id || '…')
            let replaced = literal.replace(MARK, "' || :id || '");
            format!("({replaced})")
        } else {
            literal
        };
        out = out.replace(&format!("${n}"), &value);
    }
    out
}

/// `$1 = 'a', $2 = NULL` → the literals by number (values may hold `, $`; split on the
/// parameter markers that start each item).
fn parse_parameters(detail: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut rest = detail.trim();
    while let Some(after) = rest.strip_prefix('$') {
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        let Ok(n) = digits.parse::<usize>() else {
            break;
        };
        let value_start = &after[digits.len()..];
        let value_start = value_start.strip_prefix(" = ").unwrap_or(value_start);
        // A literal is 'quoted' ('' escapes a quote) or NULL.
        let (literal, tail) = if let Some(q) = value_start.strip_prefix('\'') {
            let bytes = q.as_bytes();
            let mut i = 0;
            loop {
                match bytes.get(i) {
                    Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                    Some(b'\'') => break,
                    Some(_) => i += 1,
                    None => break,
                }
            }
            let end = (i + 1).min(q.len());
            (format!("'{}", &q[..end]), &q[end..])
        } else {
            let end = value_start.find(", $").unwrap_or(value_start.len());
            (value_start[..end].to_string(), &value_start[end..])
        };
        out.push((n, literal));
        rest = tail.trim_start_matches(',').trim_start();
    }
    out
}

/// The statements in a PostgreSQL log written with `log_statement=all`.
fn logged_statements(log: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut lines = log.lines().peekable();
    while let Some(line) = lines.next() {
        let text = match line.split_once("LOG:  ") {
            Some((_, t)) => t,
            None => continue,
        };
        if let Some(sql) = text.strip_prefix("statement: ") {
            statements.push(sql.to_string());
        } else if let Some((_, sql)) = text
            .strip_prefix("execute ")
            .and_then(|t| t.split_once(": "))
        {
            let params = match lines
                .peek()
                .and_then(|l| l.split_once("DETAIL:  parameters: "))
            {
                Some((_, detail)) => {
                    let p = parse_parameters(detail);
                    lines.next();
                    p
                }
                None => Vec::new(),
            };
            statements.push(inline_parameters(sql, &params));
        }
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_parameters_become_literals_and_the_mark_a_variable() {
        let p = parse_parameters("$1 = 'a, $2 = ''b''', $2 = NULL, $3 = '77777'");
        assert_eq!(
            p,
            vec![
                (1, "'a, $2 = ''b'''".to_string()),
                (2, "NULL".to_string()),
                (3, "'77777'".to_string())
            ]
        );
        assert_eq!(
            inline_parameters(
                "select $1, $2, $3, $10",
                &[
                    (1, "'x'".into()),
                    (3, "'{\"id\": 77777}'".into()),
                    (10, "'t'".into())
                ]
            ),
            "select 'x', $2, ('{\"id\": ' || :id || '}'), 't'"
        );
        let log = "2026 LOG:  statement: START TRANSACTION\n2026 LOG:  execute s1: select $1\n2026 DETAIL:  parameters: $1 = '77777'\n2026 LOG:  statement: COMMIT\n";
        assert_eq!(
            logged_statements(log),
            vec!["START TRANSACTION", "select :id", "COMMIT"]
        );
    }
}
