//! A private ClickHouse server for the sink tests and the benchmark:
//! Debian's clickhouse-server (18.16) with its own data directory, users
//! file and loopback ports (HTTP, native, interserver, and HTTPS when given
//! a certificate), so several run beside each other and beside anything
//! else on the machine. Queries go over its HTTP interface as the
//! password-less `default` user; the sink under test may use `writer`.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::{free_port, workspace_root};

pub const SERVER: &str = "/usr/sbin/clickhouse-server";
/// The password of the `writer` user.
pub const WRITER_PASSWORD: &str = "s3cr3t-writer";

pub struct ClickHouse {
    pub http_port: u16,
    pub https_port: Option<u16>,
    pub dir: PathBuf,
    args: Vec<String>,
    /// Run on this CPU only (the benchmark keeps it off the agent's).
    cpu: Option<usize>,
    child: Option<Child>,
}

/// How the server is started.
#[derive(Default)]
pub struct Options {
    /// HTTPS with this certificate chain and key (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    pub cpu: Option<usize>,
    /// Compress parts with zstd instead of lz4 (the server's `compression`).
    pub zstd: bool,
}

fn users_xml() -> String {
    let user = |name: &str, password: &str| {
        format!(
            "<{name}><password>{password}</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>\
             <profile>default</profile><quota>default</quota></{name}>"
        )
    };
    format!(
        "<?xml version=\"1.0\"?>\n<yandex><profiles><default/></profiles><quotas><default/></quotas>\
         <users>{}{}</users></yandex>\n",
        user("default", ""),
        user("writer", WRITER_PASSWORD)
    )
}

impl ClickHouse {
    /// Starts a server whose files are all under `dir` (made empty first).
    pub fn start(dir: &Path, opts: Options) -> Result<Self> {
        if !Path::new(SERVER).exists() {
            bail!("{SERVER} is missing: run `cargo xtask setup` (installs clickhouse-server)");
        }
        let _ = std::fs::remove_dir_all(dir);
        for sub in ["data", "tmp", "user_files", "format_schemas"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        std::fs::write(dir.join("users.xml"), users_xml())?;
        let http_port = free_port()?;
        let d = dir.display();
        let mut args = vec![
            "--config-file=/etc/clickhouse-server/config.xml".to_owned(),
            "--".to_owned(),
            format!("--path={d}/data/"),
            format!("--tmp_path={d}/tmp/"),
            format!("--user_files_path={d}/user_files/"),
            format!("--format_schema_path={d}/format_schemas/"),
            format!("--users_config={d}/users.xml"),
            format!("--logger.log={d}/server.log"),
            format!("--logger.errorlog={d}/server.err"),
            format!("--http_port={http_port}"),
            format!("--tcp_port={}", free_port()?),
            format!("--interserver_http_port={}", free_port()?),
            "--listen_host=127.0.0.1".to_owned(),
        ];
        if opts.zstd {
            args.push("--compression.case.method=zstd".to_owned());
        }
        let mut https_port = None;
        if let Some((cert, key)) = &opts.tls {
            let port = free_port()?;
            https_port = Some(port);
            args.push(format!("--https_port={port}"));
            args.push(format!(
                "--openSSL.server.certificateFile={}",
                cert.display()
            ));
            args.push(format!("--openSSL.server.privateKeyFile={}", key.display()));
            args.push("--openSSL.server.dhParamsFile=".to_owned());
        }
        let mut c = Self {
            http_port,
            https_port,
            dir: dir.to_owned(),
            args,
            cpu: opts.cpu,
            child: None,
        };
        c.resume()?;
        Ok(c)
    }

    /// (Re)starts the server on the same ports and data; waits for /ping.
    pub fn resume(&mut self) -> Result<()> {
        let mut cmd = match self.cpu {
            Some(cpu) => {
                let mut t = Command::new("taskset");
                t.args(["-c", &cpu.to_string(), SERVER]);
                t
            }
            None => Command::new(SERVER),
        };
        let child = cmd
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("stderr"))?)
            .spawn()
            .context("starting clickhouse-server")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.get("/ping").ok().as_deref() != Some("Ok.\n") {
            if let Some(Some(status)) = self.child.as_mut().map(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "clickhouse-server exited with {status}: {}",
                    std::fs::read_to_string(self.dir.join("server.err")).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!("clickhouse-server did not answer /ping within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// SIGKILL, as a crash: the server is down until `resume`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    fn get(&self, path: &str) -> Result<String> {
        let url = format!("{}{path}", self.url());
        Ok(ureq::get(&url).call()?.into_body().read_to_string()?)
    }

    /// Runs one statement; its output as text.
    pub fn exec(&self, sql: &str) -> Result<String> {
        self.exec_at("/", sql)
    }

    fn exec_at(&self, path: &str, sql: &str) -> Result<String> {
        let resp = ureq::post(&format!("{}{path}", self.url()))
            .config()
            .http_status_as_error(false)
            .build()
            .send(sql)?;
        let status = resp.status();
        let text = resp
            .into_body()
            .with_config()
            .limit(1 << 30)
            .read_to_string()?;
        if !status.is_success() {
            bail!("ClickHouse: {status}: {text}\nfor: {sql}");
        }
        Ok(text)
    }

    /// The rows of a SELECT, as JSON objects (64-bit integers as numbers).
    pub fn rows(&self, select: &str) -> Result<Vec<Value>> {
        let text = self.exec_at(
            "/?output_format_json_quote_64bit_integers=0",
            &format!("{select} FORMAT JSONEachRow"),
        )?;
        text.lines()
            .map(|l| serde_json::from_str(l).with_context(|| l.to_owned()))
            .collect()
    }

    /// The one number a query returns.
    pub fn number(&self, select: &str) -> Result<u64> {
        let text = self.exec(select)?;
        text.trim()
            .parse()
            .with_context(|| format!("{select}: {text:?}"))
    }

    /// Runs every statement of an SQL script (`--` comments, `;` at line ends).
    pub fn apply(&self, script: &str) -> Result<()> {
        let code: String = script
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for stmt in code.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
            self.exec(stmt.trim_end_matches(';'))?;
        }
        Ok(())
    }
}

/// The shipped schema, dist/clickhouse/schema.sql.
pub fn schema() -> String {
    let path = workspace_root().join("dist/clickhouse/schema.sql");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}
