//! Alert actions run on a worker thread, so a slow webhook never holds up
//! the event stream: webhook POSTs and commands fed the alert JSON on stdin.
//! Rate-limited per rule; each run retried with backoff; failures reported
//! back (counted, and turned into `alert.action_failed` events).
use std::{
    collections::VecDeque,
    io::Write,
    process::{Command, Stdio},
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::config::{Action, ActionKind, Config, Preset, RateLimit};

pub const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

struct Job {
    action: usize,
    rule: String,
    json: String,
    text: String,
}

/// An action that failed on every attempt.
#[derive(Debug)]
pub struct Failure {
    pub rule: String,
    pub action: String,
    pub error: String,
}

#[derive(Default, Debug, Clone, Copy)]
pub struct ActionCounts {
    pub sent: u64,
    pub suppressed: u64,
    pub failed: u64,
    pub queue_full: u64,
}

pub struct Dispatcher {
    /// Per rule: its action indexes and the times of its recent runs.
    limits: Vec<(RateLimit, Vec<usize>, VecDeque<Instant>)>,
    rule_names: Vec<String>,
    jobs: Option<mpsc::SyncSender<Job>>,
    failures: mpsc::Receiver<(Failure, bool)>,
    worker: Option<JoinHandle<()>>,
    pub counts: ActionCounts,
}

const QUEUE: usize = 1024;

impl Dispatcher {
    pub fn start(cfg: &Config) -> Self {
        let (jobs, rx) = mpsc::sync_channel::<Job>(QUEUE);
        let (ftx, failures) = mpsc::channel();
        let actions = cfg.actions.clone();
        let worker = std::thread::Builder::new()
            .name("alert-actions".into())
            .spawn(move || worker(actions, rx, ftx))
            .ok();
        Self {
            limits: cfg
                .rules
                .iter()
                .map(|r| (r.rate_limit, r.actions.clone(), VecDeque::new()))
                .collect(),
            rule_names: cfg.rules.iter().map(|r| r.name.clone()).collect(),
            jobs: Some(jobs),
            failures,
            worker,
            counts: ActionCounts::default(),
        }
    }

    /// Queues the actions of `rule` for one alert, unless its rate is spent.
    pub fn dispatch(&mut self, rule: &str, json: &str, text: &str) {
        let Some(i) = self.rule_names.iter().position(|n| n == rule) else {
            return;
        };
        let (limit, actions, runs) = &mut self.limits[i];
        if actions.is_empty() {
            return;
        }
        let now = Instant::now();
        while runs
            .front()
            .is_some_and(|&t| now.duration_since(t) > limit.per)
        {
            runs.pop_front();
        }
        if runs.len() >= limit.max as usize {
            self.counts.suppressed += actions.len() as u64;
            return;
        }
        runs.push_back(now);
        for &a in actions.iter() {
            let job = Job {
                action: a,
                rule: rule.to_owned(),
                json: json.to_owned(),
                text: text.to_owned(),
            };
            match self.jobs.as_ref().map(|j| j.try_send(job)) {
                Some(Ok(())) => {}
                _ => self.counts.queue_full += 1,
            }
        }
    }

    /// Failures reported by the worker since the last call.
    pub fn failures(&mut self) -> Vec<Failure> {
        let mut v = Vec::new();
        while let Ok((f, ok)) = self.failures.try_recv() {
            if ok {
                self.counts.sent += 1;
            } else {
                self.counts.failed += 1;
                v.push(f);
            }
        }
        v
    }

    /// Lets queued actions finish (each bounded by its retries and timeouts).
    pub fn finish(&mut self) -> Vec<Failure> {
        self.jobs = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        self.failures()
    }
}

fn worker(actions: Vec<Action>, rx: mpsc::Receiver<Job>, done: mpsc::Sender<(Failure, bool)>) {
    let http: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    for job in rx {
        let Some(action) = actions.get(job.action) else {
            continue;
        };
        let mut last = String::new();
        let mut ok = false;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1));
            }
            match run(&http, &action.kind, &job) {
                Ok(()) => {
                    ok = true;
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let f = Failure {
            rule: job.rule,
            action: action.name.clone(),
            error: format!("{last} (after {ATTEMPTS} attempts)"),
        };
        if done.send((f, ok)).is_err() {
            return;
        }
    }
}

/// Why one run of an action failed (retried, then reported).
#[derive(Debug, thiserror::Error)]
enum ActionError {
    #[error("POST {url}: {err}")]
    Post { url: String, err: ureq::Error },
    #[error("running {cmd}: {err}")]
    Spawn { cmd: String, err: std::io::Error },
    #[error("{cmd} exited with {status}")]
    Exit {
        cmd: String,
        status: std::process::ExitStatus,
    },
    #[error("{cmd} timed out after {COMMAND_TIMEOUT:?}")]
    Timeout { cmd: String },
    #[error("waiting for {cmd}: {err}")]
    Wait { cmd: String, err: std::io::Error },
}

fn run(http: &ureq::Agent, kind: &ActionKind, job: &Job) -> Result<(), ActionError> {
    match kind {
        ActionKind::Webhook { url, preset } => {
            let body = match preset {
                Preset::Json => job.json.clone(),
                Preset::Slack => serde_json::json!({ "text": job.text }).to_string(),
                Preset::Feishu => {
                    serde_json::json!({"msg_type": "text", "content": {"text": job.text}})
                        .to_string()
                }
            };
            http.post(url)
                .header("content-type", "application/json")
                .send(body.as_bytes())
                .map(|_| ())
                .map_err(|err| ActionError::Post {
                    url: url.clone(),
                    err,
                })
        }
        ActionKind::Command(argv) => run_command(argv, &job.json),
    }
}

fn run_command(argv: &[String], json: &str) -> Result<(), ActionError> {
    let cmd = || argv[0].clone();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| ActionError::Spawn { cmd: cmd(), err })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that ignores its input is fine: a broken pipe is not a failure.
        let _ = stdin
            .write_all(json.as_bytes())
            .and_then(|_| stdin.write_all(b"\n"));
    }
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(status)) => return Err(ActionError::Exit { cmd: cmd(), status }),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ActionError::Timeout { cmd: cmd() });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(err) => return Err(ActionError::Wait { cmd: cmd(), err }),
        }
    }
}
