//! What a person typed for a session id → the one session it means. The
//! one resolver of every command that takes an id (`report tree`, `report
//! timeline`, `session.id` in filters of `replay`/`report`, …): a full id,
//! or any unambiguous prefix (the 8-character short form the human view,
//! `sessions` and `top` show), case-insensitive. For ids from before
//! version-8 ids (old captures: version 4, the boot id's) a suffix is
//! accepted too: those of one boot share their first 18 characters and
//! differ only at the end. Two matches are refused, naming them.
use std::collections::BTreeSet;

use super::SessionId;

/// Fed the ids seen (in any order, repeats welcome); answers once all were.
#[derive(Clone, Debug)]
pub struct Resolver {
    query: String,
    /// Every id that matched, for the refusal.
    matched: BTreeSet<SessionId>,
}

/// Why a query names no session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    #[error("no session id given")]
    NoQuery,
    #[error("no session id matches {0:?}")]
    NoMatch(String),
    #[error("{query:?} matches {n} sessions ({some}); give more of the id")]
    Ambiguous {
        query: String,
        n: usize,
        some: String,
    },
}

/// Candidates named in a refusal at most.
const SHOWN: usize = 8;

impl Resolver {
    pub fn new(query: &str) -> Self {
        Self {
            query: query.trim().to_ascii_lowercase(),
            matched: BTreeSet::new(),
        }
    }

    /// Offers an id seen; true when it matches the query.
    pub fn offer(&mut self, id: SessionId) -> bool {
        let text = id.text();
        let t = text.as_str();
        let q = self.query.as_str();
        let suffix = !id.is_v8() && t.ends_with(q);
        if q.is_empty() || !(t.starts_with(q) || suffix) {
            return false;
        }
        self.matched.insert(id);
        true
    }

    /// The session meant so far: the only one that matched.
    pub fn current(&self) -> Option<SessionId> {
        match self.matched.len() {
            1 => self.matched.first().copied(),
            _ => None,
        }
    }

    /// The session meant, or why there is none.
    pub fn resolved(&self) -> Result<SessionId, Unresolved> {
        if let Some(id) = self.current() {
            return Ok(id);
        }
        if self.query.is_empty() {
            return Err(Unresolved::NoQuery);
        }
        let n = self.matched.len();
        if n == 0 {
            return Err(Unresolved::NoMatch(self.query.clone()));
        }
        let mut some: Vec<String> = self
            .matched
            .iter()
            .take(SHOWN)
            .map(|id| id.to_string())
            .collect();
        if n > SHOWN {
            some.push("…".into());
        }
        Err(Unresolved::Ambiguous {
            query: self.query.clone(),
            n,
            some: some.join(", "),
        })
    }
}

/// Resolves `query` against `ids` in one go.
pub fn resolve(
    query: &str,
    ids: impl IntoIterator<Item = SessionId>,
) -> Result<SessionId, Unresolved> {
    let mut r = Resolver::new(query);
    for id in ids {
        r.offer(id);
    }
    r.resolved()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SessionId {
        s.parse().unwrap()
    }

    const A: &str = "05730d28-2db4-8bc4-96af-4550fbed3a83";
    const B: &str = "05730d9f-1111-8222-9333-444455556666";
    const C: &str = "7e0c1a22-0000-8000-8000-000000000001";
    /// Before version-8 ids: the boot id (version 4) XOR the kernel key.
    const OLD: &str = "32b570ba-d854-4f37-a9ba-9b55482231f3";

    fn all() -> Vec<SessionId> {
        [A, B, C, A, OLD].map(id).to_vec()
    }

    #[test]
    fn a_unique_prefix_or_the_short_form_resolves() {
        assert_eq!(resolve("05730d28", all()), Ok(id(A)));
        assert_eq!(resolve("7", all()), Ok(id(C)));
        assert_eq!(resolve("05730D9F-1", all()), Ok(id(B)));
        assert_eq!(resolve(&format!(" {A} "), all()), Ok(id(A)));
    }

    #[test]
    fn a_unique_suffix_resolves_for_old_ids_only() {
        assert_eq!(resolve("a9ba-9b55482231f3", all()), Ok(id(OLD)));
        assert_eq!(resolve("2231f3", all()), Ok(id(OLD)));
        // A version-8 id's end is no handle: A ends with "3" too, but only
        // OLD (which also starts with it) matches.
        assert_eq!(
            resolve("5556666", all()),
            Err(Unresolved::NoMatch("5556666".into()))
        );
        assert!(resolve("3", all()).is_ok_and(|i| i == id(OLD)));
    }

    #[test]
    fn an_ambiguous_prefix_is_refused_naming_the_candidates() {
        let e = resolve("05730", all()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("\"05730\" matches 2 sessions ({A}, {B}); give more of the id")
        );
    }

    #[test]
    fn nothing_matching_or_nothing_given_is_refused() {
        assert_eq!(
            resolve("ffff", all()),
            Err(Unresolved::NoMatch("ffff".into()))
        );
        assert_eq!(resolve("  ", all()), Err(Unresolved::NoQuery));
    }

    #[test]
    fn many_candidates_are_cut_short() {
        let ids = (0..20u128).map(|n| SessionId(0xab << 120 | n << 64));
        let Err(Unresolved::Ambiguous { n, some, .. }) = resolve("ab", ids) else {
            panic!("not refused")
        };
        assert_eq!(n, 20);
        assert_eq!(some.split(", ").count(), SHOWN + 1);
        assert!(some.ends_with('…'));
    }
}
