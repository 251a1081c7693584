//! Process and host readings for heartbeats (sysinfo).

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::protocol::Metrics;

/// Samples this process's CPU and memory and the host's. Keep one and call
/// [`sample`](Sampler::sample) at each heartbeat: CPU use is measured between
/// two samples. One sample refreshes only this process, not the whole
/// process table, so it costs well under a millisecond.
pub struct Sampler {
    system: Option<System>,
    pid: Option<Pid>,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler").field("pid", &self.pid).finish()
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Sampler {
    /// A sampler for the current process.
    pub fn new() -> Self {
        Self {
            system: System::new().ok(),
            pid: sysinfo::get_current_pid().ok(),
        }
    }

    /// The readings now (zeros where the platform does not tell).
    pub fn sample(&mut self) -> Metrics {
        let Some(system) = self.system.as_mut() else {
            return Metrics::default();
        };
        system.refresh_cpu_usage();
        system.refresh_memory();
        let mut metrics = Metrics {
            cpu_percent: system.global_cpu_usage(),
            process_cpu_percent: 0.0,
            process_memory_bytes: 0,
            memory_used_bytes: system.used_memory(),
            memory_total_bytes: system.total_memory(),
        };
        if let Some(pid) = self.pid {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
            if let Some(process) = system.process(pid) {
                metrics.process_cpu_percent = process.cpu_usage();
                metrics.process_memory_bytes = process.memory();
            }
        }
        // a NaN would travel as `null` and get the whole batch refused
        let finite = |v: f32| if v.is_finite() { v.max(0.0) } else { 0.0 };
        metrics.cpu_percent = finite(metrics.cpu_percent);
        metrics.process_cpu_percent = finite(metrics.process_cpu_percent);
        metrics
    }
}
