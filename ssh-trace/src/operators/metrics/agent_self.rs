//! The agent's own CPU time and memory, read from /proc/self at each scrape.
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
};

#[derive(Debug)]
pub struct AgentSelf;

/// (CPU seconds, resident bytes) of this process.
pub fn usage() -> (f64, i64) {
    // SAFETY: sysconf with valid names.
    let (tick, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK).max(1) as f64,
            libc::sysconf(libc::_SC_PAGESIZE).max(1),
        )
    };
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is 14th, stime 15th.
    let rest = stat.rsplit_once(") ").map(|r| r.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / tick;
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let rss_pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, rss_pages * page)
}

impl Collector for AgentSelf {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (cpu, rss) = usage();
        let c = ConstCounter::new(cpu);
        let m = encoder.encode_descriptor(
            "ssh_trace_agent_cpu_seconds",
            "CPU time the agent used (user and system)",
            None,
            c.metric_type(),
        )?;
        c.encode(m)?;
        let g = ConstGauge::new(rss);
        let m = encoder.encode_descriptor(
            "ssh_trace_agent_resident_memory_bytes",
            "Resident memory of the agent",
            None,
            g.metric_type(),
        )?;
        g.encode(m)
    }
}
