//! What a run produces: a JSON result, a Markdown report and a latency plot, and the
//! side-by-side report that puts several runs (ours and the peers') in one table.

use crate::Peer;
use crate::latency::Summary;
use crate::procstat::Usage;
use crate::traffic::Correctness;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Run {
    pub scenario: String,
    /// Names the system under test, e.g. `switchboard-sqlite` or `socketio`.
    pub label: String,
    pub peer: Peer,
    pub started_unix: u64,
    /// The generator's command line.
    pub command: String,
    pub machine: Machine,
    /// Headline figure first: the comparison report ranks runs by it.
    pub figures: Vec<Figure>,
    /// Main distribution first: the comparison plot draws it.
    pub latencies: Vec<Series>,
    pub correctness: Correctness,
    pub processes: Vec<Usage>,
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
                .unwrap_or_default(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// Whether more is better (throughput) or less is (latency, memory).
    pub higher_is_better: bool,
}

impl Figure {
    pub fn more(name: &str, value: f64, unit: &str) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.into(),
            higher_is_better: true,
        }
    }

    pub fn less(name: &str, value: f64, unit: &str) -> Self {
        Self {
            higher_is_better: false,
            ..Self::more(name, value, unit)
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub summary: Summary,
}

impl Series {
    pub fn new(name: &str, summary: Summary) -> Self {
        Self {
            name: name.into(),
            summary,
        }
    }
}

/// A bar from DESIGN.md and whether this run cleared it. Reports show it; nothing
/// asserts it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    pub what: String,
    pub bar: String,
    pub measured: String,
    pub met: bool,
}

impl Target {
    pub fn at_most(what: &str, limit: f64, value: f64, unit: &str) -> Self {
        Self {
            what: what.into(),
            bar: format!("≤ {} {unit}", number(limit)),
            measured: format!("{} {unit}", number(value)),
            met: value <= limit,
        }
    }

    pub fn at_least(what: &str, limit: f64, value: f64, unit: &str) -> Self {
        Self {
            what: what.into(),
            bar: format!("≥ {} {unit}", number(limit)),
            measured: format!("{} {unit}", number(value)),
            met: value >= limit,
        }
    }
}

/// A figure as people read it: thousands separated, two decimals below 100.
pub fn number(value: f64) -> String {
    if value.abs() >= 100.0 {
        let rounded = value.round() as i64;
        let digits = rounded.abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if rounded < 0 { format!("-{out}") } else { out }
    } else {
        format!("{value:.2}")
    }
}

impl Run {
    /// The Markdown report of this run.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "### `{}` — {}\n", self.scenario, self.label);
        let _ = writeln!(md, "`{}`\n", self.command);
        let _ = writeln!(md, "| Figure | Value |\n|---|---|");
        for f in &self.figures {
            let _ = writeln!(md, "| {} | {} {} |", f.name, number(f.value), f.unit);
        }
        if !self.latencies.is_empty() {
            let _ = writeln!(
                md,
                "\n| Latency (ms) | count | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|"
            );
            for s in &self.latencies {
                let m = &s.summary;
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                    s.name, m.count, m.p50_ms, m.p90_ms, m.p99_ms, m.p999_ms, m.max_ms
                );
            }
        }
        let c = &self.correctness;
        let verdict = if c.errors() == 0 { "all 0" } else { "NOT 0" };
        let _ = writeln!(md, "\nCorrectness ({verdict}): {}.", c.line());
        if let Some(first) = &c.first_refusal {
            let _ = writeln!(md, "\nFirst refused frame: `{first}`");
        }
        if !self.processes.is_empty() {
            let _ = writeln!(
                md,
                "\n| Process | pid | CPU s | cores busy | RSS MB | peak RSS MB |\n|---|---|---|---|---|---|"
            );
            for p in &self.processes {
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.2} | {:.2} | {:.1} | {:.1} |",
                    p.role, p.pid, p.cpu_seconds, p.cpu_cores, p.rss_mb, p.peak_rss_mb
                );
            }
        }
        if !self.targets.is_empty() {
            let _ = writeln!(
                md,
                "\n| Target (DESIGN.md) | Bar | Measured | Met |\n|---|---|---|---|"
            );
            for t in &self.targets {
                let met = if t.met { "yes" } else { "no" };
                let _ = writeln!(md, "| {} | {} | {} | {met} |", t.what, t.bar, t.measured);
            }
        }
        for note in &self.notes {
            let _ = writeln!(md, "\n{note}");
        }
        md
    }

    /// Writes `<scenario>-<label>.json`, `.md` and `.svg` into `dir`; returns the JSON path.
    pub fn write(&self, dir: &Path) -> crate::Result<PathBuf> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let stem = format!("{}-{}", self.scenario, self.label);
        let json = dir.join(format!("{stem}.json"));
        let body = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&json, body).map_err(|e| format!("cannot write {}: {e}", json.display()))?;
        let md = dir.join(format!("{stem}.md"));
        std::fs::write(&md, self.markdown())
            .map_err(|e| format!("cannot write {}: {e}", md.display()))?;
        let series: Vec<(String, &Summary)> = self
            .latencies
            .iter()
            .filter(|s| s.summary.count > 0)
            .map(|s| (s.name.clone(), &s.summary))
            .collect();
        if !series.is_empty() {
            crate::plot::spectrum(
                &dir.join(format!("{stem}.svg")),
                &format!("{} — {}", self.scenario, self.label),
                &series,
            )?;
        }
        Ok(json)
    }
}

/// Several runs side by side: per scenario a table of every run's figures, the ratio of
/// each Switchboard run to each peer on the headline figure and on the main p99, and one
/// plot with every run's main latency distribution. Returns the Markdown.
pub fn compare(runs: &[Run], dir: &Path) -> crate::Result<String> {
    let mut md = String::new();
    let mut scenarios: Vec<&str> = runs.iter().map(|r| r.scenario.as_str()).collect();
    scenarios.dedup();
    scenarios.sort_unstable();
    scenarios.dedup();
    for scenario in scenarios {
        let group: Vec<&Run> = runs.iter().filter(|r| r.scenario == scenario).collect();
        let _ = writeln!(md, "### `{scenario}`\n");
        let names: Vec<&Figure> = group[0].figures.iter().collect();
        let _ = write!(md, "| Run |");
        for f in &names {
            let _ = write!(md, " {} ({}) |", f.name, f.unit);
        }
        let main = group[0].latencies.first().map(|s| s.name.clone());
        if let Some(main) = &main {
            let _ = write!(md, " {main} p50 / p99 / p99.9 ms |");
        }
        let _ = writeln!(
            md,
            " Correctness errors | Server CPU s | Server peak RSS MB |"
        );
        let _ = writeln!(
            md,
            "|{}",
            "---|".repeat(names.len() + 4 + usize::from(main.is_some()))
        );
        for run in &group {
            let _ = write!(md, "| {} |", run.label);
            for f in &names {
                let value = run
                    .figures
                    .iter()
                    .find(|g| g.name == f.name)
                    .map(|g| g.value);
                let _ = write!(md, " {} |", value.map(number).unwrap_or_else(|| "—".into()));
            }
            if main.is_some() {
                match run.latencies.first() {
                    Some(s) => {
                        let _ = write!(
                            md,
                            " {:.2} / {:.2} / {:.2} |",
                            s.summary.p50_ms, s.summary.p99_ms, s.summary.p999_ms
                        );
                    }
                    None => md.push_str(" — |"),
                }
            }
            let servers: Vec<&Usage> = run
                .processes
                .iter()
                .filter(|p| p.role != "generator")
                .collect();
            let cpu: f64 = servers.iter().map(|p| p.cpu_seconds).sum();
            let rss: f64 = servers.iter().map(|p| p.peak_rss_mb).sum();
            let usage = if servers.is_empty() {
                " — | — |".to_owned()
            } else {
                format!(" {cpu:.2} | {rss:.1} |")
            };
            let _ = writeln!(md, " {} |{usage}", run.correctness.errors());
        }
        let aggregates = aggregate(&group);
        if aggregates.iter().any(|a| a.runs > 1) {
            medians(&mut md, &aggregates);
        } else {
            ratios(&mut md, &group);
        }
        let series: Vec<(String, &Summary)> = group
            .iter()
            .filter_map(|r| r.latencies.first().map(|s| (r.label.clone(), &s.summary)))
            .filter(|(_, s)| s.count > 0)
            .collect();
        if !series.is_empty() {
            let file = format!("compare-{scenario}.svg");
            crate::plot::spectrum(
                &dir.join(&file),
                &format!("{scenario}: {}", main.unwrap_or_default()),
                &series,
            )?;
            let _ = writeln!(md, "\n![{scenario} latency]({file})\n");
        }
    }
    Ok(md)
}

/// A label without its repetition mark: `switchboard-sqlite#2` is the second run of
/// `switchboard-sqlite`.
fn configuration(label: &str) -> &str {
    label
        .split_once('#')
        .map_or(label, |(configuration, _)| configuration)
}

/// The repetitions of one configuration: every figure's values and the main p99s.
struct Aggregate<'a> {
    label: &'a str,
    peer: Peer,
    runs: usize,
    /// Name, unit and one value per run, in the first run's order.
    figures: Vec<(&'a str, &'a str, Vec<f64>)>,
    p99: Vec<f64>,
}

fn aggregate<'a>(group: &[&'a Run]) -> Vec<Aggregate<'a>> {
    let mut aggregates: Vec<Aggregate<'a>> = Vec::new();
    for run in group {
        let label = configuration(&run.label);
        let index = match aggregates.iter().position(|a| a.label == label) {
            Some(index) => index,
            None => {
                aggregates.push(Aggregate {
                    label,
                    peer: run.peer,
                    runs: 0,
                    figures: run
                        .figures
                        .iter()
                        .map(|f| (f.name.as_str(), f.unit.as_str(), Vec::new()))
                        .collect(),
                    p99: Vec::new(),
                });
                aggregates.len() - 1
            }
        };
        let entry = &mut aggregates[index];
        entry.runs += 1;
        for (name, _, values) in &mut entry.figures {
            if let Some(f) = run.figures.iter().find(|f| f.name == *name) {
                values.push(f.value);
            }
        }
        if let Some(main) = run.latencies.first().filter(|s| s.summary.count > 0) {
            entry.p99.push(main.summary.p99_ms);
        }
    }
    aggregates
}

/// The median of `values` and their range; `None` when there are none.
fn median(values: &[f64]) -> Option<(f64, f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (first, last) = (*sorted.first()?, *sorted.last()?);
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    };
    Some((median, first, last))
}

fn spread(values: &[f64]) -> String {
    match median(values) {
        Some((m, lo, hi)) if values.len() > 1 => {
            format!("{} [{} – {}]", number(m), number(lo), number(hi))
        }
        Some((m, _, _)) => number(m),
        None => "—".into(),
    }
}

/// Per configuration, the median of its repetitions with their range, then the ratio
/// of Switchboard's medians to each peer's with the same knobs.
fn medians(md: &mut String, aggregates: &[Aggregate]) {
    // Every figure any configuration has, in the order they first appear.
    let mut columns: Vec<(&str, &str)> = Vec::new();
    for (name, unit, _) in aggregates.iter().flat_map(|a| &a.figures) {
        if !columns.iter().any(|(n, _)| n == name) {
            columns.push((name, unit));
        }
    }
    let _ = write!(
        md,
        "\nMedian of the repetitions [lowest – highest]:\n\n| Configuration | runs |"
    );
    for (name, unit) in &columns {
        let _ = write!(md, " {name} ({unit}) |");
    }
    let _ = writeln!(
        md,
        " main p99 (ms) |\n|{}",
        "---|".repeat(columns.len() + 3)
    );
    for a in aggregates {
        let _ = write!(md, "| {} | {} |", a.label, a.runs);
        for (name, _) in &columns {
            let values = a
                .figures
                .iter()
                .find(|(n, _, _)| n == name)
                .map_or(&[][..], |(_, _, v)| v.as_slice());
            let _ = write!(md, " {} |", spread(values));
        }
        let _ = writeln!(md, " {} |", spread(&a.p99));
    }
    let mut header = false;
    for us in aggregates.iter().filter(|a| a.peer == Peer::Switchboard) {
        for peer in aggregates
            .iter()
            .filter(|p| p.peer != Peer::Switchboard && variant(p.label) == variant(us.label))
        {
            if !header {
                let _ = writeln!(
                    md,
                    "\n| Ratio of medians | headline figure | main p99 |\n|---|---|---|"
                );
                header = true;
            }
            let of = |a: &Aggregate| {
                a.figures
                    .first()
                    .and_then(|(_, _, v)| median(v))
                    .map(|m| m.0)
            };
            let head = match (of(us), of(peer), us.figures.first()) {
                (Some(a), Some(b), Some((name, _, _))) if b != 0.0 => {
                    format!("{:.2}× ({name})", a / b)
                }
                _ => "—".into(),
            };
            let p99 = match (median(&us.p99), median(&peer.p99)) {
                (Some(a), Some(b)) if b.0 > 0.0 => format!("{:.2}×", a.0 / b.0),
                _ => "—".into(),
            };
            let _ = writeln!(md, "| {} / {} | {head} | {p99} |", us.label, peer.label);
        }
    }
}

/// The knobs a label names beyond the system, e.g. `5k` in `switchboard-sqlite-5k` and
/// `socketio-5k`: only runs with the same variant are compared.
fn variant(label: &str) -> &str {
    [
        "switchboard-sqlite",
        "switchboard-postgres",
        "switchboard",
        "socketio",
        "bare",
    ]
    .iter()
    .find_map(|system| configuration(label).strip_prefix(system))
    .unwrap_or(label)
    .trim_start_matches('-')
}

/// "Switchboard / peer" on the headline figure (>1 is better for throughput) and on the
/// main p99 (<1 is better), for runs with the same knobs.
fn ratios(md: &mut String, group: &[&Run]) {
    let pairs: Vec<(&Run, &Run)> = group
        .iter()
        .filter(|r| r.peer == Peer::Switchboard)
        .flat_map(|us| {
            group
                .iter()
                .filter(move |p| {
                    p.peer != Peer::Switchboard && variant(&p.label) == variant(&us.label)
                })
                .map(move |p| (*us, *p))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n| Ratio | headline figure | main p99 |\n|---|---|---|"
    );
    for (us, peer) in pairs {
        let head = match (us.figures.first(), peer.figures.first()) {
            (Some(a), Some(b)) if b.value != 0.0 => {
                format!("{:.2}× ({})", a.value / b.value, a.name)
            }
            _ => "—".into(),
        };
        let p99 = match (us.latencies.first(), peer.latencies.first()) {
            (Some(a), Some(b)) if b.summary.p99_ms > 0.0 => {
                format!("{:.2}×", a.summary.p99_ms / b.summary.p99_ms)
            }
            _ => "—".into(),
        };
        let _ = writeln!(md, "| {} / {} | {head} | {p99} |", us.label, peer.label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_compared_only_with_runs_of_the_same_knobs() {
        assert_eq!(variant("switchboard-sqlite-5k"), "5k");
        assert_eq!(variant("socketio-5k"), "5k");
        assert_eq!(variant("switchboard-postgres-redis"), "redis");
        assert_eq!(variant("socketio-redis"), "redis");
        assert_eq!(variant("switchboard-sqlite"), "");
        assert_eq!(variant("bare"), "");
        assert_eq!(variant("switchboard-postgres-16t#3"), "16t");
    }

    #[test]
    fn repetitions_report_their_median_and_range() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some((2.5, 1.0, 4.0)));
        assert_eq!(median(&[]), None);
        assert_eq!(configuration("socketio-16t#2"), "socketio-16t");
        assert_eq!(configuration("socketio-16t"), "socketio-16t");
    }
}
