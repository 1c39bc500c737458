//! Latency distributions: HdrHistogram in microseconds, summarised in milliseconds.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Up to a minute at three significant digits; anything slower is recorded as a minute.
const MAX_US: u64 = 60_000_000;

/// The quantiles a summary keeps for plots (the last one is the maximum).
const SPECTRUM: [f64; 11] = [
    0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0,
];

pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> crate::Result<Self> {
        Histogram::new_with_bounds(1, MAX_US, 3)
            .map(Self)
            .map_err(|e| e.to_string())
    }

    pub fn record_us(&mut self, micros: u64) {
        self.0.saturating_record(micros.clamp(1, MAX_US));
    }

    pub fn add(&mut self, other: &Latencies) -> crate::Result<()> {
        self.0.add(&other.0).map_err(|e| e.to_string())
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn p99_ms(&self) -> f64 {
        ms(self.0.value_at_quantile(0.99))
    }

    pub fn summary(&self) -> Summary {
        let h = &self.0;
        Summary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            spectrum: if h.is_empty() {
                Vec::new()
            } else {
                SPECTRUM
                    .iter()
                    .map(|&q| (q, ms(h.value_at_quantile(q))))
                    .collect()
            },
        }
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// A distribution as reports keep it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// (quantile, ms) points for plots.
    pub spectrum: Vec<(f64, f64)>,
}

impl Summary {
    pub fn line(&self) -> String {
        format!(
            "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms ({} samples)",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms, self.count
        )
    }
}
