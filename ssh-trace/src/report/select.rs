//! Picks the one session a tree or timeline is about and keeps its events.
//!
//! Which session the query means is the resolver's answer
//! (event/resolve.rs). Only the events of the session meant so far are
//! kept: as soon as two sessions match they are dropped (the answer is a
//! refusal whatever follows).
use crate::event::{
    resolve::{Resolver, Unresolved},
    Event, SessionId,
};

pub type NotChosen = Unresolved;

pub struct Selected {
    resolver: Resolver,
    chosen: Option<SessionId>,
    chosen_text: String,
    events: Vec<Event>,
}

impl Selected {
    pub fn new(query: &str) -> Self {
        Self {
            resolver: Resolver::new(query),
            chosen: None,
            chosen_text: String::new(),
            events: Vec::new(),
        }
    }

    pub fn add(&mut self, ev: &Event) {
        let Some(info) = &ev.session else { return };
        if !self.resolver.offer(info.id) {
            return;
        }
        match self.resolver.current() {
            Some(c) => {
                if self.chosen != Some(c) {
                    self.chosen = Some(c);
                    self.chosen_text = c.to_string();
                }
                self.events.push(ev.clone());
            }
            None => {
                self.chosen = None;
                self.events = Vec::new();
            }
        }
    }

    /// The chosen session's id and events, or why there is none.
    pub fn chosen(&self) -> Result<(&str, &[Event]), NotChosen> {
        self.resolver.resolved()?;
        Ok((&self.chosen_text, &self.events))
    }
}
