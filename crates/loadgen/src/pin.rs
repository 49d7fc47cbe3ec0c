//! CPU pinning of `--phases compare`: every server on one core, the load generator on
//! another. A pinned server's req/s is what one core of it can do, its runtime sizes
//! itself to that core (as under `taskset -c` or a one-CPU container), and neither side
//! steals the other's CPU.

use std::io;
use std::process::{Child, Command};

use clap::ValueEnum;
use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

/// `--pin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PinMode {
    /// Pin when the process may use at least two CPUs.
    Auto,
    /// Leave the scheduler free.
    Off,
}

/// What pinning the run got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pinning {
    /// The servers run on `server`, the load generator on `load`; `allowed` CPUs were
    /// free to choose from.
    Pinned {
        server: usize,
        load: usize,
        allowed: usize,
    },
    /// Nothing pinned, and why.
    Unpinned(String),
}

impl Pinning {
    /// Pins the calling thread to the load generator's CPU. Call it before the runtime
    /// starts: threads inherit the mask of the thread that creates them.
    pub fn apply(mode: PinMode) -> Pinning {
        if mode == PinMode::Off {
            return Pinning::Unpinned("--pin off".to_owned());
        }
        let allowed = match sched_getaffinity(None) {
            Ok(set) => cpus_of(&set),
            Err(e) => return Pinning::Unpinned(format!("sched_getaffinity failed: {e}")),
        };
        let (server, load) = match allowed[..] {
            [server, load, ..] => (server, load),
            _ => {
                return Pinning::Unpinned(format!(
                    "this process may use {} CPU{} ({}): nothing to pin apart",
                    allowed.len(),
                    if allowed.len() == 1 { "" } else { "s" },
                    cpu_list(&allowed)
                ))
            }
        };
        match sched_setaffinity(None, &one_cpu(load)) {
            Ok(()) => Pinning::Pinned {
                server,
                load,
                allowed: allowed.len(),
            },
            Err(e) => Pinning::Unpinned(format!("sched_setaffinity to CPU {load} refused: {e}")),
        }
    }

    /// The CPU servers are started on, when pinned.
    pub fn server_cpu(&self) -> Option<usize> {
        match *self {
            Pinning::Pinned { server, .. } => Some(server),
            Pinning::Unpinned(_) => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Pinning::Pinned {
                server,
                load,
                allowed,
            } => format!(
                "pinned: servers on CPU {server}, load generator on CPU {load}, of the {allowed} this process may use (sched_setaffinity)"
            ),
            Pinning::Unpinned(why) => format!(
                "NOT pinned ({why}): servers and load generator share the {} CPUs",
                std::thread::available_parallelism().map_or(0, |n| n.get())
            ),
        }
    }
}

/// Spawns `cmd`, on `cpu` when given, from a short-lived thread pinned there: a child
/// starts with the CPU mask of the thread that forks it, so its runtime sees one CPU from
/// its first instruction.
pub fn spawn_on(cmd: &mut Command, cpu: Option<usize>) -> io::Result<Child> {
    let Some(cpu) = cpu else {
        return cmd.spawn();
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            sched_setaffinity(None, &one_cpu(cpu))?;
            cmd.spawn()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the spawning thread panicked")))
    })
}

/// `Cpus_allowed_list` of a process (`0`, `0-1`), from `/proc/PID/status`.
pub fn cpus_allowed(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_owned())
}

fn one_cpu(cpu: usize) -> CpuSet {
    let mut set = CpuSet::new();
    set.set(cpu);
    set
}

fn cpus_of(set: &CpuSet) -> Vec<usize> {
    (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect()
}

fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_pins_nothing() {
        let p = Pinning::apply(PinMode::Off);
        assert_eq!(p.server_cpu(), None);
        assert!(p.describe().starts_with("NOT pinned (--pin off)"));
    }

    /// A child spawned on a CPU starts with that CPU alone in its mask; without a CPU it
    /// keeps ours.
    #[test]
    fn child_starts_on_the_cpu_asked() -> anyhow::Result<()> {
        let ours = cpus_of(&sched_getaffinity(None)?);
        let cpu = *ours.last().ok_or_else(|| anyhow::anyhow!("no CPU"))?;
        let mut cmd = Command::new("sleep");
        cmd.arg("5");
        let mut child = spawn_on(&mut cmd, Some(cpu))?;
        let seen = cpus_allowed(child.id());
        child.kill()?;
        child.wait()?;
        assert_eq!(seen, Some(cpu.to_string()));
        // The spawning thread was a scoped one: this thread's mask is unchanged.
        assert_eq!(cpus_of(&sched_getaffinity(None)?), ours);
        Ok(())
    }
}
