//! A real Prometheus on loopback with its own data directory, scraping
//! agents every second (and evaluating rule files every second), queried
//! through its HTTP API.
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::{free_port, wait_until, world};

pub struct Prometheus {
    child: Child,
    pub port: u16,
}

impl Prometheus {
    pub fn start(name: &str, target: &str) -> Prometheus {
        Self::start_with(name, &[target], &[])
    }

    /// Scrapes `targets` as job "ssh-trace" and loads `rule_files`.
    pub fn start_with(name: &str, targets: &[&str], rule_files: &[&Path]) -> Prometheus {
        let dir = world().dir.join(format!("prometheus_{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|r| format!("  - '{}'\n", r.display()))
            .collect();
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n{}scrape_configs:\n  - job_name: ssh-trace\n    static_configs:\n      - targets: [{}]\n",
                rules.concat(),
                targets.join(", ")
            ),
        )
        .unwrap();
        let port = free_port().unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (run `cargo xtask setup`)");
        Prometheus { child, port }
    }

    /// GET /api/v1/PATH with query parameters: the whole JSON answer.
    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> Option<Value> {
        let url = format!("http://127.0.0.1:{}/api/v1/{path}", self.port);
        let mut req = ureq::get(&url);
        for (k, v) in params {
            req = req.query(*k, *v);
        }
        // 4xx answers (a bad query) carry the error as JSON too.
        let body = req
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .ok()?
            .into_body()
            .read_to_string()
            .ok()?;
        serde_json::from_str(&body).ok()
    }

    /// The single value of an instant query, if any.
    pub fn value(&self, query: &str) -> Option<f64> {
        let v = self.api("query", &[("query", query)])?;
        let r = v["data"]["result"].as_array()?;
        if r.len() != 1 {
            return None;
        }
        r[0]["value"][1].as_str()?.parse().ok()
    }

    /// Waits until the query has exactly `want`.
    pub fn wait_for(&self, query: &str, want: f64) -> Option<f64> {
        let got = wait_until(Duration::from_secs(20), || {
            self.value(query).filter(|v| *v == want)
        });
        got.or_else(|| self.value(query))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
