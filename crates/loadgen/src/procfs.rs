//! CPU time and memory of a process, read from Linux `/proc`.

use std::fs;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

/// User + system CPU time a process has used so far (all its threads, reaped children not
/// included), from `/proc/PID/stat` fields 14 and 15, in clock ticks turned into time.
pub fn cpu_time(pid: Pid) -> Result<Duration> {
    let stat = read_stat(&pid.path())?;
    Ok(ticks_to_duration(stat.ticks, clock_ticks_per_second()))
}

/// CPU time PostgreSQL has spent for database `dbname` so far: the backends serving it,
/// and the processes the whole cluster shares (the postmaster, checkpointer, background
/// and WAL writers, …), all children of `postmaster`. Backends of other databases (other
/// users of a shared server) are left out, and so are processes that have exited, so a
/// window measured this way must keep its connections open from start to end.
pub fn postgres_cpu(postmaster: u32, dbname: &str) -> Result<Duration> {
    let mut ticks = read_stat(&postmaster.to_string())?.ticks;
    for (pid, stat) in all_processes() {
        if stat.ppid != postmaster {
            continue;
        }
        let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let title = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if postgres_process_counts(&title, dbname) {
            ticks += stat.ticks;
        }
    }
    Ok(ticks_to_duration(ticks, clock_ticks_per_second()))
}

/// Whether a postmaster child, by its process title, works for `dbname` or for the whole
/// cluster. Titles: `postgres: [CLUSTER: ]USER DB HOST(PORT) STATE` for a backend
/// (`[local]` on a Unix socket), `postgres: [CLUSTER: ]autovacuum worker DB`, and
/// `postgres: [CLUSTER: ]walwriter` and the like for shared processes.
fn postgres_process_counts(title: &str, dbname: &str) -> bool {
    let Some(rest) = title.trim().strip_prefix("postgres: ") else {
        return false;
    };
    let mut words: Vec<&str> = rest.split_ascii_whitespace().collect();
    if words.first().is_some_and(|w| w.ends_with(':')) {
        words.remove(0); // cluster_name
    }
    match words[..] {
        ["autovacuum", "worker", db, ..] => db == dbname,
        [_user, db, host, ..] if host.ends_with(')') || host == "[local]" => db == dbname,
        _ => true,
    }
}

/// The PostgreSQL postmaster of this machine: the one process named `postgres` whose parent
/// is not. `None` when there is none, or several clusters.
pub fn find_postmaster() -> Option<u32> {
    let procs = all_processes();
    let comm_of = |pid: u32| {
        procs
            .iter()
            .find(|(p, _)| *p == pid)
            .map(|(_, s)| s.comm.as_str())
    };
    let mut roots = procs
        .iter()
        .filter(|(_, s)| s.comm == "postgres" && comm_of(s.ppid) != Some("postgres"))
        .map(|(pid, _)| *pid);
    match (roots.next(), roots.next()) {
        (Some(pid), None) => Some(pid),
        _ => None,
    }
}

/// Every process we can read, with its stat line; processes that exit while we scan are
/// skipped.
fn all_processes() -> Vec<(u32, Stat)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let name = e.ok()?.file_name();
        let pid: u32 = name.to_str()?.parse().ok()?;
        Some((pid, read_stat(&pid.to_string()).ok()?))
    })
    .collect()
}

fn read_stat(pid: &str) -> Result<Stat> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat(&text).with_context(|| format!("parsing {path}"))
}

/// `VmHWM` (peak resident set) and `VmRSS` (current) from `/proc/PID/status`, in KiB.
pub fn memory_kib(pid: Pid) -> Result<Memory> {
    let path = format!("/proc/{}/status", pid.path());
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status(&text).with_context(|| format!("parsing {path}"))
}

/// Resets the peak resident set (`VmHWM`) of a process to its current RSS, by writing `5`
/// to `/proc/PID/clear_refs` (Linux 4.0+), so a later read gives the peak since now.
pub fn reset_peak_rss(pid: u32) -> Result<()> {
    let path = format!("/proc/{pid}/clear_refs");
    fs::write(&path, "5").with_context(|| format!("writing {path}"))
}

/// CPU time the whole machine spent busy (all cores, everything but idle and iowait), from
/// the first line of `/proc/stat`. Minus the server's and our own, it shows how much else
/// ran during a phase (a build, another benchmark) and so how far to trust the figures.
pub fn machine_busy() -> Result<Duration> {
    let text = fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let ticks = parse_machine_busy(&text).context("parsing /proc/stat")?;
    Ok(ticks_to_duration(ticks, clock_ticks_per_second()))
}

/// `cpu  user nice system idle iowait irq softirq steal guest guest_nice`: guest time is
/// already inside user and nice, so it is not added again.
fn parse_machine_busy(text: &str) -> Result<u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| anyhow!("no `cpu ` line"))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if v.len() < 5 {
        bail!("too few fields on the `cpu ` line");
    }
    let (idle, iowait) = (v[3], v[4]);
    Ok(v.iter().sum::<u64>() - idle - iowait)
}

/// The type of the file system holding `path` (`ext4`, `tmpfs`, …), from `/proc/mounts`:
/// SQLite's fsyncs cost nothing on tmpfs, so the refresh figures depend on it.
pub fn fs_type(path: &std::path::Path) -> Option<String> {
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    let path = path.to_str()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_ascii_whitespace();
            let (_dev, dir, kind) = (f.next()?, f.next()?, f.next()?);
            let inside = path == dir
                || dir == "/"
                || path
                    .strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'));
            inside.then(|| (dir.len(), kind.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, kind)| kind)
}

/// A process to read: ourselves or a child.
#[derive(Debug, Clone, Copy)]
pub enum Pid {
    OwnProcess,
    Other(u32),
}

impl Pid {
    fn path(self) -> String {
        match self {
            Pid::OwnProcess => "self".to_owned(),
            Pid::Other(pid) => pid.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub hwm_kib: u64,
    pub rss_kib: u64,
    /// Threads of the process (`Threads:`), a hint of where memory went (one malloc arena
    /// per thread that allocates).
    pub threads: u64,
}

/// `sysconf(_SC_CLK_TCK)`, read from the ELF auxiliary vector (no `unsafe` libc call).
pub fn clock_ticks_per_second() -> u64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100,
        hz => hz,
    }
}

fn ticks_to_duration(ticks: u64, hz: u64) -> Duration {
    Duration::from_secs(ticks / hz) + Duration::from_nanos((ticks % hz) * 1_000_000_000 / hz)
}

/// The fields of `/proc/PID/stat` we read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stat {
    comm: String,
    ppid: u32,
    /// utime + stime, clock ticks.
    ticks: u64,
    /// cutime + cstime: the reaped children's, clock ticks.
    child_ticks: u64,
}

/// The command name (field 2) is in parentheses and may hold spaces or parentheses itself,
/// so the other fields are counted from the last `)`.
fn parse_stat(text: &str) -> Result<Stat> {
    let (open, close) = text
        .find('(')
        .zip(text.rfind(')'))
        .filter(|(o, c)| o < c)
        .ok_or_else(|| anyhow!("no `(command name)`"))?;
    // After the name: field 3 (state) is index 0, so ppid (4) is index 1, utime (14) 11,
    // stime (15) 12, cutime (16) 13 and cstime (17) 14.
    let fields: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .ok_or_else(|| anyhow!("too few fields"))?
            .parse::<u64>()
            .with_context(|| format!("field {}", i + 3))
    };
    Ok(Stat {
        comm: text[open + 1..close].to_owned(),
        ppid: u32::try_from(field(1)?)?,
        ticks: field(11)? + field(12)?,
        child_ticks: field(13)? + field(14)?,
    })
}

fn parse_status(text: &str) -> Result<Memory> {
    let value = |key: &str| -> Result<&str> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .ok_or_else(|| anyhow!("no {key} line"))
    };
    let kib = |key: &str| -> Result<u64> {
        let number = value(key)?
            .strip_suffix("kB")
            .ok_or_else(|| anyhow!("{key} not in kB"))?;
        number.trim().parse().with_context(|| key.to_owned())
    };
    Ok(Memory {
        hwm_kib: kib("VmHWM:")?,
        rss_kib: kib("VmRSS:")?,
        threads: value("Threads:")?.parse().context("Threads:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_counted_from_the_last_parenthesis() {
        let line = "4242 (tes sera) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 75 30 12 20 0 3 0 100 12345678 900 18446744073709551615";
        assert_eq!(
            parse_stat(line).ok(),
            Some(Stat {
                comm: "tes sera) (x)".to_owned(),
                ppid: 1,
                ticks: 325,
                child_ticks: 42,
            })
        );
        assert!(parse_stat("4242 (short) S 1").is_err());
    }

    #[test]
    fn postgres_processes_by_title() {
        let ours = "tessera_x";
        for (title, counts) in [
            (
                "postgres: 15/main: postgres tessera_x 127.0.0.1(5432) idle",
                true,
            ),
            (
                "postgres: 15/main: postgres tessera_y 127.0.0.1(5433) UPDATE",
                false,
            ),
            ("postgres: alice tessera_x [local] idle", true),
            ("postgres: 15/main: walwriter ", true),
            ("postgres: checkpointer", true),
            ("postgres: 15/main: autovacuum worker tessera_y", false),
            ("postgres: 15/main: autovacuum worker tessera_x", true),
            ("/usr/lib/postgresql/15/bin/postgres -D /var/lib/x", false),
        ] {
            assert_eq!(postgres_process_counts(title, ours), counts, "{title}");
        }
    }

    #[test]
    fn status_memory_lines() {
        let text =
            "Name:\ttessera\nVmPeak:\t  99999 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   16384 kB\nThreads:\t5\n";
        assert_eq!(
            parse_status(text).ok(),
            Some(Memory {
                hwm_kib: 20480,
                rss_kib: 16384,
                threads: 5,
            })
        );
        assert!(parse_status("Name:\tx\n").is_err());
    }

    #[test]
    fn machine_busy_leaves_out_idle_and_iowait() {
        let text = "cpu  100 5 50 1000 20 1 2 3 7 0\ncpu0 50 2 25 500 10 1 1 1 0 0\n";
        assert_eq!(parse_machine_busy(text).ok(), Some(161));
        assert!(parse_machine_busy("intr 1 2\n").is_err());
        assert!(machine_busy().is_ok());
    }

    #[test]
    fn fs_type_of_root_and_proc() {
        assert!(fs_type(std::path::Path::new("/")).is_some());
        assert_eq!(
            fs_type(std::path::Path::new("/proc/self")).as_deref(),
            Some("proc")
        );
    }

    #[test]
    fn ticks_convert_exactly() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_to_duration(3, 1000), Duration::from_millis(3));
    }

    #[test]
    fn reads_our_own_process() -> Result<()> {
        let hz = clock_ticks_per_second();
        assert!((10..=10_000).contains(&hz), "CLK_TCK {hz}");
        // Burn a little CPU so the counter moves past zero ticks.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(60) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let cpu = cpu_time(Pid::OwnProcess)?;
        assert!(cpu >= Duration::from_millis(10), "cpu {cpu:?}");
        let mem = memory_kib(Pid::OwnProcess)?;
        assert!(mem.rss_kib > 0 && mem.hwm_kib >= mem.rss_kib, "{mem:?}");
        let own = Pid::Other(std::process::id());
        assert!(memory_kib(own)?.hwm_kib > 0);
        Ok(())
    }
}
