//! Rule evaluation: each selected event goes through every rule; a rule that
//! fires makes an `alert.*` event carrying the session and the evidence.
use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::IpAddr,
    sync::Arc,
    time::Duration,
};

use anyhow::Result;

use super::{config::Rule, guesses::Guesses, state::KnownSources};
use crate::event::{
    Alert, AlertKind, Body, Endpoint, Event, Evidence, FileTransfer, Forward, ForwardKind,
    ForwardState, ProcessExec, SessionId, SessionInfo,
};

pub struct Engine {
    rules: Vec<Rule>,
    known: Option<KnownSources>,
    /// Per rule: event times per source IP within the rule's window.
    windows: Vec<HashMap<IpAddr, VecDeque<u64>>>,
    /// Per rule and source IP: when it last fired (once per window).
    fired_ip: HashMap<(usize, IpAddr), u64>,
    /// Per rule: sessions it already fired for (session_bytes).
    fired_session: Vec<HashSet<SessionId>>,
    /// (rule, session, target) forward_target fired for: once each.
    fired_target: HashSet<(usize, SessionId, Endpoint)>,
    /// Logged-in sessions still open.
    open: HashSet<SessionId>,
    /// Since when no session has been open (None while one is).
    idle_since: Option<u64>,
    /// Per rule: the idle rule fired for the current idle period.
    idle_fired: Vec<bool>,
    /// Saving the known-sources file failed this many times.
    pub state_errors: u64,
    /// The authentication rules' windows.
    guesses: Guesses,
}

fn alert_event(
    rule: &Rule,
    time_ns: u64,
    session: Option<&Arc<SessionInfo>>,
    evidence: Evidence,
) -> Event {
    let alert = Alert {
        rule: rule.name.clone(),
        severity: rule.severity,
        evidence,
    };
    Event::new(
        time_ns,
        session.cloned(),
        Body::Alert(rule.kind, Box::new(alert)),
    )
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

impl Engine {
    /// `known` is needed when a new_source rule exists; `started_ns` starts
    /// the first idle period.
    pub fn new(rules: Vec<Rule>, known: Option<KnownSources>, started_ns: u64) -> Self {
        let n = rules.len();
        Self {
            rules,
            known,
            windows: vec![HashMap::new(); n],
            fired_ip: HashMap::new(),
            fired_session: vec![HashSet::new(); n],
            fired_target: HashSet::new(),
            open: HashSet::new(),
            idle_since: Some(started_ns),
            idle_fired: vec![false; n],
            state_errors: 0,
            guesses: Guesses::default(),
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rules an event can fire; alerts and the agent's events fire none.
    pub fn observe(&mut self, ev: &Event, out: &mut Vec<Event>) {
        let Some(s) = &ev.session else { return };
        let ip = s.source.map(|e| e.ip);
        match &ev.body {
            Body::SessionLogin(_) => self.on_login(ev, s, ip, out),
            Body::SessionConnect => {
                if let Some(ip) = ip {
                    self.count(AlertKind::ConnectionRate, ev, s, ip, out);
                }
            }
            Body::SessionEnd(c) => {
                if let (false, Some(ip)) = (c.end.logged_in, ip) {
                    self.count(AlertKind::UnauthenticatedRate, ev, s, ip, out);
                }
                self.check_bytes(ev, s, ip, out);
                self.on_end(s, ev.time_ns);
            }
            Body::SessionBytes(_) => self.check_bytes(ev, s, ip, out),
            Body::UserChange(_) => self.check_privilege(ev, s, ip, out),
            Body::SessionForward(f) => self.check_forward(ev, s, f, out),
            Body::SessionAuth(d) => {
                let Some(ip) = ip else { return };
                for (i, evidence) in self.guesses.observe(&self.rules, ev.time_ns, ip, &d.auth) {
                    out.push(alert_event(&self.rules[i], ev.time_ns, Some(s), evidence));
                }
            }
            Body::ProcessExec(p) if p.fileless => self.on_fileless(ev, p, s, ip, out),
            Body::FileTransfer(t) => self.check_transfer(ev, s, ip, t, out),
            Body::ProcessExec(_)
            | Body::ProcessExit(_)
            | Body::AgentStart(_)
            | Body::AgentLoss(_)
            | Body::AgentStop(_)
            | Body::AgentHeartbeat(_)
            | Body::Alert(..)
            | Body::SessionTty(_) => {}
        }
    }

    fn on_login(
        &mut self,
        ev: &Event,
        s: &Arc<SessionInfo>,
        ip: Option<IpAddr>,
        out: &mut Vec<Event>,
    ) {
        let user = s.user.clone().or_else(|| s.uid.map(|u| u.to_string()));
        let was_idle = self.open.is_empty().then_some(self.idle_since).flatten();
        self.open.insert(s.id);
        self.idle_since = None;
        let mut new_source = false;
        if let (Some(known), Some(u), Some(ip)) = (&mut self.known, &user, ip) {
            if known.insert(u, &ip.to_string()) {
                // Discovered sessions teach the pair without alerting: they
                // logged in before the agent ran.
                new_source = !s.discovered;
                if let Err(e) = known.save() {
                    self.state_errors += 1;
                    eprintln!("ssh-trace: saving alert state: {e:#}");
                }
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let base = Evidence {
                user: user.clone(),
                source_ip: ip,
                ..Default::default()
            };
            let fire = match rule.kind {
                AlertKind::NewSource => new_source.then_some(base),
                AlertKind::RootLogin => (s.uid == Some(0)).then_some(base),
                AlertKind::LoginAfterIdle => was_idle
                    .filter(|&since| ev.time_ns.saturating_sub(since) >= ns(rule.after))
                    .map(|since| Evidence {
                        idle_s: Some(ev.time_ns.saturating_sub(since) / 1_000_000_000),
                        ..base
                    }),
                _ => None,
            };
            if let Some(evidence) = fire {
                out.push(alert_event(rule, ev.time_ns, Some(s), evidence));
            }
            if rule.kind == AlertKind::Idle {
                self.idle_fired[i] = false;
            }
        }
    }

    fn on_end(&mut self, s: &SessionInfo, time_ns: u64) {
        for f in &mut self.fired_session {
            f.remove(&s.id);
        }
        self.fired_target.retain(|(_, id, _)| *id != s.id);
        if self.open.remove(&s.id) && self.open.is_empty() {
            self.idle_since = Some(time_ns);
        }
    }

    /// Counts one occurrence for `ip` in the windows of rules of `kind`.
    fn count(
        &mut self,
        kind: AlertKind,
        ev: &Event,
        s: &Arc<SessionInfo>,
        ip: IpAddr,
        out: &mut Vec<Event>,
    ) {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.kind != kind {
                continue;
            }
            let w = ns(rule.window);
            let times = self.windows[i].entry(ip).or_default();
            times.push_back(ev.time_ns);
            while times.front().is_some_and(|&t| t + w < ev.time_ns) {
                times.pop_front();
            }
            let n = times.len() as u64;
            if n <= rule.max {
                continue;
            }
            // Once per window per IP, not on every further connection.
            let key = (i, ip);
            if self
                .fired_ip
                .get(&key)
                .is_some_and(|&t| t + w >= ev.time_ns)
            {
                continue;
            }
            self.fired_ip.insert(key, ev.time_ns);
            let evidence = Evidence {
                source_ip: Some(ip),
                count: Some(n),
                limit: Some(rule.max),
                window_s: Some(rule.window.as_secs()),
                ..Default::default()
            };
            out.push(alert_event(rule, ev.time_ns, Some(s), evidence));
        }
    }

    fn check_bytes(
        &mut self,
        ev: &Event,
        s: &Arc<SessionInfo>,
        ip: Option<IpAddr>,
        out: &mut Vec<Event>,
    ) {
        let Some(t) = ev.body.traffic() else { return };
        let total = t.bytes_in + t.bytes_out;
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.kind != AlertKind::SessionBytes || total <= rule.max {
                continue;
            }
            // Once per session.
            if !self.fired_session[i].insert(s.id) {
                continue;
            }
            let evidence = Evidence {
                user: s.user.clone(),
                source_ip: ip,
                count: Some(total),
                limit: Some(rule.max),
                ..Default::default()
            };
            out.push(alert_event(rule, ev.time_ns, Some(s), evidence));
        }
    }

    /// Every file moved beyond a transfer_bytes rule's limit fires it.
    fn check_transfer(
        &self,
        ev: &Event,
        s: &Arc<SessionInfo>,
        ip: Option<IpAddr>,
        t: &FileTransfer,
        out: &mut Vec<Event>,
    ) {
        for rule in &self.rules {
            if rule.kind != AlertKind::TransferBytes || t.transfer.bytes <= rule.max {
                continue;
            }
            let evidence = Evidence {
                user: s.user.clone(),
                source_ip: ip,
                count: Some(t.transfer.bytes),
                limit: Some(rule.max),
                pid: Some(t.process.pid),
                path: Some(t.transfer.host_path()),
                ..Default::default()
            };
            out.push(alert_event(rule, ev.time_ns, Some(s), evidence));
        }
    }

    fn check_privilege(
        &mut self,
        ev: &Event,
        s: &Arc<SessionInfo>,
        ip: Option<IpAddr>,
        out: &mut Vec<Event>,
    ) {
        let Body::UserChange(c) = &ev.body else {
            return;
        };
        let (process, change) = (&c.process, &c.change);
        // Only sessions logged in as someone else: sshd itself runs as root
        // before the login.
        let origin_not_root = s.uid.is_some_and(|u| u != 0);
        // Root in none of its ids before: sshd's monitor switching back
        // from a temporary seteuid is no gain.
        let (old, new) = (&change.old, &change.new);
        let had_root = old.uid == 0 || old.euid == 0 || old.suid == 0;
        let gained = change.success && !had_root && (new.euid == 0 || new.uid == 0);
        if !(origin_not_root && gained) {
            return;
        }
        for rule in &self.rules {
            if rule.kind != AlertKind::PrivilegeGain {
                continue;
            }
            let evidence = Evidence {
                user: s.user.clone(),
                source_ip: ip,
                pid: Some(process.pid),
                syscall: Some(change.syscall.to_owned()),
                ..Default::default()
            };
            out.push(alert_event(rule, ev.time_ns, Some(s), evidence));
        }
    }

    /// A program with no file on any filesystem: how in-memory payloads run.
    fn on_fileless(
        &mut self,
        ev: &Event,
        p: &ProcessExec,
        s: &Arc<SessionInfo>,
        ip: Option<IpAddr>,
        out: &mut Vec<Event>,
    ) {
        for rule in &self.rules {
            if rule.kind != AlertKind::FilelessExec {
                continue;
            }
            let evidence = Evidence {
                user: s.user.clone(),
                source_ip: ip,
                pid: Some(p.pid),
                executable: Some(p.executable.clone()),
                ..Default::default()
            };
            out.push(alert_event(rule, ev.time_ns, Some(s), evidence));
        }
    }

    /// A local forward's connection (or attempt) to a target outside the
    /// rule's allowed networks: once per session and target.
    fn check_forward(
        &mut self,
        ev: &Event,
        s: &Arc<SessionInfo>,
        f: &Forward,
        out: &mut Vec<Event>,
    ) {
        let attempt = matches!(f.state, ForwardState::Open | ForwardState::Failed);
        let Some(target) = f.target.filter(|_| attempt && f.kind == ForwardKind::Local) else {
            return;
        };
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.kind != AlertKind::ForwardTarget
                || rule.allowed.iter().any(|n| n.contains(target.ip))
                || !self.fired_target.insert((i, s.id, target))
            {
                continue;
            }
            let evidence = Evidence {
                user: s.user.clone(),
                source_ip: s.source.map(|e| e.ip),
                pid: Some(f.pid),
                target_ip: Some(target.ip),
                target_port: Some(target.port),
                ..Default::default()
            };
            out.push(alert_event(rule, ev.time_ns, Some(s), evidence));
        }
    }

    /// About once a second: idle rules, and old window entries dropped.
    pub fn tick(&mut self, now_ns: u64, out: &mut Vec<Event>) {
        if let Some(since) = self.idle_since {
            let idle = now_ns.saturating_sub(since);
            for (i, rule) in self.rules.iter().enumerate() {
                if rule.kind == AlertKind::Idle && !self.idle_fired[i] && idle >= ns(rule.after) {
                    self.idle_fired[i] = true;
                    let evidence = Evidence {
                        idle_s: Some(idle / 1_000_000_000),
                        ..Default::default()
                    };
                    out.push(alert_event(rule, now_ns, None, evidence));
                }
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let w = ns(rule.window);
            self.windows[i].retain(|_, times| times.back().is_some_and(|&t| t + w >= now_ns));
        }
        self.fired_ip
            .retain(|(i, _), t| *t + ns(self.rules[*i].window) >= now_ns);
        self.guesses.prune(&self.rules, now_ns);
    }

    /// Open logged-in sessions as the rules see them.
    pub fn open_sessions(&self) -> usize {
        self.open.len()
    }

    pub fn save(&self) -> Result<()> {
        match &self.known {
            Some(k) => k.save(),
            None => Ok(()),
        }
    }
}
