//! `jwt-role-claim-key`: where in the claims the role is.

/// One step of a role-claim path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// `jwt-role-claim-key`: a JSONPath of keys and indexes (`$.role`, `$.app.roles[0]`,
/// `$."https://x.io/role"`), or the older JSPath form (`.role`, `."x"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleClaimPath(pub Vec<PathStep>);

impl RoleClaimPath {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut rest = s.trim();
        rest = rest.strip_prefix('$').unwrap_or(rest);
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                if let Some(q) = r.strip_prefix('"') {
                    let end = q
                        .find('"')
                        .ok_or_else(|| format!("unterminated quote in {s:?}"))?;
                    steps.push(PathStep::Key(q[..end].to_string()));
                    rest = &q[end + 1..];
                } else {
                    let end = r.find(['.', '[']).unwrap_or(r.len());
                    if end == 0 {
                        return Err(format!("empty key in {s:?}"));
                    }
                    steps.push(PathStep::Key(r[..end].to_string()));
                    rest = &r[end..];
                }
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r
                    .find(']')
                    .ok_or_else(|| format!("unterminated [ in {s:?}"))?;
                let inner = r[..end].trim();
                if let Ok(i) = inner.parse::<usize>() {
                    steps.push(PathStep::Index(i));
                } else if let Some(k) = inner
                    .strip_prefix('\'')
                    .and_then(|k| k.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|k| k.strip_suffix('"')))
                {
                    steps.push(PathStep::Key(k.to_string()));
                } else {
                    return Err(format!(
                        "{inner:?} is not supported by pgmesh yet (keys and indexes only)"
                    ));
                }
                rest = &r[end + 1..];
            } else {
                return Err(format!("cannot parse {s:?} as a JSONPath"));
            }
        }
        if steps.is_empty() {
            return Err(format!("{s:?} selects no claim"));
        }
        Ok(RoleClaimPath(steps))
    }

    /// Follows the path through the claims; the role must be a string.
    pub fn find<'a>(&self, claims: &'a serde_json::Value) -> Option<&'a str> {
        let mut v = claims;
        for step in &self.0 {
            v = match step {
                PathStep::Key(k) => v.get(k.as_str())?,
                PathStep::Index(i) => v.get(*i)?,
            };
        }
        v.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_claim_paths() {
        let claims = serde_json::json!({"role":"a","app":{"roles":["b","c"]},"https://x.io/r":"d"});
        let find = |p: &str| {
            RoleClaimPath::parse(p)
                .unwrap()
                .find(&claims)
                .map(String::from)
        };
        assert_eq!(find("$.role").as_deref(), Some("a"));
        assert_eq!(find(".role").as_deref(), Some("a"));
        assert_eq!(find("$.app.roles[1]").as_deref(), Some("c"));
        assert_eq!(find("$[\"https://x.io/r\"]").as_deref(), Some("d"));
        assert_eq!(find(".\"https://x.io/r\"").as_deref(), Some("d"));
        assert_eq!(find("$.missing"), None);
        assert!(RoleClaimPath::parse("$.a[?(@ == 'x')]").is_err());
    }
}
