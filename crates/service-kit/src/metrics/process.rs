//! The standard `process_*` metrics (as every Prometheus client library
//! exports them), read from `/proc/self` at each scrape and written as text
//! next to the recorder's: the recorder's counters are integers, and CPU
//! seconds must not be rounded to whole seconds. Elsewhere than Linux there
//! is no `/proc`, and the families are simply absent.

use std::fmt::Write;

/// Linux's `USER_HZ`: the unit of the CPU times in `/proc/<pid>/stat`, 100 on
/// every architecture Linux supports (the kernel converts to it).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// The process families in the text exposition format.
pub(super) fn exposition() -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(value) = value {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n"
            );
        }
    };
    let stat = read("/proc/self/stat").as_deref().and_then(Stat::parse);
    family(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        stat.as_ref()
            .map(|s| (s.utime + s.stime) as f64 / CLOCK_TICKS_PER_SECOND),
    );
    family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        read("/proc/self/status")
            .as_deref()
            .and_then(|s| status_kb(s, "VmRSS:"))
            .map(|kb| (kb * 1024) as f64),
    );
    family(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        stat.as_ref().map(|s| s.vsize as f64),
    );
    family(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        stat.as_ref().map(|s| s.threads as f64),
    );
    family(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        stat.as_ref()
            .zip(read("/proc/stat").as_deref().and_then(boot_time))
            .map(|(s, boot)| boot as f64 + s.starttime as f64 / CLOCK_TICKS_PER_SECOND),
    );
    family(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as f64),
    );
    family(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        read("/proc/self/limits")
            .as_deref()
            .and_then(max_open_files)
            .map(|m| m as f64),
    );
    out
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[derive(Debug, PartialEq)]
struct Stat {
    utime: u64,
    stime: u64,
    threads: u64,
    starttime: u64,
    vsize: u64,
}

impl Stat {
    /// `/proc/self/stat`: the fields after the command name, which is in
    /// parentheses and may itself contain spaces and parentheses.
    fn parse(text: &str) -> Option<Self> {
        let after_name = &text[text.rfind(')')? + 1..];
        // Field 3 (state) is the first after the name; proc(5) numbers from 1.
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Self {
            utime: field(14)?,
            stime: field(15)?,
            threads: field(20)?,
            starttime: field(22)?,
            vsize: field(23)?,
        })
    }
}

fn status_kb(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_a_name_with_spaces_and_parentheses() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    250 50 0 0 20 0 7 0 123456 987654321 2000 18446744073709551615";
        assert_eq!(
            Stat::parse(line),
            Some(Stat {
                utime: 250,
                stime: 50,
                threads: 7,
                starttime: 123456,
                vsize: 987654321
            })
        );
        assert_eq!(Stat::parse("garbage"), None);
    }

    #[test]
    fn limits_status_and_boot_time() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            status_kb("Name:\tx\nVmRSS:\t  5120 kB\n", "VmRSS:"),
            Some(5120)
        );
        assert_eq!(
            boot_time("cpu 1 2 3\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_every_family_with_help_and_type() {
        let text = exposition();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_threads",
            "process_start_time_seconds",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}: {text}");
            assert!(text.contains(&format!("\n{name} ")), "{name}: {text}");
        }
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
    }
}
