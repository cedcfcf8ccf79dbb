//! The classic Prometheus text format (0.0.4) from OpenMetrics text, for
//! scrapers that do not ask for OpenMetrics: counter families are named with
//! their `_total` suffix there, and there is no `# EOF`.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn from_openmetrics(om: &str) -> String {
    let lines: Vec<&str> = om.lines().collect();
    let mut out = String::with_capacity(om.len() + 256);
    for (i, line) in lines.iter().enumerate() {
        if *line == "# EOF" {
            continue;
        }
        let counter_of = |l: &str| {
            l.strip_prefix("# TYPE ")
                .and_then(|r| r.strip_suffix(" counter"))
                .map(str::to_owned)
        };
        // HELP precedes TYPE for the same family.
        let family = counter_of(line).or_else(|| {
            let next = lines.get(i + 1)?;
            let name = counter_of(next)?;
            line.starts_with(&format!("# HELP {name} ")).then_some(name)
        });
        match family {
            Some(name) if !name.ends_with("_total") => {
                out.push_str(&line.replacen(&name, &format!("{name}_total"), 1));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
