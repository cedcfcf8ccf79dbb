//! The authentication rules: brute force (failures from one source),
//! password spraying (many user names from one source) and distributed
//! guessing (many sources failing for one user), each over a sliding
//! window of the servers' decisions, firing once per window and key.
use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    time::Duration,
};

use super::config::Rule;
use crate::event::{AlertKind, Auth, Evidence, Outcome, USERS_MAX};

/// Keys (source IPs or user names) one rule follows at once: names are the
/// clients' choice, so a flood of them cannot grow the agent without bound;
/// beyond, new keys are not followed until old ones leave the window.
pub const KEYS_MAX: usize = 65_536;

/// Per rule: per key, the decisions within the window (time, the other
/// side: the user name for a source, the source for a user name).
#[derive(Default)]
pub struct Guesses {
    windows: HashMap<usize, HashMap<String, VecDeque<(u64, String)>>>,
    /// (rule, key) → when it last fired.
    fired: HashMap<(usize, String), u64>,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// The first USERS_MAX distinct items, in the order first seen.
fn distinct(entries: &VecDeque<(u64, String)>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, item) in entries {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

impl Guesses {
    /// A failed decision for `user` from `ip`: the evidence of every rule
    /// it makes fire (with that rule's index).
    pub fn observe(
        &mut self,
        rules: &[Rule],
        time_ns: u64,
        ip: IpAddr,
        auth: &Auth,
    ) -> Vec<(usize, Evidence)> {
        if auth.outcome != Outcome::Failed {
            return Vec::new();
        }
        // A user that does not exist and is not named counts as a failure,
        // not as a name.
        let user = auth.user.as_deref().unwrap_or("");
        let mut fire = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let (key, item) = match rule.kind {
                AlertKind::BruteForce | AlertKind::PasswordSpraying => {
                    (ip.to_string(), user.to_owned())
                }
                AlertKind::DistributedGuessing if !user.is_empty() => {
                    (user.to_owned(), ip.to_string())
                }
                _ => continue,
            };
            if let Some(mut e) = self.count(i, rule, time_ns, key, item) {
                // The source whose attempt crossed the limit.
                e.source_ip = Some(ip);
                fire.push((i, e));
            }
        }
        fire
    }

    fn count(
        &mut self,
        i: usize,
        rule: &Rule,
        time_ns: u64,
        key: String,
        item: String,
    ) -> Option<Evidence> {
        let w = ns(rule.window);
        let keys = self.windows.entry(i).or_default();
        if !keys.contains_key(&key) && keys.len() >= KEYS_MAX {
            return None;
        }
        let entries = keys.entry(key.clone()).or_default();
        entries.push_back((time_ns, item));
        while entries.front().is_some_and(|&(t, _)| t + w < time_ns) {
            entries.pop_front();
        }
        let mut items = distinct(entries);
        let n = match rule.kind {
            AlertKind::BruteForce => entries.len(),
            _ => items.iter().filter(|u| !u.is_empty()).count(),
        } as u64;
        if n <= rule.max {
            return None;
        }
        let fired = (i, key.clone());
        if self.fired.get(&fired).is_some_and(|&t| t + w >= time_ns) {
            return None;
        }
        self.fired.insert(fired, time_ns);
        items.retain(|u| !u.is_empty());
        items.truncate(USERS_MAX);
        Some(evidence(rule, key, items, n))
    }

    /// Entries that left every window (about once a second).
    pub fn prune(&mut self, rules: &[Rule], now_ns: u64) {
        for (i, keys) in &mut self.windows {
            let w = ns(rules[*i].window);
            keys.retain(|_, e| e.back().is_some_and(|&(t, _)| t + w >= now_ns));
        }
        self.fired
            .retain(|(i, _), t| *t + ns(rules[*i].window) >= now_ns);
    }
}

fn evidence(rule: &Rule, key: String, items: Vec<String>, n: u64) -> Evidence {
    let mut e = Evidence {
        count: Some(n),
        limit: Some(rule.max),
        window_s: Some(rule.window.as_secs()),
        ..Default::default()
    };
    if rule.kind == AlertKind::DistributedGuessing {
        e.user = Some(key);
        e.source_ips = Some(items);
    } else {
        e.users = Some(items);
    }
    e
}
