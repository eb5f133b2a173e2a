//! `credlist_build_info` and the process metrics of `/proc/self`, for
//! `/metrics`. Depends on nothing of the daemon's, so the metrics can use it.

/// `credlist_build_info` and the process metrics read from `/proc/self`
/// (the names Prometheus client libraries use), appended to `/metrics`.
pub fn render_process(s: &mut String) {
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "# HELP credlist_build_info The running binary: release, commit, snapshot format.\n\
         # TYPE credlist_build_info gauge\n\
         credlist_build_info{{version=\"{}\",commit=\"{}\",snapshot_format=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        env!("CREDLIST_COMMIT"),
        crate::snapshot::format::VERSION
    );
    let p = ProcessStats::read();
    let mut gauge = |name: &str, kind: &str, help: &str, v: Option<f64>| {
        if let Some(v) = v {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
    };
    gauge(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        p.rss_bytes,
    );
    gauge(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        p.vsize_bytes,
    );
    gauge(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent in seconds.",
        p.cpu_seconds,
    );
    gauge(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        p.open_fds,
    );
    gauge(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        p.max_fds,
    );
    gauge(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch in seconds.",
        p.start_time_seconds,
    );
}

/// What `/proc/self` says of this process; `None` where it cannot be read.
#[derive(Debug, Default)]
pub struct ProcessStats {
    pub rss_bytes: Option<f64>,
    pub vsize_bytes: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    pub fn read() -> ProcessStats {
        let (ticks, page) = (
            crate::os::clock_ticks_per_second() as f64,
            crate::os::page_size() as f64,
        );
        let mut p = ProcessStats::default();
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the command name, which is in parentheses and
            // may hold spaces: state is field 3, utime 14, stime 15,
            // starttime 22, vsize 23, rss 24.
            if let Some((_, rest)) = stat.rsplit_once(')') {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok());
                if ticks > 0.0 {
                    p.cpu_seconds = num(14).zip(num(15)).map(|(u, s)| (u + s) / ticks);
                    p.start_time_seconds = num(22)
                        .zip(boot_time())
                        .map(|(start, boot)| boot + start / ticks);
                }
                p.vsize_bytes = num(23);
                p.rss_bytes = num(24).map(|pages| pages * page);
            }
        }
        p.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as f64);
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit into `lim`.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            p.max_fds = Some(lim.rlim_cur as f64);
        }
        p
    }
}

/// Boot time from `/proc/stat` (`btime`), seconds since the epoch.
fn boot_time() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_stats_are_read() {
        let p = ProcessStats::read();
        assert!(p.rss_bytes.is_some_and(|r| r > 0.0));
        assert!(p.open_fds.is_some_and(|n| n >= 3.0));
        assert!(p.cpu_seconds.is_some());
    }
}
