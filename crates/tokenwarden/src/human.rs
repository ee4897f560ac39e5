//! Durations as people read them in messages: "1 day", "15 min", "2 h", "1 h 30 min", "45 s",
//! "1.5 s", "250 ms". At most two units, the larger first; the rest is dropped. (Configuration
//! values and `--since` are written and parsed in humantime's syntax, `15m`, `1day`: this is
//! only for sentences.) Times as RFC 3339, with the times that format cannot show named
//! instead of panicking ([`timestamp`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// `d` for a sentence: `1 day`, `2 days 3 h`, `15 min`, `4 min 10 s`, `2 h`, `45 s`, `1.5 s`,
/// `250 ms`, `0 s`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return match d.subsec_millis() {
            0 => "0 s".to_string(),
            ms => format!("{ms} ms"),
        };
    }
    if secs < MINUTE {
        let tenths = d.subsec_millis() / 100;
        return if tenths == 0 {
            format!("{secs} s")
        } else {
            format!("{secs}.{tenths} s")
        };
    }
    let unit = |n: u64, name: &str| match name {
        "day" if n != 1 => format!("{n} days"),
        _ => format!("{n} {name}"),
    };
    let (big, big_name, small, small_name) = if secs >= DAY {
        (secs / DAY, "day", secs % DAY / HOUR, "h")
    } else if secs >= HOUR {
        (secs / HOUR, "h", secs % HOUR / MINUTE, "min")
    } else {
        (secs / MINUTE, "min", secs % MINUTE, "s")
    };
    if small == 0 {
        unit(big, big_name)
    } else {
        format!("{} {}", unit(big, big_name), unit(small, small_name))
    }
}

/// `t` as RFC 3339 to the second (`2025-01-02T03:04:05Z`). A time that format cannot show (before
/// 1970 or after 9999: a damaged record, a provider's absurd value) is named as such: humantime's
/// formatter would panic on it.
pub fn timestamp(t: SystemTime) -> String {
    if crate::clock::in_range(t) {
        humantime::format_rfc3339_seconds(t).to_string()
    } else {
        out_of_range(t)
    }
}

/// [`timestamp`] with milliseconds (event times).
pub fn timestamp_millis(t: SystemTime) -> String {
    if crate::clock::in_range(t) {
        humantime::format_rfc3339_millis(t).to_string()
    } else {
        out_of_range(t)
    }
}

fn out_of_range(t: SystemTime) -> String {
    if t < UNIX_EPOCH {
        "a time before 1970 (out of range)".to_string()
    } else {
        "a time after the year 9999 (out of range)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::{duration, timestamp, timestamp_millis};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn times_out_of_range_are_named_not_a_panic() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        assert_eq!(timestamp(t), "2023-11-14T22:13:20Z");
        assert_eq!(timestamp_millis(t), "2023-11-14T22:13:20.250Z");
        assert_eq!(timestamp(crate::clock::latest()), "9999-12-31T23:59:59Z");
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert!(timestamp(far).contains("after the year 9999"));
        assert!(timestamp_millis(far).contains("out of range"));
        let before: SystemTime = UNIX_EPOCH - Duration::from_secs(5);
        assert!(timestamp(before).contains("before 1970"));
    }

    #[test]
    fn reads_as_words() {
        let s = Duration::from_secs;
        for (d, want) in [
            (Duration::ZERO, "0 s"),
            (Duration::from_millis(250), "250 ms"),
            (Duration::from_millis(1500), "1.5 s"),
            (s(1), "1 s"),
            (s(45), "45 s"),
            (s(60), "1 min"),
            (s(250), "4 min 10 s"),
            (s(15 * 60), "15 min"),
            (s(3599), "59 min 59 s"),
            (s(3600), "1 h"),
            (s(2 * 3600), "2 h"),
            (s(5400), "1 h 30 min"),
            (s(5401), "1 h 30 min"),
            (s(86_400), "1 day"),
            (s(90_000), "1 day 1 h"),
            (s(7 * 86_400), "7 days"),
            (s(2 * 86_400 + 3 * 3600 + 59), "2 days 3 h"),
        ] {
            assert_eq!(duration(d), want, "{d:?}");
        }
    }
}
