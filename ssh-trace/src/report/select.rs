//! Picks the one session a tree or timeline is about and keeps its events.
//!
//! The query is a full session id, a unique prefix or a unique suffix
//! (case-insensitive). Suffixes are accepted because the ids of one boot
//! share their first 16 hex digits (they start with the boot id) and differ
//! at the end. A full id wins over partial matches. As soon as two sessions
//! match partially the stored events are dropped: the answer is an error
//! whatever follows, unless the full id shows up.
use std::collections::BTreeSet;

use crate::event::Event;

pub struct Selected {
    query: String,
    chosen: Option<String>,
    chosen_exact: bool,
    events: Vec<Event>,
    /// Every id that matched, for the error message.
    matched: BTreeSet<String>,
}

impl Selected {
    pub fn new(query: &str) -> Self {
        Self {
            query: query.trim().to_ascii_lowercase(),
            chosen: None,
            chosen_exact: false,
            events: Vec::new(),
            matched: BTreeSet::new(),
        }
    }

    pub fn add(&mut self, ev: &Event) {
        let Some(info) = &ev.session else { return };
        let text = info.id.text();
        let id = text.as_str();
        let q = self.query.as_str();
        if q.is_empty() || !(id.starts_with(q) || id.ends_with(q)) {
            return;
        }
        if !self.matched.contains(id) {
            self.matched.insert(id.to_owned());
        }
        if self.chosen.as_deref() == Some(id) {
            self.events.push(ev.clone());
        } else if id == q {
            // First sight of the full id (it would be chosen already otherwise).
            self.chosen = Some(id.to_owned());
            self.chosen_exact = true;
            self.events = vec![ev.clone()];
        } else if self.chosen_exact {
            // Partial matches do not compete with the full id.
        } else if self.matched.len() == 1 {
            self.chosen = Some(id.to_owned());
            self.events = vec![ev.clone()];
        } else {
            self.chosen = None;
            self.events = Vec::new();
        }
    }

    /// The chosen session's id and events, or why there is none.
    pub fn chosen(&self) -> Result<(&str, &[Event]), NotChosen> {
        if let Some(id) = &self.chosen {
            return Ok((id, &self.events));
        }
        if self.query.is_empty() {
            return Err(NotChosen::NoQuery);
        }
        match self.matched.len() {
            0 => Err(NotChosen::NoMatch(self.query.clone())),
            n => {
                const SHOWN: usize = 5;
                let mut list: Vec<&str> = self
                    .matched
                    .iter()
                    .take(SHOWN)
                    .map(|s| s.as_str())
                    .collect();
                if n > SHOWN {
                    list.push("…");
                }
                Err(NotChosen::Ambiguous {
                    query: self.query.clone(),
                    n,
                    some: list.join(", "),
                })
            }
        }
    }
}

/// Why a tree or timeline has no session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotChosen {
    #[error("no session id given")]
    NoQuery,
    #[error("no session id starts or ends with {0:?}")]
    NoMatch(String),
    #[error("{query:?} matches {n} sessions ({some}); give more of the id")]
    Ambiguous {
        query: String,
        n: usize,
        some: String,
    },
}
