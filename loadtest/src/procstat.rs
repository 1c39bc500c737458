//! CPU time and memory of a process, read from `/proc` (Linux).
//!
//! Reported for the server and for the generator itself, so a saturated generator is
//! visible next to the figures it produced.

use serde::{Deserialize, Serialize};

/// Linux exposes `/proc/<pid>/stat` times in USER_HZ ticks, which is 100 on every
/// architecture the kernel reports to user space with.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Usage {
    pub role: String,
    pub pid: u32,
    /// CPU seconds (user + system) spent during the run.
    pub cpu_seconds: f64,
    /// CPU seconds per wall second during the run (2.0 = both cores busy).
    pub cpu_cores: f64,
    /// Resident memory at the end of the run.
    pub rss_mb: f64,
    /// The most the process ever had resident (VmHWM).
    pub peak_rss_mb: f64,
}

/// A process watched over one run.
pub struct Probe {
    role: String,
    pid: u32,
    cpu_at_start: f64,
    started: std::time::Instant,
}

/// Every process with one command name (a database server's backends), watched over
/// one run as one: CPU of the live ones plus what their parent collected from the
/// ones that ended. Memory is not summed: backends share most of theirs.
pub struct GroupProbe {
    role: String,
    name: String,
    cpu_at_start: f64,
    started: std::time::Instant,
}

impl GroupProbe {
    pub fn start(role: &str, name: &str) -> Option<Self> {
        Some(Self {
            role: role.to_owned(),
            name: name.to_owned(),
            cpu_at_start: group_cpu_seconds(name)?,
            started: std::time::Instant::now(),
        })
    }

    pub fn finish(&self) -> Option<Usage> {
        let cpu = group_cpu_seconds(&self.name)? - self.cpu_at_start;
        let wall = self.started.elapsed().as_secs_f64().max(1e-3);
        Some(Usage {
            role: self.role.clone(),
            pid: 0,
            cpu_seconds: cpu,
            cpu_cores: cpu / wall,
            rss_mb: 0.0,
            peak_rss_mb: 0.0,
        })
    }
}

/// CPU seconds of every live process named `name`, with the CPU of the children they
/// reaped; `None` when there is none.
fn group_cpu_seconds(name: &str) -> Option<f64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(comm) = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'))
        else {
            continue;
        };
        if comm.0 != name {
            continue;
        }
        let fields: Vec<&str> = comm.1.split_whitespace().collect();
        // After `)`: utime, stime, cutime, cstime are the 12th to 15th fields.
        let ticks: f64 = fields
            .get(11..15)
            .into_iter()
            .flatten()
            .filter_map(|f| f.parse::<f64>().ok())
            .sum();
        *total.get_or_insert(0.0) += ticks / TICKS_PER_SECOND;
    }
    total
}

impl Probe {
    /// `None` when the process cannot be read (not Linux, gone, another user's).
    pub fn start(role: &str, pid: u32) -> Option<Self> {
        Some(Self {
            role: role.to_owned(),
            pid,
            cpu_at_start: cpu_seconds(pid)?,
            started: std::time::Instant::now(),
        })
    }

    pub fn finish(&self) -> Option<Usage> {
        let cpu = cpu_seconds(self.pid)? - self.cpu_at_start;
        let wall = self.started.elapsed().as_secs_f64().max(1e-3);
        Some(Usage {
            role: self.role.clone(),
            pid: self.pid,
            cpu_seconds: cpu,
            cpu_cores: cpu / wall,
            rss_mb: status_kb(self.pid, "VmRSS:")? as f64 / 1024.0,
            peak_rss_mb: status_kb(self.pid, "VmHWM:")? as f64 / 1024.0,
        })
    }
}

/// Resident memory of `pid` in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS:")
}

fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after `)`.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_can_read_its_own_cpu_and_memory() {
        let probe = Probe::start("generator", std::process::id()).unwrap();
        let mut x = 0_u64;
        for i in 0..2_000_000_u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert_ne!(x, 1);
        let usage = probe.finish().unwrap();
        assert!(usage.rss_mb > 0.0 && usage.peak_rss_mb >= usage.rss_mb);
        assert!(usage.cpu_seconds >= 0.0);
    }
}
